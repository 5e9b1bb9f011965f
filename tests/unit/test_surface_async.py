"""Surfaces that never hold anything up: a grid stops at its next chunk when cancelled, a large
problem's first view comes coarse (and says so), a newer window replaces an older one, and a
driver's cancel stops its surface too."""

from __future__ import annotations

import queue
import threading
import time

import numpy as np
import pytest

import walker_tui.run.driver as drv
from walker_tui.config import Config
from walker_tui.core.problems.zoo import make_problem
from walker_tui.core.surface import COARSE, GRID, Cancelled, Surveyor, Window, loss_grid, views


def test_a_cancelled_grid_stops_between_chunks():
    problem = make_problem("logistic", 200_000, 17, "cpu")
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        loss_grid(problem, Window(-4, 4, -4, 4), cancel=cancel)  # ~10 s uncancelled
    assert time.monotonic() - t0 < 1.5


def test_a_large_surface_comes_coarse_first_and_says_so():
    problem = make_problem("logistic", 200_000, 17, "cpu")
    first, full = views(problem, Window(-4, 4, -4, 4))
    assert first.z.shape == (COARSE, COARSE) and first.note.startswith("coarse")
    assert "refining" in first.note
    assert full.z.shape == (GRID, GRID) and full.note == ""
    # the full grid (from the binned data) agrees with the exact losses
    xs, ys = full.xs[::17], full.ys[::17]
    pts = np.stack(np.meshgrid(xs, ys)).reshape(2, -1)
    import torch

    exact = problem.surface(torch.tensor(pts))
    assert np.allclose(full.z[::17, ::17].ravel(), exact, rtol=1e-5)


def test_a_sampled_view_names_its_sample():
    problem = make_problem("mlp", 50_000, 17, "cpu")
    origin, basis = problem.plane()
    first = next(views(problem, Window(-1, 1, -1, 1), (origin, basis)))
    assert first.note.startswith(f"coarse {COARSE}x{COARSE} on ")
    assert "of 50,000 points, refining…" in first.note


def test_small_problems_get_the_full_grid_at_once():
    for name in ("linear", "quadratic", "rosenbrock", "logistic"):
        (only,) = views(make_problem(name, 100, 17, "cpu"), Window(-2, 2, -2, 2))
        assert only.z.shape == (GRID, GRID) and only.note == ""


def test_a_newer_window_replaces_the_one_in_progress():
    problem = make_problem("logistic", 200_000, 17, "cpu")
    got: queue.Queue = queue.Queue()
    surveyor = Surveyor(problem, None, got.put)
    old, new = Window(-4, 4, -4, 4), Window(-1, 1, -1, 1)
    surveyor.request(old)
    time.sleep(0.05)
    surveyor.request(new)
    seen = []
    while not (seen and seen[-1].window == new and seen[-1].note == ""):
        seen.append(got.get(timeout=30))
    after = [v.window for v in seen[[v.window for v in seen].index(new) :]]
    assert all(w == new for w in after)  # nothing of the old window lands after the new one
    surveyor.close()
    surveyor.join(2)


def test_cancelling_a_driver_stops_its_surface_at_once():
    # an mlp surface at 10^5 points takes minutes in full: cancel it mid-grid
    cfg = Config(device="cpu", problem="mlp", n=100_000, lrs_spec="log:0.01:10:13")
    events: queue.Queue = queue.Queue()
    control = drv.Control(paused=True, pace=0.0)
    driver = drv.Driver(cfg, 17, control, events.put)
    thread = driver.start()
    while not isinstance(events.get(timeout=60), drv.Surface):
        pass  # the first view is there; the full grid is under way
    time.sleep(0.2)
    t0 = time.monotonic()
    driver.cancel()
    thread.join(1.0)
    driver.surveyor.join(1.0)
    assert time.monotonic() - t0 < 1.0
    assert not thread.is_alive() and not driver.surveyor._thread.is_alive()
