"""The walker's decision on one step's scored candidates, on host numbers: the winner, whether
the walk moves, whether every candidate diverged. WalkerSGD calls it after scoring (the
engine's Walker takes the same decision on the device: core/trainers/walker.py). Pure torch."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from walker_tui.core.ranking import pick_winner, rate_order


@dataclass(frozen=True)
class Decision:
    winner: int  # index of the best candidate (nan and inf never win; exact ties: median rate)
    moved: bool  # the walk takes the winner (False: an adaptive grid stays put, or none finite)
    diverged: bool  # no candidate's loss was finite


def decide(
    losses: list[float], rates: list[float], adaptive: bool = False, reference: float | None = None
) -> Decision:
    """The winner of candidates ``losses`` at ``rates``; an adaptive grid never takes a step
    that raises the loss above ``reference`` (w's own loss on the same batch, where known)."""
    finite = [math.isfinite(v) for v in losses]
    ranked = torch.tensor([v if f else math.inf for v, f in zip(losses, finite, strict=True)])
    winner = int(pick_winner(ranked, rate_order(list(rates), torch.device("cpu"))))
    moved = any(finite)
    if moved and adaptive and reference is not None and math.isfinite(reference):
        moved = losses[winner] <= reference
    return Decision(winner, moved, not any(finite))
