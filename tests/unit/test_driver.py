"""The training driver without Textual: pause, steps, pace, racers joining and leaving, cancel, and
a fault in the middle, seen through the events it reports."""

from __future__ import annotations

import queue
import time

import pytest

import walker_tui.viewmodel.driver as drv
from walker_tui.config import Config
from walker_tui.viewmodel.driver import Control, Driver, Rate
from walker_tui.viewmodel.session import Session


class Run:
    """A driver on its own thread, its events in a queue."""

    def __init__(self, cfg: Config, paused: bool = False, pace: float = 0.0, race: bool = False):
        self.events: queue.Queue = queue.Queue()
        self.seen: list = []
        self.control = Control(paused=paused, pace=pace, race=race)
        self.driver = Driver(cfg, cfg.seed, self.control, self.events.put)
        self.thread = self.driver.start()

    def drain(self) -> list:
        while True:
            try:
                self.seen.append(self.events.get_nowait())
            except queue.Empty:
                return self.seen

    def until(self, cond, timeout: float = 20.0) -> None:
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                raise AssertionError(f"timed out; events: {[type(e).__name__ for e in self.seen]}")
            try:
                self.seen.append(self.events.get(timeout=0.05))
            except queue.Empty:
                pass

    def of(self, kind: type) -> list:
        return [e for e in self.drain() if isinstance(e, kind)]

    def epochs(self, name: str = "walker") -> list[int]:
        return [f[name].epoch for e in self.of(drv.Epochs) for f in e.epochs if name in f]

    def stop(self) -> None:
        self.driver.cancel()
        self.thread.join(5)
        assert not self.thread.is_alive()


@pytest.fixture
def runs():
    made: list[Run] = []

    def make(*args, **kwargs) -> Run:
        made.append(Run(*args, **kwargs))
        return made[-1]

    yield make
    for run in made:
        run.stop()


def cfg(**kw) -> Config:
    return Config(device="cpu", **kw)


def test_paused_it_waits_and_each_step_is_one_epoch_reported_at_once(runs):
    run = runs(cfg(), paused=True)
    run.until(lambda: run.of(drv.Started))
    time.sleep(0.3)
    assert run.epochs() == []  # paused: nothing runs
    for expected in (1, 2, 3):
        run.control.set(steps=run.control.steps + 1)
        run.until(lambda e=expected: run.epochs()[-1:] == [e])
    frames = run.of(drv.Epochs)
    assert all(f.eps is None for f in frames)  # no rate while paused
    assert run.epochs() == [1, 2, 3]


def test_running_it_coalesces_epochs_and_stops_at_the_target(runs):
    run = runs(cfg())  # full pace: the notebook's walk, 11 epochs
    run.until(lambda: run.of(drv.Epochs) and run.of(drv.Epochs)[-1].outcomes["walker"])
    assert run.epochs() == list(range(1, 12))
    assert run.of(drv.Epochs)[-1].outcomes["walker"].epochs == 11


def test_pace_changes_take_effect_and_pause_holds(runs):
    run = runs(cfg(epochs=10**6, min_loss=0), pace=2.0)
    run.until(lambda: len(run.epochs()) >= 2)
    run.control.set(pace=0.0)  # as fast as it goes
    before = len(run.epochs())
    run.until(lambda: len(run.epochs()) > before + 200)
    run.control.set(paused=True)
    time.sleep(0.2)  # (an epoch in flight lands)
    held = len(run.epochs())
    time.sleep(0.3)
    assert len(run.epochs()) == held


def test_epochs_per_second_is_honest_at_slow_pace():
    # Before: the count of epochs in the last second, so 1.0 at pace 0.5 (an epoch every 2 s).
    rate = Rate()
    for t in (10.0, 12.0, 14.0):
        rate.add(t, 1)
    assert rate.value(14.0, pace=0.5) == pytest.approx(0.5)
    assert rate.value(15.9, pace=0.5) == pytest.approx(0.5)  # between epochs it still says 0.5
    fast = Rate()
    for i in range(41):
        fast.add(100 + i * 0.025, 1)  # 40 a second
    assert fast.value(101.0, pace=0.0) == pytest.approx(40.0)
    slow = Rate()  # epochs of 3 s each (n = 10^7): the last two tell
    slow.add(0.0, 1)
    slow.add(3.0, 1)
    assert slow.value(3.5, pace=4.0) == pytest.approx(1 / 3)
    batches = Rate()  # a GPU's batches of 16 epochs
    for i in range(5):
        batches.add(i * 0.1, 16)
    assert batches.value(0.4, pace=0.0) == pytest.approx(160.0)


def test_cancel_stops_the_loop_and_nothing_more_is_reported(runs):
    run = runs(cfg(epochs=10**9, min_loss=0))
    run.until(lambda: len(run.epochs()) > 50)
    run.driver.cancel()
    run.thread.join(1.0)
    assert not run.thread.is_alive()
    run.drain()
    count = len(run.seen)
    time.sleep(0.2)
    assert len(run.drain()) == count


def test_a_fault_in_the_middle_keeps_the_epochs_before_it(runs, monkeypatch):
    real = Session.advance
    calls = {"n": 0}

    def flaky(self, count):
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("boom in epoch 4")
        return real(self, count)

    monkeypatch.setattr(Session, "advance", flaky)
    run = runs(cfg())
    run.until(lambda: run.of(drv.Failed))
    assert run.epochs() == [1, 2, 3]
    assert run.of(drv.Failed)[0].text == "RuntimeError: boom in epoch 4"
    run.thread.join(2)
    assert not run.thread.is_alive()


def test_racers_join_a_paused_run_catch_up_and_leave_without_restarting_it(runs):
    run = runs(cfg(race=[("stepper", 0.3), ("momentum", 0.1)]), paused=True)
    run.until(lambda: run.of(drv.Started))
    run.control.set(race=True)  # paused at epoch 0: the race is on, nothing to catch up
    run.until(lambda: run.of(drv.Racers))
    assert run.of(drv.Racers)[0].names == ["walker", "stepper 0.3", "momentum 0.1"]
    for _ in range(3):
        run.control.set(steps=run.control.steps + 1)
    run.until(lambda: len(run.epochs()) == 3 and len(run.epochs("stepper 0.3")) == 3)
    run.control.set(race=False)
    run.until(lambda: len(run.of(drv.Racers)) == 2)
    assert run.of(drv.Racers)[-1].names == ["walker"]
    run.control.set(race=True)  # paused at epoch 3: the racers start from w0 and catch up
    run.until(lambda: len(run.of(drv.Racers)) == 3)
    run.until(lambda: len(run.epochs("momentum 0.1")) == 6)
    assert run.epochs() == [1, 2, 3]  # the walker kept its run and did not move
    assert run.epochs("stepper 0.3") == [1, 2, 3, 1, 2, 3]
    run.control.set(steps=1)  # then all in lockstep
    run.until(lambda: run.epochs()[-1] == 4)
    last = run.of(drv.Epochs)[-1].epochs[-1]
    assert {name: rec.epoch for name, rec in last.items()} == {
        "walker": 4,
        "stepper 0.3": 4,
        "momentum 0.1": 4,
    }


def test_a_late_racer_walks_exactly_as_one_that_started_with_the_walker(runs):
    late = runs(cfg(race=[("adam", 5.0)]))
    late.until(lambda: late.of(drv.Epochs) and late.of(drv.Epochs)[-1].outcomes["walker"])
    late.control.set(race=True)  # the walker has reached its target at epoch 11
    late.until(lambda: late.of(drv.Epochs)[-1].outcomes.get("adam 5"))
    both = Session(cfg(race=[("adam", 5.0)]), 17, race=True)
    while not both.finished:
        both.step()
    frames = [f["adam 5"] for e in late.of(drv.Epochs) for f in e.epochs if "adam 5" in f]
    assert late.of(drv.Epochs)[-1].outcomes["adam 5"] == both.outcomes["adam 5"]
    assert frames[-1].loss == both.trainers["adam 5"].loss.item()


def test_control_takes_only_its_fields():
    """Control.set accepted any name, so a typo made a new attribute the driver never read."""
    import pytest

    control = Control(paused=False, pace=4.0)
    control.set(paused=True, steps=2)
    assert control.paused and control.steps == 2 and control.wake.is_set()
    with pytest.raises(TypeError):
        control.set(pased=False)  # type: ignore[call-arg]
    assert not hasattr(control, "pased")


def test_a_model_before_its_first_step_gets_no_surface_of_noise():
    """A model has no known minimum: before any trainer leaves w0 the window around w0 alone had
    no scale (fit_window's floor: +-0.000038 of noise contours). It is drawn path only, saying
    so, and the first step's window gets the surface."""
    from types import SimpleNamespace

    import numpy as np

    from walker_tui.viewmodel.session import next_window

    class Model:  # (a Session's surface side)
        minimum, problem, window = None, object(), None
        start = np.array([0.3, -0.2])

        def to_plane(self, w):
            return np.asarray(w, dtype=float)[:2]

        def window_for(self, xs, ys):
            window = next_window(self.window, self.start, None, xs, ys)
            self.window = window or self.window
            return window

    events, asked = [], []
    driver = Driver(cfg(), 0, Control(paused=True, pace=1.0), events.append)
    driver.session = Model()
    driver.surveyor = SimpleNamespace(request=asked.append)
    at = lambda *w: {"walker": SimpleNamespace(position=np.array(w))}  # noqa: E731
    driver._watch_window([])  # epoch 0
    driver._watch_window([at(0.3, -0.2)])  # epoch 1: the start
    assert asked == [] and [e.surface.note for e in events] == [drv.NO_STEP]
    driver._watch_window([at(0.35, -0.1)])  # epoch 2: a step, a scale
    assert len(asked) == 1 and asked[0].x1 - asked[0].x0 > 0.05
