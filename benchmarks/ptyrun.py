"""Run walker-tui in a real pseudo-terminal for the benchmarks: start it, and stop it."""

from __future__ import annotations

import fcntl
import os
import pty
import shutil
import struct
import termios
import time

EXE = shutil.which("walker-tui") or "walker-tui"


def spawn(args: list[str], cols: int = 120, rows: int = 40) -> tuple[int, int]:
    """Start `walker-tui ARGS` in a cols x rows pseudo-terminal: (pid, the terminal's fd)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm-256color"
        os.execvp(EXE, [EXE, *args])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    return pid, fd


def stop(pid: int, fd: int) -> None:
    """Press q, then make sure the process is gone."""
    try:
        os.write(fd, b"q")
    except OSError:
        pass
    time.sleep(0.5)
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)
