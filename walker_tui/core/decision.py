"""The walker's decision on one step's scored candidates: the winner and whether the walk takes
it. One rule for the engine's Walker (core/trainers/walker.py: on the device, no host sync:
:func:`choose`) and for WalkerSGD (host numbers: :func:`decide`), as torch.optim's functional
``sgd()`` sits under ``SGD``. Pure torch."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from walker_tui.core.ranking import at, pick_winner, rate_order

__all__ = ["Decision", "choose", "decide"]


def choose(
    rank: torch.Tensor,
    finite: torch.Tensor,
    order: torch.Tensor | None,
    slack: torch.Tensor | None,
    adaptive: bool,
    current: torch.Tensor | float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The winner's index and whether the walk moves to it (0-d tensors, on the device).

    ``rank``: the candidates' losses or their changes from the current loss; ``finite``: which
    candidates' losses are finite (nan and inf never win); ``order`` and ``slack`` as
    :func:`walker_tui.core.ranking.pick_winner` takes them (ties go to the median tied rate).
    The walk moves when some candidate is finite; an adaptive grid also never takes a step
    that raises the loss: the winner's rank must be at most ``current`` (w's own loss on the
    same batch, or 0 where ``rank`` holds changes)."""
    any_finite = finite.any()
    winner = pick_winner(torch.where(finite, rank, torch.inf), order, slack)
    if adaptive:
        return winner, any_finite & (at(rank, winner) <= current)
    return winner, any_finite


@dataclass(frozen=True)
class Decision:
    winner: int  # index of the best candidate
    moved: bool  # the walk takes the winner (False: an adaptive grid stays put, or none finite)
    diverged: bool  # no candidate's loss was finite


def decide(
    losses: list[float], rates: list[float], adaptive: bool = False, reference: float | None = None
) -> Decision:
    """:func:`choose` on host numbers: the candidates' ``losses`` at ``rates``; ``reference``
    is w's own loss on the same batch, where known (unknown or not finite: no check)."""
    rank = torch.tensor(losses, dtype=torch.float64)
    finite = torch.isfinite(rank)
    known = reference is not None and math.isfinite(reference)
    winner, moved = choose(
        rank, finite, rate_order(list(rates), torch.device("cpu")), None, adaptive,
        reference if known else math.inf,
    )  # fmt: skip
    return Decision(int(winner), bool(moved), not bool(finite.any()))
