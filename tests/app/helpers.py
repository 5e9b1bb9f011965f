"""Waiting on the app's worker without sleeping blindly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from walker_tui.app import WalkerApp


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
                f"the app drew no new frame in {timeout:g} s (state {app.state!r}, "
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
    last = app.latest_epoch
    stable_since = time.monotonic()
    while time.monotonic() - stable_since < quiet:
        await asyncio.sleep(0.05)
        await pilot.pause()
        if app.latest_epoch != last:
            last, stable_since = app.latest_epoch, time.monotonic()
    await drawn(pilot)


def status_text(app) -> str:
    """What the status line shows."""
    from walker_tui.widgets.status import StatusLine

    return str(app.query_one(StatusLine).render())


def panel_text(widget) -> str:
    """What a plot panel shows on screen (its strips), as text."""
    return "\n".join(strip.text for strip in widget._strips)
