"""The walker's decision on one step's scored candidates: the winner, whether the walk takes it,
the rate taken, whether the direction keeps the state fed this step, the adaptive grid's next
move and the schedule told of the scoring. One rule for the engine's Walker
(core/trainers/walker.py: :func:`walk` on the device, no host sync unless a schedule is fed)
and for WalkerSGD (host numbers: :func:`decide`, which calls :func:`walk`), as torch.optim's
functional ``sgd()`` sits under ``SGD``. Pure torch."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from walker_tui.core.adaptive import next_grid
from walker_tui.core.ranking import at, pick_winner, rate_order
from walker_tui.core.schedule import Schedule

__all__ = ["Decision", "Step", "decide", "rate_taken", "walk"]


@dataclass(frozen=True)
class Step:
    """One scoring step's decision, as 0-d tensors on the scores' device."""

    winner: torch.Tensor  # index of the best candidate
    moved: torch.Tensor  # the walk takes the winner (False: an adaptive grid stays, none finite)
    finite: torch.Tensor  # some candidate's loss was finite (False: diverged)
    took: torch.Tensor  # moved at a nonzero rate: the direction keeps the state fed this step
    grid: torch.Tensor | None  # --grid adaptive: the next grid (its k rates), else None
    span: torch.Tensor | None  # and its span in decades


def walk(
    rank: torch.Tensor,
    finite: torch.Tensor,
    rates: torch.Tensor,
    *,
    grid: torch.Tensor,
    adaptive: bool = False,
    reference: torch.Tensor | float = math.inf,
    order: torch.Tensor | None = None,
    slack: torch.Tensor | None = None,
    span: torch.Tensor | None = None,
    span0: float = 1.0,
    schedule: Schedule | None = None,
) -> Step:
    """The decision on scored candidates (no host sync, unless ``schedule`` is given).

    ``rank``: the candidates' losses or their changes from the current loss; ``finite``: which
    candidates' losses are finite (nan and inf never win); ``rates``: the candidates' rates
    (--stay's 0 last); ``grid``: the grid's own k rates (no --stay zero) in the units the
    adaptive rule and the schedule keep; ``order`` and ``slack`` as
    :func:`walker_tui.core.ranking.pick_winner` takes them (ties go to the median tied rate).
    The walk moves when some candidate is finite; an adaptive grid also never takes a step
    that raises the loss: the winner's rank must be at most ``reference`` (w's own loss on the
    same batch, 0 where ``rank`` holds changes, inf where unknown), and its next grid comes from
    the one rule (walker_tui.core.adaptive.next_grid) with ``span`` and ``span0``. A
    ``schedule`` (walker_tui.core.schedule) is told the winner's grid rate and whether the walk
    took it (a host sync, as the rule needs)."""
    any_finite = finite.any()
    winner = pick_winner(torch.where(finite, rank, torch.inf), order, slack)
    moved = any_finite & (at(rank, winner) <= reference) if adaptive else any_finite
    took = moved & (at(rates, winner) != 0)
    new = wide = None
    if adaptive:
        new, wide = next_grid(grid.float(), span, span0, winner, ~moved)
    if schedule is not None:
        index = int(winner)
        schedule.scored(float(grid[index]) if index < len(grid) else 0.0, bool(moved))
    return Step(winner, moved, any_finite, took, new, wide)


def rate_taken(rates: Sequence[float], winner: int, moved: bool) -> float:
    """The rate of the step taken: the winner's, or 0.0 where the walk stayed put."""
    return float(rates[winner]) if moved else 0.0


@dataclass(frozen=True)
class Decision:
    """:class:`Step` on the host, with what the walk holds after it."""

    winner: int  # index of the best candidate
    moved: bool  # the walk takes the winner (False: an adaptive grid stays put, or none finite)
    diverged: bool  # no candidate's loss was finite
    lr: float  # the rate taken (0.0: stayed put)
    took: bool  # the direction keeps the state fed this step
    loss: float | None  # the loss held after the step (None: none known yet)
    grid: list[float] | None = None  # --grid adaptive: the next grid, else None
    span: float | None = None


def decide(
    losses: list[float],
    rates: list[float],
    adaptive: bool = False,
    reference: float | None = None,
    *,
    stay: bool = False,
    grid: Sequence[float] | None = None,
    span: float = 1.0,
    span0: float = 1.0,
    schedule: Schedule | None = None,
    held: float | None = None,
) -> Decision:
    """:func:`walk` on host numbers: the candidates' ``losses`` at ``rates`` (``stay``: the
    last is --stay's zero, w itself, whose loss is then the reference); ``reference`` is w's
    own loss on the same batch where known (unknown or not finite: no check); ``grid``: the
    grid's rates without the zero (None: ``rates``), ``held``: the loss the walk held before.
    The loss held after is the winner's, else w's own on this batch where known, else
    ``held``."""
    grid = list(rates[: len(rates) - stay] if grid is None else grid)
    if adaptive and stay:
        reference = losses[len(grid)]  # (--stay's zero: w's own loss on this batch)
    known = reference is not None and math.isfinite(reference)
    rank = torch.tensor(losses, dtype=torch.float64)
    step = walk(
        rank, torch.isfinite(rank), torch.tensor(rates, dtype=torch.float64),
        grid=torch.tensor(grid, dtype=torch.float64), adaptive=adaptive,
        reference=reference if known else math.inf,
        order=rate_order(list(rates), torch.device("cpu")),
        span=torch.tensor(span, dtype=torch.float32), span0=span0, schedule=schedule,
    )  # fmt: skip
    winner, moved = int(step.winner), bool(step.moved)
    loss = losses[winner] if moved else reference if known else held
    return Decision(
        winner, moved, not bool(step.finite), rate_taken(rates, winner, moved), bool(step.took),
        loss, None if step.grid is None else step.grid.tolist(),
        None if step.span is None else float(step.span),
    )  # fmt: skip
