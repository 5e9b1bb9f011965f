"""The walker's one decision (walker_tui.core.decision): what it decides on host numbers, and
that the engine's Walker takes it on the device without reading anything back to the host."""

from __future__ import annotations

import math
from contextlib import contextmanager

import pytest
import torch

from walker_tui.core.decision import decide, rate_taken
from walker_tui.core.problems.zoo import make_problem
from walker_tui.core.schedule import Schedule
from walker_tui.core.trainers.walker import Walker


def test_the_winner_is_taken_and_its_rate_and_loss_are_the_steps():
    d = decide([3.0, 1.0, 2.0], [0.1, 0.2, 0.3], held=5.0)
    assert (d.winner, d.moved, d.diverged, d.lr, d.took, d.loss) == (1, True, False, 0.2, True, 1.0)
    assert d.grid is None


def test_none_finite_stays_put_and_holds_the_loss():
    d = decide([math.nan, math.inf], [0.1, 0.2], held=5.0)
    assert (d.moved, d.diverged, d.lr, d.took, d.loss) == (False, True, 0.0, False, 5.0)


def test_an_adaptive_grid_never_takes_a_step_that_raises_the_loss_and_moves_down():
    d = decide([3.0, 2.5], [0.1, 1.0], adaptive=True, reference=2.0, span=1.0, span0=1.0)
    assert not d.moved and d.lr == 0.0 and d.loss == 2.0  # (w's own loss on the batch)
    assert max(d.grid) < 1.0 and d.span == pytest.approx(1.0)
    d = decide([3.0, 1.5], [0.1, 1.0], adaptive=True, reference=2.0, span=1.0, span0=1.0)
    assert d.moved and d.winner == 1 and d.grid[0] < 1.0 < d.grid[1]  # re-centred on the winner


def test_stays_zero_is_the_reference_and_keeps_no_direction_state():
    d = decide([2.0, 3.0, 1.0], [0.1, 0.2, 0.0], adaptive=True, stay=True, span=1.0, span0=1.0)
    assert d.winner == 2 and d.moved and not d.took and d.lr == 0.0 and len(d.grid) == 2


def test_the_schedule_is_told_the_winners_grid_rate():
    s = Schedule()
    decide([2.0, 1.0], [0.5, 1.0], grid=[0.25, 0.5], schedule=s)  # (rates: the grid times 2)
    assert s.winners == [0.5]
    assert rate_taken([0.1, 0.2], 1, True) == 0.2 and rate_taken([0.1, 0.2], 1, False) == 0.0


@contextmanager
def no_host_reads():
    """Any read of a tensor's value on the host (a GPU sync) fails."""
    names = ("item", "__bool__", "__float__", "__int__", "__index__", "tolist")
    saved = {name: getattr(torch.Tensor, name) for name in names}

    def read(self, *args, **kwargs):
        raise AssertionError("a host read in the engine's step")

    for name in names:
        setattr(torch.Tensor, name, read)
    try:
        yield
    finally:
        for name, method in saved.items():
            setattr(torch.Tensor, name, method)


@pytest.mark.parametrize("problem", ["linear", "rosenbrock", "logistic"])
@pytest.mark.parametrize(
    "options",
    [{}, {"adaptive": True}, {"stay": True}, {"adaptive": True, "stay": True},
     {"direction": "momentum", "adaptive": True}],
)  # fmt: skip
def test_the_engines_walker_decides_without_a_host_read(problem, options):
    walker = Walker(make_problem(problem, 100, 17, "cpu"), [0.01, 0.1, 0.5], **options)
    walker.step()
    walker.step()  # (the first grids' order is found on the host, once)
    with no_host_reads():
        for _ in range(3):
            walker.step()
