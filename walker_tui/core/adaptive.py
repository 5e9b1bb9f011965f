"""``--grid adaptive``: the one rule that moves the walker's grid, for the engine's walker (on
the device, no host sync) and for ``WalkerSGD`` (which calls it with its host values:
:func:`adapt_rates`), so both take the same steps. Pure torch, no UI."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

FLOOR, CEILING = 1e-12, 1e12  # the rates never leave this range
MOST_SPAN = 12.0  # decades


def next_grid(
    grid: torch.Tensor,
    span: torch.Tensor,
    span0: float,
    winner: torch.Tensor,
    stayed: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The next grid and its span in decades, from this epoch's ``grid`` (the k rates, without
    --stay's 0), its ``span``, the starting span ``span0``, the winner's index (k or more:
    --stay's zero won) and whether the walk stayed put (0-d bool tensors).

    A log-spaced grid of the same size centred on the winning rate, twice as wide when the
    winner was the grid's smallest or largest rate, shrinking back towards the starting width
    when it was not; when the walk stayed put, the grid moves down a quarter span. The whole grid
    stays within [1e-12, 1e12] with its span (its centre is held back: clamping each rate
    collapsed a long-staying grid to k copies of 1e-12). Two rates are both edges: such a grid
    keeps its width and follows its winner (it widened every epoch until one rate was 1e-12).
    One rate: Battiti's "bold driver" (1989), its published factors, x1.1 after a step that
    lowered the loss and x0.5 after staying put."""
    k = len(grid)
    stayed = stayed | (winner >= k)
    if k == 1:
        return torch.where(stayed, grid * 0.5, grid * 1.1).clamp(min=FLOOR, max=CEILING), span
    best = grid.index_select(0, winner.clamp(max=k - 1).reshape(1))[0]  # (no host sync)
    edge = ((best == grid.min()) | (best == grid.max())) & (winner < k) & (k > 2)
    span = torch.where(edge, span * 2, (span * 0.8).clamp(min=span0)).clamp(max=MOST_SPAN)
    centre = torch.where(stayed, grid.min() * 10 ** (-span / 4), best)
    half = 10 ** (span / 2)
    centre = torch.minimum(torch.maximum(centre, FLOOR * half), CEILING / half)
    offsets = torch.linspace(-0.5, 0.5, k, device=grid.device, dtype=grid.dtype) * span
    return centre * 10**offsets, span


def log_span(rates: Sequence[float]) -> float:
    """Decades covered by a grid (1 for a single rate): the span the rule starts from, for the
    engine's walker and WalkerSGD alike."""
    lo, hi = min(rates), max(rates)
    return math.log10(hi / lo) if hi > lo else 1.0


def adapt_rates(
    grid: Sequence[float], span: float, span0: float, winner: int, stayed: bool
) -> tuple[list[float], float]:
    """``--grid adaptive`` on host values: the next grid and its span by the one rule the engine's
    walker uses (:func:`next_grid`, in float32 as there)."""
    new, wide = next_grid(
        torch.tensor(list(grid), dtype=torch.float32),  # (float32, as the engine's walker)
        torch.tensor(span, dtype=torch.float32),
        span0,
        torch.tensor(winner),
        torch.tensor(bool(stayed)),
    )
    return new.tolist(), float(wide)
