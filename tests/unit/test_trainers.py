"""The trainer protocol: every trainer steps, resets and goes back to a saved epoch exactly, with
its own state (the walker's grid, momentum's velocity, Adam's moments), not the walker's."""

from __future__ import annotations

import pytest
import torch

from walker_tui.catalog import RACER_NAMES
from walker_tui.config import Config
from walker_tui.core.grid import parse_lrs, parse_race
from walker_tui.core.problems.regression import LinearProblem
from walker_tui.core.problems.zoo import make_problem
from walker_tui.core.trainers.loop import advance
from walker_tui.core.trainers.racers import RACERS, make_racer
from walker_tui.core.trainers.walker import Walker, make_walker


def trainers():
    p = LinearProblem()
    q = make_problem("quadratic", 100, 17, "cpu")
    return {
        "walker": Walker(p, parse_lrs("0.1:1:0.1")),
        "adaptive": Walker(q, parse_lrs("log:0.002:0.5:12"), adaptive=True, stay=True),
        "stepper": make_racer("stepper", p, 0.3),
        "momentum": make_racer("momentum", p, 0.1),
        "adam": make_racer("adam", p, 5.0),
        "exact": make_racer("exact", q, 0.0),
    }


def walk(trainer, epochs: int) -> list[tuple]:
    out = []
    for _ in range(epochs):
        rec = trainer.step()
        out.append((rec.epoch, rec.loss.item(), rec.w.tolist(), rec.rates.tolist()))
    return out


@pytest.mark.parametrize("name", list(trainers()))
def test_a_saved_epoch_comes_back_exactly(name):
    trainer = trainers()[name]
    walk(trainer, 5)
    saved = trainer.state_dict()
    after = walk(trainer, 6)
    trainer.load_state_dict(saved)
    assert walk(trainer, 6) == after  # the velocity, moments or grid came back with the weights
    trainer.reset()
    fresh = trainers()[name]
    assert walk(trainer, 4) == walk(fresh, 4)  # reset is the start, nothing carried over


def test_racers_are_not_walkers():
    for cls in RACERS.values():
        assert not issubclass(cls, Walker)
        assert not hasattr(cls, "adaptive") and not hasattr(cls, "grid")
    assert tuple(RACERS) == RACER_NAMES
    names = ",".join(f"{n}:0.1" for n in RACER_NAMES)
    assert [n for n, _ in parse_race(names)] == list(RACER_NAMES)


@pytest.mark.parametrize("name", ["momentum", "adam", "exact"])
def test_a_batch_that_stops_inside_rewinds_to_the_stop(name):
    # the GPU path: 16 epochs between host transfers; the stop falls inside a batch
    lr = {"momentum": 0.1, "adam": 5.0, "exact": 0.0}[name]
    p = LinearProblem()
    one, batched = make_racer(name, p, lr), make_racer(name, p, lr)
    singles = []
    while True:
        recs, outcome = advance(one, 1, 0.1, 100)
        singles += recs
        if outcome is not None:
            break
    recs, outcome = advance(batched, 16, 0.1, 100)
    while outcome is None:
        more, outcome = advance(batched, 16, 0.1, 100)
        recs += more
    assert [r.loss for r in recs] == [r.loss for r in singles]
    assert batched.epoch == one.epoch == outcome.epochs
    assert torch.equal(batched.w, one.w)
    assert walk(batched, 3) == walk(one, 3)  # and it walks on exactly as the other


def test_make_walker_reads_a_config():
    cfg = Config(lrs_spec="0.1,0.5", stay=True, grid="adaptive", race=[0.3, ("adam", 1)])
    walker = make_walker(LinearProblem(), cfg)
    assert walker.rates == [0.1, 0.5, 0.0] and walker.adaptive and walker.evals_per_epoch == 3
    assert cfg.race == [("stepper", 0.3), ("adam", 1.0)]  # a bare number is a stepper's rate
