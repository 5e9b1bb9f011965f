"""Threads that must not slow the training down.

On a CPU the training's torch ops run on a team of OpenMP threads, one a core. Any other work
that takes a core, even briefly, stalls the whole team at its next barrier (measured:
docs/design/performance.md, "The app beside the training"). So the threads that only serve the
screen (the painter, the surface) lower their own scheduling priority when they start: the
kernel then runs them in the cores' idle time, and any thread they start (a torch op's OpenMP
team) inherits it.
"""

from __future__ import annotations

import os
import threading

BACKGROUND_NICE = 19  # the lowest priority: the screen's threads get what the training leaves


def run_in_background() -> bool:
    """Lower the calling thread's priority to BACKGROUND_NICE (Linux: a thread's nice value is
    its own). True if it took; False where the platform has no per-thread priority or the call
    was refused (the thread then runs as before)."""
    native = getattr(threading, "get_native_id", None)
    if native is None or not hasattr(os, "setpriority"):
        return False
    try:
        tid = native()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        if current < BACKGROUND_NICE:
            os.setpriority(os.PRIO_PROCESS, tid, BACKGROUND_NICE)
        return os.getpriority(os.PRIO_PROCESS, tid) == BACKGROUND_NICE
    except OSError:
        return False
