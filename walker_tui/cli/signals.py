"""SIGTERM (a preemption, ``docker stop``, ``kill``) and SIGHUP (an SSH session that drops) end
``run``, ``bench`` and the app as Ctrl+C does: the recording ends cleanly, one line names the
signal and the epoch, and the exit status is 128 + the signal's number.

Only the command line installs these handlers (:func:`ending_on_signals`), never the library:
``WalkerSGD`` leaves a user's own script's signals alone. No torch here: the handlers are in
place before torch loads.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

# the signals that end a run as Ctrl+C does, beside SIGINT (SIGHUP does not exist on Windows)
ENDING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
_WORDS = {"SIGINT": "Interrupted", "SIGTERM": "Terminated", "SIGHUP": "Hung up"}


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where Ctrl+C raises KeyboardInterrupt, so every
    ``except KeyboardInterrupt`` that ends a run cleanly ends it cleanly for these too."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def word(signum: int) -> str:
    """'Terminated', 'Hung up' or 'Interrupted': how a line about the signal begins."""
    return _WORDS.get(signal.Signals(signum).name, signal.Signals(signum).name)


def ending(stop: BaseException) -> tuple[str, int]:
    """(the line's first word, the exit status) of a KeyboardInterrupt or a :class:`Stopped`."""
    signum = getattr(stop, "signum", signal.SIGINT)
    return word(signum), 128 + int(signum)


def _install(handler: Callable[[int, Any], None]) -> dict[int, Any]:
    """Install ``handler`` for SIGTERM and SIGHUP, unless one is ignored on purpose (``nohup``
    ignores SIGHUP: it stays ignored); the handlers it replaced."""
    if threading.current_thread() is not threading.main_thread():
        return {}  # (signals go to the main thread only: called from elsewhere, leave them)
    before = {}
    for signum in ENDING:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            before[signum] = signal.signal(signum, handler)
    return before


def _restore(before: dict[int, Any]) -> None:
    for signum, handler in before.items():
        signal.signal(signum, handler)


@contextlib.contextmanager
def ending_on_signals(handler: Callable[[int, Any], None] | None = None) -> Iterator[None]:
    """While inside: SIGTERM and SIGHUP raise :class:`Stopped` (or call ``handler``); the
    handlers before are back on the way out (``main()`` called in-process leaves none)."""

    def stop(signum: int, frame: Any) -> None:
        raise Stopped(signum)

    before = _install(handler or stop)
    try:
        yield
    finally:
        _restore(before)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Ignore SIGINT, SIGTERM and SIGHUP while a run that is already ending saves its file (a
    second signal would cut the .npz's assembly short); the handlers before are back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, *ENDING)}
    try:
        yield
    finally:
        _restore(before)


def say(line: str) -> None:
    """A last line to stderr; a terminal that hung up (SIGHUP) takes no more writes, which
    changes nothing about how the run ends."""
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass
