"""Pilot: `s` races without throwing the walk away (issue 11, item 5): racers join from the same
start and catch up to the walker's epoch, `s` again drops them and the walk stays; `q` quits at
once while a large surface is being computed."""

import time

from helpers import drawn, status_text, until

from walker_tui.config import Config
from walker_tui.ui.app import make_app
from walker_tui.viewmodel.driver import NO_STEP


async def test_s_mid_run_keeps_the_walk_and_racers_catch_up():
    app = make_app(Config(device="cpu"), start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        await pilot.press("s")  # paused at epoch 0: the race is on at once
        await until(pilot, lambda: "stepper 0.3" in app.view.histories)
        await pilot.press("s")
        await until(pilot, lambda: list(app.view.histories) == ["walker"])
        for _ in range(6):
            await pilot.press("n")
        await until(pilot, lambda: app.view.latest_epoch == 6)
        walk = [app.view.histories["walker"].at(e).loss for e in range(1, 7)]
        for _ in range(3):
            await pilot.press("left")
        await until(pilot, lambda: app.view.shown_epoch == 3)
        await pilot.press("s")  # at epoch 3 of 6: the stepper catches up to 6
        stepper = lambda: app.view.histories.get("stepper 0.3")  # noqa: E731
        await until(pilot, lambda: stepper() and stepper().latest and stepper().latest.epoch == 6)
        # the view stayed where it was
        assert app.view.latest_epoch == 6 and app.view.shown_epoch == 3
        assert [app.view.histories["walker"].at(e).loss for e in range(1, 7)] == walk
        assert app.view.state == "paused"
        await pilot.press("s")  # dropped: the walk stays
        await until(pilot, lambda: list(app.view.histories) == ["walker"])
        assert app.view.latest_epoch == 6
        assert [app.view.histories["walker"].at(e).loss for e in range(1, 7)] == walk


async def test_q_quits_at_once_while_a_large_surface_computes():
    # an mlp surface at 10^5 points takes minutes in full; the first view comes in a moment
    cfg = Config(device="cpu", problem="mlp", n=100_000, lrs_spec="log:0.01:10:13", pace=0)
    app = make_app(cfg)
    async with app.run_test(size=(120, 40)) as pilot:
        # (a model's first window, before its first step, is path only: driver.NO_STEP)
        surface = lambda: app.view.surface  # noqa: E731
        await until(pilot, lambda: surface() is not None and surface().note != NO_STEP, timeout=60)
        assert surface().note.startswith("coarse")  # the full grid is under way
        t0 = time.monotonic()
        await pilot.press("q")
    assert app.return_code == 0
    # not minutes (the grid's); seconds at most on a busy machine (1.2-2.1 s seen beside other
    # test runs on 2 cores; benchmarks/surface.py times it in a real terminal)
    assert time.monotonic() - t0 < 5.0
    end = time.monotonic() + 5.0
    while app.live_loops and time.monotonic() < end:
        time.sleep(0.02)
    assert app.live_loops == 0
    assert not app.driver.surveyor._thread.is_alive()


async def test_past_the_walkers_end_its_figures_name_its_epoch():
    # (it read "epoch 14 │ lr 0.70 │ loss 0.094 │ the walker's, at its epoch 11": the racer's
    # epoch beside the walker's rate and loss)
    app = make_app(Config(device="cpu"), start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        await pilot.press("s")
        await until(pilot, lambda: "stepper 0.3" in app.view.histories)
        for _ in range(14):
            await pilot.press("n")
        await until(pilot, lambda: app.view.latest_epoch == 14)
        await drawn(pilot)
        first = status_text(app).splitlines()[0]
        assert "epoch 14 │ walker's last epoch 11: lr 0.70 │ loss 0.094" in first, first
        await pilot.press("home")
        await until(pilot, lambda: app.view.shown_epoch == 1)
        await drawn(pilot)
        assert "walker's last" not in status_text(app)  # its own epoch: nothing to say
