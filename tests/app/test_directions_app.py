"""Pilot: the walker along a direction in the app (issue 21): the header, the candidates' title and
the status line say which; racer legends name walkers by direction (walker:adam); a WalkerSGD
recording along adam replays saying so; the notebook's walker (sgd) says nothing new."""

from __future__ import annotations

import pytest
import torch
from helpers import drawn, panel_text, status_text, until

from walker_tui import WalkerSGD
from walker_tui.catalog import walker_lrs
from walker_tui.config import Config
from walker_tui.core.grid import format_rate
from walker_tui.ui.app import make_app
from walker_tui.ui.widgets.candidates import CandidateBars
from walker_tui.ui.widgets.loss_curve import LossCurve
from walker_tui.ui.widgets.surface_plot import SurfacePlot
from walker_tui.viewmodel.replay import load_replay


def adam_config(**more) -> Config:
    spec = walker_lrs("rosenbrock", "adam")
    return Config(device="cpu", problem="rosenbrock", direction="adam", lrs_spec=spec, **more)


async def test_the_direction_shows_in_the_header_bars_and_status():
    app = make_app(adam_config(pace=0.0, epochs=60), start_paused=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.view.histories)
        for expected in (1, 2, 3):
            await pilot.press("n")
            await until(pilot, lambda e=expected: app.view.latest_epoch == e)
        await pilot.press("space")  # (on to the end: an outcome to name)
        await until(pilot, lambda: app.view.done, timeout=60)
        await drawn(pilot)
        assert "walker:adam · 13 rates · log:0.001:1:13" in app.sub_title
        assert "along adam" in status_text(app)
        assert "candidates along adam" in panel_text(app.query_one(CandidateBars))
        assert "walker:adam" in app.view.summary[0]  # its outcome is named so too, once it has one


async def test_racers_name_walkers_by_direction():
    cfg = adam_config(race=[("walker:sgd", 0.0), ("walker:momentum", 0.0), ("adam", 0.05)])
    app = make_app(cfg, start_paused=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.view.histories)
        await pilot.press("s")
        for expected in (1, 2, 3, 4):
            await pilot.press("n")
            await until(pilot, lambda e=expected: app.view.latest_epoch == e)
        await until(pilot, lambda: len(app.view.histories) == 4)
        await drawn(pilot)
        legend = panel_text(app.query_one(LossCurve))
        for name in ("walker:adam", "walker:sgd", "walker:momentum", "adam 0.05"):
            assert name in legend, (name, legend)
        assert app.view.histories["walker:momentum"].latest.epoch == 4


@pytest.mark.parametrize("direction", ["momentum", "adam"])
@pytest.mark.parametrize("problem", ["logistic", "mlp"])
async def test_full_batch_problems_walk_along_each_direction(problem, direction):
    spec = walker_lrs(problem, direction)
    cfg = Config(device="cpu", problem=problem, direction=direction, lrs_spec=spec)
    app = make_app(cfg, start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        for expected in range(1, 6):
            await pilot.press("n")
            await until(pilot, lambda e=expected: app.view.latest_epoch == e)
        history = app.view.histories["walker"]
        first, last = history.at(1).loss, history.latest.loss
        assert last < first, (problem, direction, first, last)
        assert f"along {direction}" in status_text(app)


async def test_the_notebooks_walker_says_nothing_new():
    app = make_app(Config(device="cpu"), start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        await pilot.press("n")
        await until(pilot, lambda: app.view.latest_epoch == 1)
        await pilot.press("n")
        await until(pilot, lambda: app.view.latest_epoch == 2)
        await drawn(pilot)
        assert "along" not in status_text(app) and "walker:" not in app.sub_title
        assert "along" not in panel_text(app.query_one(CandidateBars))


async def test_a_walkersgd_recording_along_adam_replays_saying_so(tmp_path):
    w = torch.nn.Parameter(torch.tensor([-1.2, 1.0]))
    path = tmp_path / "adam.csv"
    with WalkerSGD([w], lrs="log:1e-3:1:13", direction="adam", record=path) as opt:

        def closure():
            opt.zero_grad()
            loss = (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2
            loss.backward()
            return loss

        for _ in range(6):
            opt.step(closure)
    recording, cfg = load_replay(path)
    app = make_app(cfg, start_paused=True, replay=recording)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        await pilot.press("n")
        await pilot.press("n")
        await until(pilot, lambda: app.view.latest_epoch >= 2)
        await drawn(pilot)
        assert "walker:adam" in app.sub_title and app.sub_title.startswith("replay")
        assert "along adam" in status_text(app)


async def test_a_reused_rates_epoch_says_so_in_the_bars_and_the_status():
    """Along adam on a model the walk scores its grid only now and then (core/schedule.py): an
    epoch whose last step reused a rate says so in the status line, and the candidates' title
    names the epoch its (faint) bars come from; epoch 1, scored, says nothing of it."""
    spec = walker_lrs("digits", "adam")
    cfg = Config(device="cpu", problem="digits", direction="adam", lrs_spec=spec, pace=0.0,
                 batch_size=64, min_loss=None, epochs=6)  # fmt: skip
    app = make_app(cfg, start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        seen = []
        for expected in (1, 2, 3):
            await pilot.press("n")
            await until(pilot, lambda e=expected: app.view.latest_epoch == e, timeout=30)
            await drawn(pilot)
            rec = app.view.walker_at(expected)
            bars, status = panel_text(app.query_one(CandidateBars)), status_text(app)
            title = bars.splitlines()[0]

            def legend() -> str:
                return panel_text(app.query_one(SurfacePlot)).splitlines()[0]

            if expected > 1:  # (the surface's panel paints on its own clock)
                await until(pilot, lambda: "★" in legend(), timeout=30)
            if rec.scored:
                assert "reused" not in title and "reused" not in status, (title, status)
                assert "★ win" in legend() or expected == 1, legend()
                continue
            assert "★ step" in legend() and "win" not in legend(), legend()  # (no winner: a step)
            seen.append(expected)
            rate = format_rate(rec.lr, list(rec.rates))
            assert f"lr {rate} (reused)" in status, status
            assert f"{rate} reused" in title and f"ep {expected}" in title, title
            assert "8-winner mean" in title or "mean of" in title, title  # (why this rate)
        assert seen, "no epoch reused a rate: the rule (core/schedule.py) changed?"
