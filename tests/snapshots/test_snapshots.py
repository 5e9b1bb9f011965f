"""SVG snapshots of fixed states (the trainer paused at a known epoch, so nothing moves).

Update with `pytest tests/snapshots --snapshot-update`, only after looking at the new SVGs.
"""

import pytest
from helpers import settle, until

from walker_tui.config import Config
from walker_tui.ui.app import make_app

SIZES = [(120, 40), (80, 24)]


def paused_app():
    return make_app(Config(device="cpu"), start_paused=True)


def stepped(epochs: int, race: bool = False):
    async def run_before(pilot) -> None:
        app = pilot.app
        await until(pilot, lambda: app.view.histories)
        if race:
            await pilot.press("s")
            await until(pilot, lambda: "stepper 0.3" in app.view.histories)
        for _ in range(epochs):
            await pilot.press("n")
        await until(pilot, lambda: app.view.latest_epoch == epochs)
        await settle(pilot, app)

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=["120x40", "80x24"])
def test_paused_at_epoch_6(snap_compare, size):
    assert snap_compare(paused_app(), terminal_size=size, run_before=stepped(6))


@pytest.mark.parametrize("size", SIZES, ids=["120x40", "80x24"])
def test_race_at_epoch_14(snap_compare, size):
    assert snap_compare(paused_app(), terminal_size=size, run_before=stepped(14, race=True))


@pytest.mark.parametrize("size", SIZES, ids=["120x40", "80x24"])
def test_help_screen(snap_compare, size):
    async def run_before(pilot) -> None:
        await stepped(3)(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.3)

    assert snap_compare(paused_app(), terminal_size=size, run_before=run_before)
