"""Pilot tests: every key does what the help screen says."""

import time

from helpers import drawn, settle, status_text, until

from walker_tui.config import Config
from walker_tui.ui.app import make_app
from walker_tui.ui.help import HelpScreen


def cfg(**kw) -> Config:
    c = Config(device="cpu")
    for k, v in kw.items():
        setattr(c, k, v)
    return c


async def test_space_pauses_and_the_epoch_freezes():
    app = make_app(cfg(pace=0, epochs=10**9, min_loss=0))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.latest_epoch > 20)
        await pilot.press("space")
        await settle(pilot, app)
        frozen = app.view.latest_epoch
        assert app.view.state == "paused" and "paused" in status_text(app)
        await pilot.pause(0.5)
        assert app.view.latest_epoch == frozen
        await pilot.press("space")
        await until(pilot, lambda: app.view.latest_epoch > frozen)
        assert app.view.state == "running"


async def test_n_steps_exactly_one_epoch():
    app = make_app(cfg(), start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        await pilot.pause(0.3)
        assert app.view.latest_epoch == 0
        for expected in (1, 2, 3):
            await pilot.press("n")
            await until(pilot, lambda e=expected: app.view.latest_epoch >= e)
            await settle(pilot, app)
            assert app.view.latest_epoch == expected
            assert f"epoch {expected} " in status_text(app)


async def test_n_while_running_pauses_first():
    app = make_app(cfg(pace=2, epochs=10**9, min_loss=0))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.latest_epoch >= 1)
        await pilot.press("n")
        await settle(pilot, app)
        assert app.view.state == "paused"
        before = app.view.latest_epoch
        await pilot.press("n")
        await settle(pilot, app)
        assert app.view.latest_epoch == before + 1


async def test_left_and_right_move_through_recorded_epochs_without_training():
    app = make_app(cfg(), start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        for _ in range(5):
            await pilot.press("n")
        await until(pilot, lambda: app.view.latest_epoch == 5)
        await pilot.press("left", "left")
        await settle(pilot, app)
        assert app.view.shown_epoch == 3 and app.view.latest_epoch == 5
        assert "epoch 3/5" in status_text(app)
        # the candidates panel shows epoch 3's winner: the notebook's 0.70 at epoch 4 is not it
        assert app.view.histories["walker"].at(3).lr == 0.9
        assert "lr 0.90" in status_text(app)
        await pilot.press("right")
        await drawn(pilot)
        assert app.view.shown_epoch == 4 and "lr 0.70" in status_text(app)
        await pilot.press("left", "left", "left", "left", "left", "left")
        await drawn(pilot)
        assert app.view.shown_epoch == 1  # clamped at the first epoch
        assert app.view.latest_epoch == 5


async def test_r_reseeds_and_restarts():
    app = make_app(cfg(), start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        await pilot.press("n", "n")
        await until(pilot, lambda: app.view.latest_epoch == 2)
        start = app.view.start_w
        await pilot.press("r")
        await until(pilot, lambda: app.view.histories and app.view.start_w != start)
        assert app.view.seed == 18 and app.view.latest_epoch == 0
        assert "seed 18" in status_text(app)
        await pilot.press("n")
        await until(pilot, lambda: app.view.latest_epoch == 1)


async def test_s_races_a_stepper_and_s_again_drops_it():
    app = make_app(cfg(pace=0))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.done)
        assert list(app.view.histories) == ["walker"]
        await pilot.press("s")
        await until(pilot, lambda: "stepper 0.3" in app.view.histories and app.view.done)
        assert app.view.outcomes["stepper 0.3"].epochs == 30
        assert "walker 0.094 in 11 epochs" in app.view.summary
        assert "stepper 0.3 0.097 in 30 epochs" in app.view.summary
        assert "stepper 0.3" in status_text(app)
        await pilot.press("s")
        await until(pilot, lambda: list(app.view.histories) == ["walker"] and app.view.done)
        assert "stepper" not in app.view.summary


async def test_pace_keys():
    app = make_app(cfg(), start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.view.pace_text == "4/s"
        await pilot.press("plus", "plus")
        assert app.view.pace_text == "16/s"
        await pilot.press("minus", "minus", "minus")
        assert app.view.pace_text == "2/s"
        for _ in range(20):
            await pilot.press("plus")
        assert app.view.pace_text == "max"


async def test_help_screen_lists_every_key():
    app = make_app(cfg(), start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        assert isinstance(app.screen, HelpScreen)
        text = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
        for key in ("space", "n", "left / right", "r", "s", "+ / -", "?", "q"):
            assert f"{key} " in text
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, HelpScreen)


async def test_q_quits_with_status_0_and_no_training_loop_left():
    app = make_app(cfg(pace=0, epochs=10**9, min_loss=0))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.latest_epoch > 10)
        assert app.live_loops == 1
        await pilot.press("r")  # a reseed replaces the loop: still one
        await until(pilot, lambda: app.view.latest_epoch > 10 and app.view.seed == 18)
        assert app.live_loops == 1
        await pilot.press("q")
    assert app.return_code == 0
    end = time.monotonic() + 5
    while app.live_loops and time.monotonic() < end:
        time.sleep(0.02)
    assert app.live_loops == 0


async def test_x_switches_the_loss_curve_axis():
    app = make_app(cfg(pace=0), start_paused=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.done)
        await pilot.press("s")
        await until(pilot, lambda: "stepper 0.3" in app.view.histories and app.view.done)
        curve = app.query_one("#loss")
        seen = []
        for axis in ("evaluations", "seconds", "epoch"):
            await pilot.press("x")
            assert app.view.x_axis == axis
            words = {"seconds": "training time"}.get(axis, axis)  # (compute time, not wall)
            await until(pilot, lambda w=words: f"by {w}" in curve.text)
            text = curve.text
            seen.append(text)
        assert len(set(seen)) == 3  # three different pictures
        # a fair race: the walker spends 9 evaluations an epoch, the stepper 1
        cols = app.view.histories["walker"].curve.columns()
        assert cols[4][-1] == 11 * 9
        assert app.view.histories["stepper 0.3"].curve.columns()[4][-1] == 30


async def test_edge_warning_when_the_winner_keeps_to_the_grid_edge():
    app = make_app(Config(device="cpu", pace=0, lrs_spec="0.01,0.02,0.03"))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.edge_warned)
        await pilot.pause(0.2)
        text = status_text(app)  # on the status line's last row, not a toast over it
        assert "the largest rate 0.03 won epochs" in text and "--grid adaptive" in text
        assert not app._notifications
