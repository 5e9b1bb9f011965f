"""Waiting on the app's worker without sleeping blindly; a process in a real pseudo-terminal."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import time
from collections.abc import Callable

from walker_tui.ui.app import WalkerApp


def frames(app: WalkerApp) -> int:
    """How many frames the app has begun to draw (counted from the first call)."""
    if "redraw" not in vars(app):
        count = [0]
        redraw = app.redraw

        def counted() -> None:
            redraw()
            count[0] += 1

        app.redraw = counted  # type: ignore[method-assign]
        app.frames_begun = count  # type: ignore[attr-defined]
    return app.frames_begun[0]  # type: ignore[attr-defined]


async def drawn(pilot, timeout: float = 10.0) -> None:
    """Wait until the screen shows at least what the app held when called: everything drawn and
    built (``settled``), or, while it trains at full pace and never settles, a whole frame begun
    after the call (the next frame begins only once the painter has built the last). Fails the
    test after ``timeout`` seconds rather than going on against a stale screen."""
    app = pilot.app
    start = frames(app)
    end = time.monotonic() + timeout
    while not (app.settled or frames(app) >= start + 2):
        if time.monotonic() > end:
            raise AssertionError(
                f"the app drew no new frame in {timeout:g} s (state {app.view.state!r}, "
                f"{frames(app) - start} frames begun, dirty {app.dirty})"
            )
        await pilot.pause(0.02)
    await pilot.pause(0.05)


async def until(pilot, cond: Callable[[], bool], timeout: float = 20.0) -> None:
    """Let the app run until ``cond()`` holds (fails the test after ``timeout`` seconds), then
    until the screen shows it."""
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.02)
    await drawn(pilot)


async def settle(pilot, app: WalkerApp, quiet: float = 0.4) -> None:
    """Wait until no new epochs arrive for ``quiet`` seconds."""
    last = app.view.latest_epoch
    stable_since = time.monotonic()
    while time.monotonic() - stable_since < quiet:
        await asyncio.sleep(0.05)
        await pilot.pause()
        if app.view.latest_epoch != last:
            last, stable_since = app.view.latest_epoch, time.monotonic()
    await drawn(pilot)


def status_text(app) -> str:
    """What the status line shows (the app's, or watch's)."""
    from walker_tui.ui.widgets.status import ItemLines

    return str(app.query_one("#status", ItemLines).render())


def panel_text(widget) -> str:
    """What a plot panel shows on screen (its strips), as text."""
    return "\n".join(strip.text for strip in widget._strips)


# --- a process in a real pseudo-terminal (torchrun's app, signals) ---

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
        if self.fd < 0:  # hung up: nothing more to read
            time.sleep(seconds)
            return
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
        if self.fd >= 0:
            os.close(self.fd)

    def hang_up(self) -> None:
        """Close the terminal's master side, as a dropped SSH session does: the kernel sends
        SIGHUP to the process in it."""
        os.close(self.fd)
        self.fd = -1


def running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
