"""Pilot: the app tells the truth in every state (issue 19): the adaptive grid in the header,
a warning while the loss climbs, travel after a racer outlasts the walker, feedback for every
key at epoch 0, notes that belong to their run, a replay's footer, the smallest terminal."""

from __future__ import annotations

import pytest
from helpers import drawn, panel_text, status_text, until

from walker_tui.cli import main
from walker_tui.config import Config
from walker_tui.ui.app import make_app
from walker_tui.ui.help import HelpScreen
from walker_tui.ui.widgets.candidates import CandidateBars
from walker_tui.ui.widgets.loss_curve import LossCurve
from walker_tui.viewmodel.frames import BarsFrame
from walker_tui.viewmodel.replay import load_replay


def footer_text(app) -> str:
    from textual.widgets import Footer

    footer = app.screen.query_one(Footer)
    return " ".join(str(w.render()) for w in footer.query("FooterKey"))


async def test_the_adaptive_grid_shows_in_the_header_with_its_range():
    app = make_app(Config(device="cpu", problem="rosenbrock", grid="adaptive"), start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        assert "adaptive grid from 0.1:1:0.1" in app.sub_title
        for expected in (1, 2, 3):
            await pilot.press("n")
            await until(pilot, lambda e=expected: app.view.latest_epoch == e)
        await drawn(pilot)
        rates = [r for r in app.view.histories["walker"].latest.rates if r > 0]
        assert f", now {min(rates):.2g}"[:8] in app.sub_title or ", now " in app.sub_title
        assert "now 0.10 to 0.90" not in app.sub_title  # it moved off the starting grid


async def test_a_walk_that_stays_says_so_in_the_candidates_title():
    app = make_app(Config(device="cpu", problem="rosenbrock", grid="adaptive"), start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        for expected in (1, 2):
            await pilot.press("n")
            await until(pilot, lambda e=expected: app.view.latest_epoch == e)
        await drawn(pilot)
        rec = app.view.histories["walker"].latest
        assert not rec.moved  # rosenbrock from its start: every rate of 0.1-0.9 overshoots
        assert "lr stay" in status_text(app)
        bars = panel_text(app.query_one(CandidateBars))
        assert "stayed put" in bars and "best" in bars and "★" not in bars


async def test_a_climbing_loss_is_warned_before_it_diverges():
    # stepped by hand: at a pace, a loaded machine could run it to the end between two looks
    app = make_app(Config(device="cpu", lrs_spec="5,10,20", pace=8), start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(60):
            if app.view.rise_warned or app.view.done:
                break
            before = app.view.latest_epoch
            await pilot.press("n")
            await until(pilot, lambda b=before: app.view.latest_epoch > b, timeout=30)
        await until(pilot, lambda: app.view.rise_warned, timeout=10)
        assert not app.view.done and app.view.state == "paused"  # warned before it diverged
        text = status_text(app)
        assert "the loss rose every epoch from" in text and "lower --lrs" in text


async def test_a_diverged_run_keeps_the_state_lines_separators():
    """The state word "diverged" also stands in the outcome ("walker diverged at epoch N"): the
    state's line still reads as the state's (│ between its items), not as an outcome line."""
    app = make_app(Config(device="cpu", lrs_spec="5,10,20", pace=0, epochs=60))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.state == "diverged", timeout=60)
        await until(pilot, lambda: "walker diverged at epoch" in status_text(app), timeout=10)
        first = status_text(app).splitlines()[0]
        assert first.startswith("diverged │ epoch"), first


async def test_left_and_page_up_travel_after_a_racer_outlasts_the_walker():
    app = make_app(Config(device="cpu", pace=0))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.done)
        await pilot.press("s")
        await until(pilot, lambda: "stepper 0.3" in app.view.histories and app.view.done)
        assert app.view.latest_epoch == 30 and app.view.histories["walker"].latest.epoch == 11
        await pilot.press("left")
        await drawn(pilot)
        assert app.view.shown_epoch == 29
        assert app.query_one(LossCurve).frame.marker == 29  # the cursor too, not the walker's 11
        await pilot.press("pageup")
        await drawn(pilot)
        assert app.view.shown_epoch == 19
        await pilot.press("pageup")
        await drawn(pilot)
        assert app.view.shown_epoch == 9
        await pilot.press("end")
        await drawn(pilot)
        assert app.view.shown_epoch == 30


@pytest.mark.parametrize("key", ["left", "right", "home", "end", "pageup", "pagedown", "s"])
async def test_every_key_says_something_at_epoch_0(key):
    app = make_app(Config(device="cpu"), start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        await drawn(pilot)
        before = status_text(app)
        await pilot.press(key)
        await pilot.pause(0.1)
        after = status_text(app)
        assert after != before, f"{key} at epoch 0 said nothing"
        if key == "s":
            assert "stepper 0.3 will start with the walker" in after
            await pilot.press("s")
            await pilot.pause(0.1)
            assert "no racers" in status_text(app)
        else:
            assert "no epochs yet" in after


async def test_s_after_a_reseed_while_paused_says_so():
    app = make_app(Config(device="cpu"), start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        await pilot.press("r")
        await until(pilot, lambda: app.view.seed == 18 and app.view.histories)
        await pilot.press("s")
        await pilot.pause(0.1)
        assert "will start with the walker" in status_text(app) or "no racers" in status_text(app)


async def test_the_loss_panel_draws_no_made_up_axis_at_epoch_0():
    app = make_app(Config(device="cpu"), start_paused=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.view.histories)
        await drawn(pilot)
        text = panel_text(app.query_one(LossCurve))
        assert "no epoch yet" in text and "target" not in text
        await pilot.press("n")
        await until(pilot, lambda: app.view.latest_epoch == 1)
        await drawn(pilot)
        assert "start" in panel_text(app.query_one(CandidateBars))  # not blank at 80x24


@pytest.mark.parametrize("key,action", [("w", "save_record"), ("p", "screenshot")])
async def test_w_and_p_work_on_the_help_screen(key, action, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_app(Config(device="cpu", pace=0))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.done)
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        assert isinstance(app.screen, HelpScreen)
        await pilot.press(key)
        await pilot.pause(0.3)
        assert not isinstance(app.screen, HelpScreen)
        suffix = ".csv" if key == "w" else ".svg"
        assert list(tmp_path.glob(f"*{suffix}")), f"{key} on the help screen saved nothing"


async def test_a_saved_files_note_does_not_outlive_its_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_app(Config(device="cpu", pace=0))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.done)
        await pilot.press("w")
        await pilot.pause(0.1)
        assert "saved 11 epochs" in status_text(app)
        await pilot.press("r")
        await until(pilot, lambda: app.view.seed == 18 and app.view.histories)
        await drawn(pilot)
        assert "saved" not in status_text(app)


async def test_an_edge_warning_belongs_to_its_epochs():
    app = make_app(Config(device="cpu", pace=0, lrs_spec="0.01,0.02,0.03"))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.edge_warned and app.view.done)
        assert "the largest rate 0.03" in status_text(app)
        assert app.view.note_epoch == 100  # the winner kept to the edge to the end: still true
        app.view.note_epoch = 5  # as if the winner had left the edge after epoch 5
        app.show_status(look_up=True)
        assert "the largest rate 0.03" not in status_text(app)  # epoch 100 is far from 5
        app.view.view_epoch = 3
        app.show_status(look_up=True)
        assert "the largest rate 0.03" in status_text(app)  # near it again


async def test_a_replay_names_only_keys_that_work_there(tmp_path):
    recorded = tmp_path / "run.csv"
    assert main(["run", "--record", str(recorded), "--quiet", "--device", "cpu"]) == 0
    recording, cfg = load_replay(recorded)
    app = make_app(cfg, replay=recording)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.done)
        footer = footer_text(app)
        assert "reseed" not in footer and "race" not in footer and "quit" in footer
        await pilot.press("n")
        await pilot.pause(0.1)
        text = status_text(app)
        assert "r reseeds" not in text and "s races" not in text and "go back" in text
        await pilot.press("home")
        await drawn(pilot)
        await pilot.press("n")  # back in a finished replay, n goes one epoch on
        await drawn(pilot)
        assert app.view.shown_epoch == 2
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        help_text = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
        assert "reseed" not in help_text and "race the walker" not in help_text
        assert "pause / resume playing" in help_text


async def test_the_smallest_terminal_keeps_the_curve_state_help_and_quit_in_a_race():
    app = make_app(
        Config(
            device="cpu",
            pace=0,
            race=[("stepper", 0.3), ("momentum", 0.1), ("adam", 0.05), ("stepper", 0.7)],
        )
    )
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.press("s")
        await until(pilot, lambda: len(app.view.histories) == 5 and app.view.done, timeout=40)
        await drawn(pilot)
        status = app.query_one("#status")
        assert status.styles.height.value <= 4
        assert "target reached" in status_text(app) or "epoch limit" in status_text(app)
        assert "more" in status_text(app)  # the racers' outcomes counted, not cut
        curve = app.query_one(LossCurve)
        assert curve.size.height >= 7 and "⣿" in panel_text(curve) or "•" in panel_text(curve)
        await pilot.pause(0.1)
        keys = {str(w.render()): w.region for w in app.screen.query("FooterKey")}
        palette = [r for t, r in keys.items() if "palette" in t][0]
        for word in ("help", "quit"):
            region = [r for t, r in keys.items() if word in t][0]
            # on screen, whole, and left of the palette's key (the footer cuts from the right)
            assert region.width >= len(word) and region.right <= palette.x, (word, keys)


async def test_a_narrow_header_keeps_the_adaptive_grids_range():
    app = make_app(Config(device="cpu", problem="rosenbrock", grid="adaptive"), start_paused=True)
    async with app.run_test(size=(60, 20)) as pilot:
        await until(pilot, lambda: app.view.histories)
        for expected in (1, 2, 3):
            await pilot.press("n")
            await until(pilot, lambda e=expected: app.view.latest_epoch == e)
        await drawn(pilot)
        assert "adaptive 0." in app.sub_title and len(app.sub_title) <= 40


def test_an_adaptive_grid_of_two_rates_walks_to_the_target(capsys):
    """Both rates of a two-rate grid are edges: it widened every epoch to 1e-12 and stuck."""
    assert main(["run", "--grid", "adaptive", "--lrs", "0.1,0.2", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "Final loss" in out and "not reached" not in out


async def test_a_panel_works_in_any_app_and_posts_up_what_it_has_to_say():
    """Widgets called the app by name (self.app.painter, self.app.say): now the painter is
    handed down (or shared) and a click posts a message up, so a panel works in another App."""
    import numpy as np
    from textual.app import App

    from walker_tui.ui.widgets import Say

    heard: list[str] = []

    class Host(App):
        def compose(self):
            yield CandidateBars(id="bars")

        def on_say(self, msg: Say) -> None:
            heard.append(msg.text)

    host = Host()
    async with host.run_test(size=(60, 16)) as pilot:
        bars = host.query_one(CandidateBars)
        bars.show(BarsFrame([0.1, 0.5, 0.9], np.array([3.0, 1.0, 2.0]), 1, 4, 0.1))
        for _ in range(200):  # (helpers.until waits on a WalkerApp's frames)
            if bars.hits is not None and not bars.pending and panel_text(bars):
                break
            await pilot.pause(0.05)
        assert "★" in panel_text(bars)  # drawn, by the shared painter thread
        hits = bars.hits
        await pilot.click(CandidateBars, offset=(hits.left + hits.pos[1], 8))
        await pilot.pause(0.1)
        assert heard and heard[0].startswith("lr 0.50: loss 1")
