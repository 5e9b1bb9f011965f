"""A model in the app: the digits demo and a user's file, with their held-out figures."""

from __future__ import annotations

from pathlib import Path

from helpers import panel_text, status_text, until

from walker_tui.config import Config
from walker_tui.ui.app import make_app
from walker_tui.ui.widgets.candidates import CandidateBars
from walker_tui.ui.widgets.surface_plot import SurfacePlot

USER = str(Path(__file__).parent.parent / "unit" / "user_problems.py")


async def test_the_digits_demo_shows_held_out_figures_and_races_adam():
    cfg = Config(
        problem="digits",
        device="cpu",
        pace=0,
        epochs=4,
        min_loss=None,
        lrs_spec="log:0.01:10:13",
        batch_size=64,
        race=[("adam", 0.003)],
    )
    app = make_app(cfg, start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        await pilot.press("s")  # race Adam
        await pilot.press("space")
        await until(pilot, lambda: app.view.done, timeout=60)
        status = status_text(app)
        assert "held-out accuracy" in status and "held-out loss" in status, status
        assert "batches of 64, loss on all the data" in status
        assert "adam 0.003" in status  # the racer's outcome, and its held-out accuracy
        adam = app.view.histories["adam 0.003"].latest.metrics["held-out accuracy"]
        assert f"({100 * adam:.1f}% held out)" in status
        bars = panel_text(app.query_one(CandidateBars))
        assert "epoch 4 last batch" in bars, bars
        surface = panel_text(app.query_one(SurfacePlot))
        # the plane's axes, or, while the title has no room for it, the view's note in their place
        note = app.view.surface.note if app.view.surface is not None else ""
        if note:
            assert "refining" in surface or "points" in surface
        else:
            assert "slice direction 1" in surface
        assert "no surface" not in surface
        walker = app.view.histories["walker"].latest
        assert walker.metrics["held-out accuracy"] > 0.8


async def test_an_error_in_a_users_model_mid_run_names_their_line():
    cfg = Config(problem=f"{USER}:fails_later", device="cpu", pace=0, epochs=200, min_loss=0)
    app = make_app(cfg)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: bool(app.view.error), timeout=30)
        assert "late failure in my forward" in app.view.error
        assert "user_problems.py:89 in forward" in app.view.error
        assert "error" in status_text(app)


async def test_a_model_that_cannot_be_vmapped_says_so():
    cfg = Config(problem=f"{USER}:batchnorm", device="cpu", pace=0, epochs=3, min_loss=0)
    app = make_app(cfg)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.latest_epoch >= 1)
        assert "candidates scored one at a time" in status_text(app)
