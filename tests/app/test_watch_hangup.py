"""walker-tui watch ends on SIGTERM and SIGHUP even after its terminal has gone: a watch
left drawing into a closed terminal (tmux kill-session) survived both and needed kill -9. The
training app, which went after 10 s, goes within seconds too."""

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


@pytest.mark.skipif(os.name != "posix", reason="signals and a pseudo-terminal")
def test_the_app_ends_within_seconds_of_a_hangup_after_its_terminal_is_gone():
    """The training app drawing flat out into a terminal that closed under it: SIGHUP (a dropped
    SSH session) ends it within seconds. (Its teardown did not stall here as the watch's did, even
    after 20 s of drawing into the closed terminal; where it does, the app now goes after
    HUNG_UP_SECONDS, not LEAVE_SECONDS.)"""
    master, slave = os.openpty()
    app = subprocess.Popen(
        [sys.executable, "-m", "walker_tui", "--pace", "0", "--epochs", "100000000"]
        + ["--min-loss", "0", "--device", "cpu"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        env={**os.environ, **ENV},
    )
    os.close(slave)
    try:
        shown, deadline = b"", time.monotonic() + 90
        while b"epoch" not in shown:  # the app is up and walking
            assert app.poll() is None and time.monotonic() < deadline, shown[-2000:]
            shown += read_for(master, 0.5)
        read_for(master, 1.0)
        os.close(master)
        master = -1
        time.sleep(5.0)
        assert app.poll() is None
        sent = time.monotonic()
        app.send_signal(signal.SIGHUP)
        try:
            code = app.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pytest.fail("the app still running 15 s after SIGHUP")
        assert code == 128 + signal.SIGHUP
        assert time.monotonic() - sent < 5.0
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
        if master >= 0:
            os.close(master)
