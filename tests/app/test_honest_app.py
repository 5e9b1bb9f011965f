"""Pilot: the app shows what happened: epoch 1 is the start with no winner, a run that stops at
the epoch limit does not read as a finish, and a singular problem still opens."""

from helpers import drawn, panel_text, status_text, until

from walker_tui.config import Config
from walker_tui.ui.app import make_app
from walker_tui.ui.widgets import WINNER_GLYPH
from walker_tui.ui.widgets.candidates import CandidateBars
from walker_tui.ui.widgets.surface_plot import SurfacePlot


async def test_epoch_1_is_the_start_with_no_winner():
    app = make_app(Config(device="cpu"), start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        await pilot.press("n")
        await until(pilot, lambda: app.view.latest_epoch == 1)
        await drawn(pilot)
        bars, surface = app.query_one(CandidateBars), app.query_one(SurfacePlot)
        assert WINNER_GLYPH not in panel_text(bars)
        assert surface.frame.win is None  # no winner drawn on the surface
        assert "lr start" in status_text(app)
        await pilot.press("n")
        await until(pilot, lambda: app.view.latest_epoch == 2)
        await drawn(pilot)
        assert WINNER_GLYPH in panel_text(bars)
        assert "lr 0.50" in status_text(app)


async def test_an_epoch_limit_does_not_read_as_a_finish():
    app = make_app(Config(device="cpu", pace=0, epochs=5, race=[("momentum", 0.1)]))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.done)
        text = status_text(app)
        assert app.view.state == "limit"
        assert "epoch limit, target not reached" in text
        assert "after 5 epochs, target not reached" in text
        assert "finished" not in text


async def test_one_point_opens_and_runs():
    app = make_app(Config(device="cpu", pace=0, n=1, min_loss=0, epochs=30))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.done)
        assert not app.view.error and app.view.latest_epoch == 30
