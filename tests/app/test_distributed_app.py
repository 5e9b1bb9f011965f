"""The app under torchrun, in a real pseudo-terminal: rank 0 draws and takes the keys, rank 1
follows; a pause longer than the collective timeout ends nothing; q ends every rank."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time

ANSI = re.compile(rb"\x1b(\[[0-9;?<>=$]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][A-Z0-9]|[=>])")


def descendants(root: int) -> list[int]:
    """Every process below ``root``, from /proc (children first found, then theirs)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, todo = [], [root]
    while todo:
        parent_pid = todo.pop()
        kids = [p for p, parent in parents.items() if parent == parent_pid]
        found += kids
        todo += kids
    return found


class Terminal:
    """A process in a 120x40 pseudo-terminal; ``text`` is everything it wrote, escapes removed."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: torchrun, its ranks inherit the terminal
            os.environ.update(env)
            os.execvp(argv[0], argv)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.raw = b""

    def read(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    self.raw += os.read(self.fd, 65536)
                except OSError:
                    return

    @property
    def text(self) -> str:
        return ANSI.sub(b"", self.raw).decode("utf-8", "replace")

    def wait_for(self, words: str, timeout: float = 60.0, start: int = 0) -> None:
        """Until ``words`` shows in what the process wrote from byte ``start`` on."""
        end = time.monotonic() + timeout
        while words not in ANSI.sub(b"", self.raw[start:]).decode("utf-8", "replace"):
            if time.monotonic() > end:
                raise AssertionError(f"no {words!r} on screen: {self.text[-2000:]}")
            self.read(0.2)

    def press(self, key: bytes) -> int:
        """Press a key; where the output stood then (for wait_for's start)."""
        at = len(self.raw)
        os.write(self.fd, key)
        return at

    def exit_code(self, timeout: float) -> int | None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.read(0.2)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
        return None

    def kill(self) -> None:
        """torchrun and every rank (the ranks run in sessions of their own: found in /proc)."""
        for pid in [*descendants(self.pid), self.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        os.close(self.fd)


def test_the_app_under_torchrun_pauses_past_the_timeout_steps_races_and_quits():
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
            "-m", "walker_tui", "--", "--device", "cpu", "--paused", "--n", "400"]  # fmt: skip
    env = {"TERM": "xterm-256color", "OMP_NUM_THREADS": "1", "WALKER_TUI_TIMEOUT": "4"}
    term = Terminal(argv, env)
    try:
        term.wait_for("paused", timeout=90)
        term.wait_for("CPU × 2 ranks", timeout=30)
        term.read(10)  # paused for longer than the 4 s a collective may wait
        term.wait_for("epoch 1", start=term.press(b"n"))
        term.wait_for("epoch 2", start=term.press(b"n"))
        at = term.press(b"s")  # the race: rank 1 adds the stepper too, or the next step hangs
        term.wait_for("stepper 0.3", start=at)
        term.wait_for("epoch 3", start=term.press(b"n"))
        ranks = descendants(term.pid)
        assert len(ranks) >= 2
        term.press(b"q")
        code = term.exit_code(60)
        assert code == 0, (code, term.text[-3000:])
        assert "error" not in term.text.split("walker-tui")[-1].lower()
        time.sleep(1)
        left = [p for p in ranks if running(p)]
        assert not left, f"ranks still running after quit: {left}"
    finally:
        term.kill()


def running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
