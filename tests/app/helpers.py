"""Waiting on the app's worker without sleeping blindly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from walker_tui.app import WalkerApp


async def drawn(pilot, timeout: float = 10.0) -> None:
    """Wait until the app has drawn what it holds and the painter has built it (frames are
    paced, so this can take a while on a busy machine)."""
    app = pilot.app
    end = time.monotonic() + timeout
    while not app.settled and time.monotonic() < end:
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
    last = app.latest_epoch
    stable_since = time.monotonic()
    while time.monotonic() - stable_since < quiet:
        await asyncio.sleep(0.05)
        await pilot.pause()
        if app.latest_epoch != last:
            last, stable_since = app.latest_epoch, time.monotonic()
    await drawn(pilot)
