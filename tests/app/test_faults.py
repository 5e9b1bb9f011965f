"""Pilot tests of faults: worker exception, out of memory, tiny terminal, NO_COLOR, divergence."""

import sys
import threading
import time

from helpers import settle, status_text, until

from walker_tui.config import Config
from walker_tui.ui.app import make_app
from walker_tui.ui.widgets.candidates import CandidateBars
from walker_tui.ui.widgets.loss_curve import LossCurve
from walker_tui.ui.widgets.surface_plot import SurfacePlot
from walker_tui.viewmodel.session import Session


async def test_worker_exception_is_shown_and_the_app_stays_usable(monkeypatch):
    real_advance = Session.advance
    calls = {"n": 0}

    def flaky(self, count):
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("boom in epoch 4")
        return real_advance(self, count)

    monkeypatch.setattr(Session, "advance", flaky)
    app = make_app(Config(device="cpu", pace=0))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.state == "error")
        assert "boom in epoch 4" in status_text(app)
        assert "r restarts" in status_text(app)
        assert app.view.latest_epoch == 3
        await pilot.press("r")  # reseed still works: the fault was one-off
        await until(pilot, lambda: app.view.done)
        assert app.view.seed == 18 and not app.view.error
        await pilot.press("q")
    assert app.return_code == 0


async def test_out_of_memory_in_the_app_names_the_size():
    app = make_app(Config(device="cpu", n=10**12))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.state == "error")
        assert "out of memory at --n 1000000000000" in status_text(app)
        await pilot.press("q")
    assert app.return_code == 0


async def test_tiny_terminal_says_so_and_recovers():
    app = make_app(Config(device="cpu"), start_paused=True)
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.pause(0.3)
        notice = app.query_one("#too-small")
        assert notice.display and "terminal too small" in str(notice.render())
        assert not app.query_one("#main").display
        await pilot.resize_terminal(100, 30)
        await until(pilot, lambda: not notice.display)
        assert app.query_one("#main").display
        await pilot.press("n")
        await until(pilot, lambda: app.view.latest_epoch == 1)


async def test_no_color_keeps_winner_and_current_point_visible(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(Config(device="cpu"), start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        for _ in range(4):
            await pilot.press("n")
        await until(pilot, lambda: app.view.latest_epoch == 4)
        await settle(pilot, app)
        assert app.no_color
        bars = app.query_one(CandidateBars).text
        surface = app.query_one(SurfacePlot).text
        assert "*0.70" in bars  # the winner's tick is starred (epoch 4's winner is 0.70)
        assert bars.count("★") >= 2  # and a star over its bar
        assert "★" in surface  # the current point
        svg = app.export_screenshot()
        assert "#f4005f" not in svg.lower()  # the winner's red is gone, the glyphs stay


async def test_race_with_a_diverging_stepper():
    app = make_app(Config(device="cpu", pace=0, race=[0.3, 5.0]))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        await pilot.press("s")
        await until(pilot, lambda: "stepper 5" in app.view.histories and app.view.done)
        assert app.view.outcomes["stepper 5"].state == "diverged"
        assert app.view.outcomes["walker"].state == "reached"
        assert app.view.outcomes["walker"].epochs == 11  # the walker carried on to its target
        assert "stepper 5 diverged at epoch" in status_text(app)
        assert "walker 0.094 in 11 epochs" in status_text(app)


async def test_a_slow_surface_regrowth_does_not_break_the_worker():
    """The MLP's surface grid takes a while to regrow; a flush that long once emptied the
    epoch-rate clock and crashed the loop."""
    cfg = Config(
        device="cpu",
        problem="mlp",
        n=200,
        lrs_spec="log:0.01:10:13",
        epochs=1000,
        min_loss=0.02,
        pace=0,
        race=[("adam", 0.02)],
    )
    app = make_app(cfg)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        await pilot.press("s")
        await until(pilot, lambda: "adam 0.02" in app.view.histories and app.view.done, timeout=120)
        assert not app.view.error
        assert app.view.outcomes["walker"].loss < 0.02


async def test_panels_are_built_off_the_ui_thread(monkeypatch):
    """The plotext builds run on the painter thread, so a key never waits for a whole frame."""
    threads = set()
    real_draw = LossCurve.draw

    def draw(self, *args, **kwargs):
        threads.add(threading.current_thread().name)
        return real_draw(self, *args, **kwargs)

    monkeypatch.setattr(LossCurve, "draw", draw)
    app = make_app(Config(device="cpu"), start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        await pilot.press("n")
        await until(pilot, lambda: app.view.latest_epoch == 1)
        assert threads == {"painter"}
        assert "loss (log) by epoch" in app.query_one(LossCurve).text


async def test_a_failing_panel_says_so_and_the_others_keep_drawing(monkeypatch):
    def broken(self, *args, **kwargs):
        raise ValueError("bad bars")

    monkeypatch.setattr(CandidateBars, "draw", broken)
    app = make_app(Config(device="cpu"), start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        for _ in range(3):
            await pilot.press("n")
        await until(pilot, lambda: app.view.latest_epoch == 3)
        assert "panel failed: ValueError: bad bars" in app.query_one(CandidateBars).text
        assert "o start" in app.query_one(SurfacePlot).text
        assert "epoch 3" in status_text(app)


async def test_keys_answer_while_a_panel_takes_long_to_build(monkeypatch):
    """A build that holds the interpreter for seconds (pure Python) delays the plots, not keys."""
    real_draw = SurfacePlot.draw
    slowed = threading.Event()

    def draw(self, plt, width, height, frame):
        if frame.walk is not None and not slowed.is_set():  # the first frame with an epoch in it
            slowed.set()
            end = time.perf_counter() + 6.0
            while time.perf_counter() < end:  # busy Python, holding the GIL between switches
                pass
        return real_draw(self, plt, width, height, frame)

    monkeypatch.setattr(SurfacePlot, "draw", draw)
    app = make_app(Config(device="cpu"), start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        await pilot.press("n", "n")  # (epoch 1 is the start: no walk drawn until epoch 2)
        surface = app.query_one(SurfacePlot)
        end = time.monotonic() + 10
        while not (slowed.is_set() and surface.pending) and time.monotonic() < end:
            await pilot.pause(0.02)  # (not `until`: it waits for the frame to be drawn)
        assert slowed.is_set() and surface.pending
        await pilot.press("minus")  # answered while the surface is still being built
        assert "pace 2/s" in status_text(app)
        assert surface.pending  # the key did not wait for the frame
        await until(pilot, lambda: not surface.pending, timeout=20)
        assert "o start" in surface.text


async def test_a_theme_change_repaints_the_panels():
    app = make_app(Config(device="cpu"), start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        await pilot.press("n")
        await until(pilot, lambda: app.view.latest_epoch == 1)
        curve = app.query_one(LossCurve)

        def background() -> str:
            return str(next(iter(curve.render_line(0))).style.bgcolor.triplet)

        dark = background()
        app.theme = "textual-light"
        await until(pilot, lambda: background() != dark)
        assert "loss (log) by epoch" in curve.text


async def test_a_library_printing_inside_the_app_is_harmless():
    """Textual captures prints while it runs and flushes them through App._flush; the app once
    had a method of that name of its own, and the first warning a library printed (torch warns
    when Adam races) raised TypeError."""
    app = make_app(Config(device="cpu"), start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        print("a library's warning", file=sys.stderr, flush=True)
        print("and its chatter", flush=True)
        await pilot.press("n")
        await until(pilot, lambda: app.view.latest_epoch == 1)
        assert not app.view.error
