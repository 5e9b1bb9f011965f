"""Surfaces that never hold anything up: a grid stops at its next chunk when cancelled, a large
problem's first view comes coarse (and says so), a newer window replaces an older one, and a
driver's cancel stops its surface too."""

from __future__ import annotations

import queue
import threading
import time

import numpy as np
import pytest

import walker_tui.viewmodel.driver as drv
from walker_tui.config import Config
from walker_tui.core.problems.zoo import make_problem
from walker_tui.core.surface import COARSE, GRID, Cancelled, Surveyor, Window, loss_grid, views


@pytest.fixture
def surveyors():
    """Surveyors made by a test, closed after it whether it passed or not."""
    made: list[Surveyor] = []

    def make(*args, **kwargs) -> Surveyor:
        made.append(Surveyor(*args, **kwargs))
        return made[-1]

    yield make
    for surveyor in made:
        surveyor.close()
    for surveyor in made:
        surveyor.join(30)


@pytest.fixture
def drivers():
    """Drivers started by a test, cancelled after it whether it passed or not."""
    made: list[drv.Driver] = []

    def start(*args) -> tuple[drv.Driver, threading.Thread]:
        made.append(drv.Driver(*args))
        return made[-1], made[-1].start()

    yield start
    for driver in made:
        driver.cancel()
    for driver in made:
        driver.join(30)


def computing(surveyor: Surveyor) -> threading.Event:
    """Set once the surveyor has computed a chunk of a view (its window is then under way)."""
    event = threading.Event()
    throttle = surveyor._yield_cpu

    def chunked(seconds: float, cancel: threading.Event) -> None:
        event.set()
        throttle(seconds, cancel)

    surveyor._yield_cpu = chunked  # type: ignore[method-assign]
    return event


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


def test_a_newer_window_replaces_the_one_in_progress(surveyors):
    problem = make_problem("logistic", 200_000, 17, "cpu")
    got: queue.Queue = queue.Queue()
    surveyor = surveyors(problem, None, got.put)
    under_way = computing(surveyor)
    old, new = Window(-4, 4, -4, 4), Window(-1, 1, -1, 1)
    surveyor.request(old)
    assert under_way.wait(60)
    surveyor.request(new)
    seen = []
    while not (seen and seen[-1].window == new and seen[-1].note == ""):
        seen.append(got.get(timeout=30))
    after = [v.window for v in seen[[v.window for v in seen].index(new) :]]
    assert all(w == new for w in after)  # nothing of the old window lands after the new one


def test_cancelling_a_driver_stops_its_surface_at_once(drivers, monkeypatch):
    # an mlp surface at 10^5 points takes minutes in full: cancel it mid-grid
    refining = threading.Event()  # set at a chunk of a window's later (full) view
    chunk = Surveyor._yield_cpu

    def chunked(self: Surveyor, seconds: float, cancel: threading.Event) -> None:
        if self._refining:
            refining.set()
        chunk(self, seconds, cancel)

    monkeypatch.setattr(Surveyor, "_yield_cpu", chunked)
    cfg = Config(device="cpu", problem="mlp", n=100_000, lrs_spec="log:0.01:10:13")
    control = drv.Control(paused=True, pace=0.0)
    control.steps = 2  # (a model's surface waits for its first step: epoch 2's, see NO_STEP)
    driver, thread = drivers(cfg, 17, control, lambda event: None)
    assert refining.wait(120)  # the first view is there; the full grid is under way
    t0 = time.monotonic()
    driver.cancel()
    thread.join(1.0)
    driver.surveyor.join(1.0)
    assert time.monotonic() - t0 < 1.0
    assert not thread.is_alive() and not driver.surveyor._thread.is_alive()


def test_a_windows_first_view_is_finished_before_the_newer_window(surveyors):
    # a path that keeps leaving its window (early epochs, racers) still gets a surface now and
    # then: the first view in progress lands, then the newest window asked for
    problem = make_problem("logistic", 200_000, 17, "cpu")
    got: queue.Queue = queue.Queue()
    surveyor = surveyors(problem, None, got.put)
    under_way = computing(surveyor)
    old, middle, new = Window(-4, 4, -4, 4), Window(-2, 2, -2, 2), Window(-1, 1, -1, 1)
    surveyor.request(old)
    assert under_way.wait(60)  # (taken up but not begun, old would still give way to new)
    surveyor.request(middle)
    surveyor.request(new)  # replaces middle, which never started
    first = got.get(timeout=30)
    assert first.window == old and first.note.startswith("coarse")
    rest = [got.get(timeout=30)]
    while rest[-1].note != "":
        rest.append(got.get(timeout=30))
    assert all(v.window == new for v in rest)  # middle was dropped; nothing of old after new


def test_the_surface_yields_the_cpu_only_while_training_runs_flat_out(surveyors):
    import walker_tui.core.surface as surface

    flat_out = [True]
    surveyor = surveyors(make_problem("linear", 100, 17, "cpu"), None, lambda v: None,
                        lambda: flat_out[0])  # fmt: skip
    cancel = threading.Event()
    owed = 0.02 * (1 - surface.BUSY_SHARE) / surface.BUSY_SHARE

    def slept(wait, *args: float) -> float:
        t0 = time.perf_counter()
        wait(*args, cancel)
        return time.perf_counter() - t0

    assert slept(surveyor._yield_cpu, 0.02) < 0.01  # a window's first view is not slept
    surveyor._refining = True
    assert owed * 0.9 <= slept(surveyor._yield_cpu, 0.02) <= owed + 0.5  # BUSY_SHARE of the time
    assert slept(surveyor._wait_quiet) < 0.01  # no first view yet: the next goes at once
    surveyor._quiet_at = time.monotonic() + 0.3
    assert 0.25 <= slept(surveyor._wait_quiet) <= 0.8  # first views are spaced
    flat_out[0] = False
    surveyor._quiet_at = time.monotonic() + 5
    assert slept(surveyor._yield_cpu, 0.02) < 0.01  # paused or paced: the surface takes
    assert slept(surveyor._wait_quiet) < 0.01  # what it needs
    flat_out[0] = True
    threading.Timer(0.1, lambda: flat_out.__setitem__(0, False)).start()
    assert slept(surveyor._yield_cpu, 1.0) < 0.5  # a pause mid-wait ends it (slices of 0.1 s)
    flat_out[0] = True
    cancel.set()
    assert slept(surveyor._yield_cpu, 1.0) < 0.05  # and so does a cancel
    assert slept(surveyor._wait_quiet) < 0.05


def test_first_views_beside_flat_out_training_come_spaced_and_the_newest_window_goes(
    surveyors,
):
    import walker_tui.core.surface as surface

    problem = make_problem("mlp", 20_000, 17, "cpu")  # a coarse first view, then refining
    plane = problem.plane()
    got: queue.Queue = queue.Queue()
    surveyor = surveyors(problem, plane, lambda v: got.put((time.monotonic(), v)), lambda: True)
    windows = [Window(-s, s, -s, s) for s in (1.0, 1.5, 2.0, 2.5)]
    surveyor.request(windows[0])
    t_first, first = got.get(timeout=60)
    assert first.window == windows[0] and first.note.startswith("coarse")
    for w in windows[1:]:  # the path leaves its window three times in a row
        surveyor.request(w)
    t_next, after = got.get(timeout=120)
    assert after.window == windows[-1]  # the two in between were never computed
    spaced = first.seconds * (1 - surface.BUSY_SHARE) / surface.BUSY_SHARE
    assert t_next - t_first >= 0.9 * spaced + after.seconds


def test_every_chunk_of_every_view_goes_through_the_throttle_and_its_sleeps_are_not_compute():
    problem = make_problem("logistic", 200_000, 17, "cpu")
    calls: list[float] = []

    def throttle(seconds: float) -> None:
        calls.append(seconds)
        time.sleep(0.05)

    found = views(problem, Window(-4, 4, -4, 4), throttle=throttle)
    t0 = time.perf_counter()
    first = next(found)
    first_calls, first_wall = len(calls), time.perf_counter() - t0
    t1 = time.perf_counter()
    full = next(found)
    full_wall = time.perf_counter() - t1
    assert first_calls >= 1 and len(calls) > first_calls  # both views' chunks
    assert first.seconds <= first_wall - 0.05 * first_calls + 0.01  # sleeps left out
    assert full.seconds <= full_wall - 0.05 * (len(calls) - first_calls) + 0.01
    assert sum(calls) <= first.seconds + full.seconds + 1e-6  # chunks are part of the compute


def test_a_driver_says_flat_out_only_while_it_trains_back_to_back(drivers):
    cfg = Config(device="cpu", problem="linear", n=2_000, lrs_spec="log:0.01:1:5", epochs=10**6)
    control = drv.Control(paused=True, pace=0.0)
    driver, _ = drivers(cfg, 17, control, lambda ev: None)

    def seen(value: bool, seconds: float = 20.0) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if driver.flat_out is value:
                return True
            time.sleep(0.001)
        return False

    time.sleep(0.5)
    assert not driver.flat_out  # paused
    with control.lock:
        control.paused = False
    control.wake.set()
    assert seen(True)  # full pace
    with control.lock:
        control.pace = 2.0
    time.sleep(0.3)
    waits = sum(not driver.flat_out for _ in range(200) if time.sleep(0.005) is None)
    assert waits > 150  # at 2 epochs a second it mostly waits
    driver.cancel()
    driver.join(5)
    assert not driver.flat_out
