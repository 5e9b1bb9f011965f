"""Child processes a test starts, killed after the test whatever became of it (tests/conftest.py),
so a test that fails while its child runs on does not leave it running for the rest of the suite."""

from __future__ import annotations

import subprocess

_started: list[subprocess.Popen] = []


def spawn(*args, **kwargs) -> subprocess.Popen:
    """``subprocess.Popen(*args, **kwargs)``, killed after the test if still running."""
    proc = subprocess.Popen(*args, **kwargs)
    _started.append(proc)
    return proc


def reap() -> list[subprocess.Popen]:
    """Kill every child still running (after a test); the ones that were."""
    left = [proc for proc in _started if proc.poll() is None]
    for proc in left:
        proc.kill()
    for proc in left:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
    _started.clear()
    return left
