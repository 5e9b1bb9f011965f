"""walker-tui watch ends on SIGTERM and SIGHUP even after its terminal has gone: a watch
left drawing into a closed terminal (tmux kill-session) survived both and needed kill -9."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

import pytest

ENV = {"TERM": "xterm-256color", "OMP_NUM_THREADS": "1", "COLUMNS": "100", "LINES": "30"}


def read_for(fd: int, seconds: float) -> bytes:
    """What the process in the terminal wrote over ``seconds`` (the terminal keeps draining)."""
    got, end = b"", time.monotonic() + seconds
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                got += os.read(fd, 65536)
            except OSError:
                break
    return got


@pytest.mark.skipif(os.name != "posix", reason="signals and a pseudo-terminal")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_watch_ends_on_a_signal_after_its_terminal_is_gone(tmp_path, signum):
    """The watch draws a growing recording; its terminal closes under it (no SIGHUP yet: the
    terminal is not its controlling one, as a signal that comes late); textual's output thread
    dies on the first failed write and its next writes block the app for good. A signal then
    still ends it, within a few seconds, with 128 + the signal."""
    path = tmp_path / "g.csv"
    run = subprocess.Popen(
        [sys.executable, "-m", "walker_tui", "run", "--min-loss", "0", "--epochs", "100000000"]
        + ["--quiet", "--device", "cpu", "--record", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    watch = None
    master, slave = os.openpty()
    try:
        deadline = time.monotonic() + 60
        while not path.exists():
            assert run.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        watch = subprocess.Popen(
            [sys.executable, "-m", "walker_tui", "watch", str(path)],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,  # (no controlling terminal: closing it sends no SIGHUP)
            env={**os.environ, **ENV},
        )
        os.close(slave)
        slave = -1
        shown, deadline = b"", time.monotonic() + 90
        while b"growing" not in shown:  # the app is up and following the file
            assert watch.poll() is None and time.monotonic() < deadline, shown[-2000:]
            shown += read_for(master, 0.5)
        read_for(master, 1.0)
        os.close(master)  # the terminal goes
        master = -1
        time.sleep(5.0)  # the app draws on into it (a redraw or more a second), and stalls
        assert watch.poll() is None  # (nothing ended it yet: no signal came)
        sent = time.monotonic()
        watch.send_signal(signum)
        try:
            code = watch.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"watch still running 10 s after {signal.Signals(signum).name}")
        assert code == 128 + signum
        assert time.monotonic() - sent < 5.0
    finally:
        for proc in (watch, run):
            if proc is not None:
                proc.kill()
                proc.wait()
        for fd in (master, slave):
            if fd >= 0:
                os.close(fd)
