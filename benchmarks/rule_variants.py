"""Variants of the reused rate and of the loss check, for benchmarks/cheaper_scoring.py (issue
32): prototypes as subclasses of walker_tui.core.schedule.Schedule, the package untouched.

* ``gmean``, ``median``: the reused rate is the geometric mean, or the median, of the last
  WINDOW winning rates (the rule: their arithmetic mean).
* ``curve``: each scoring's losses as a curve over the grid, log(L_j / min L); the reused rate
  is the minimum of the mean of the last WINDOW curves, refined by a parabola through the
  lowest point and its two neighbours in log rate (all 13 losses used, not the winner alone).
* ``ceil50``, ``ceil70``: a loss rise at the reused rate (the rule's reset) also caps the
  reused rate from then on at 0.5x or 0.7x the rate that rose; ``ceil50r``, ``ceil70r``: the
  cap doubles back over 8 scorings; ``ceil50f``, ``ceil70f`` over 4, ``ceil70ff`` over 2.

The curve needs the candidates' losses, which the rule never sees: :func:`hook_walk` wraps the
engine walker's decision so a schedule with a ``see`` method is shown them first.
"""

from __future__ import annotations

import math
import statistics

import torch

import walker_tui.core.trainers.walker as engine
from walker_tui.core.schedule import HOLDS, LONGEST, WINDOW, Schedule

CLIP = math.log(10.0)  # a candidate 10x the best (or not finite) counts as 10x


class Reused(Schedule):
    """The rule with the reused rate from :meth:`_reused_rate` (the rule's: the winners' mean)."""

    def _reused_rate(self) -> float:
        return sum(self.winners) / len(self.winners)

    def scored(self, rate: float, moved: bool) -> None:
        old = self.rate
        self.winners = [*self.winners, rate if moved else 0.0][-WINDOW:]
        self.rate = self._reused_rate()
        holds = (
            moved
            and old is not None
            and len(self.winners) == WINDOW
            and old / HOLDS <= self.rate <= old * HOLDS
        )
        self.interval = min(self.interval * 2, LONGEST) if holds else 1
        self.wait = self.interval - 1


class GMean(Reused):
    def _reused_rate(self) -> float:
        logs = [math.log(max(r, 1e-12)) for r in self.winners]
        return math.exp(sum(logs) / len(logs))


class Median(Reused):
    def _reused_rate(self) -> float:
        return statistics.median(self.winners)


class Curve(Reused):
    curves: list[torch.Tensor]
    grid: torch.Tensor

    def see(self, rank: torch.Tensor, finite: torch.Tensor, grid: torch.Tensor) -> None:
        losses = torch.where(finite, rank, torch.inf)[: len(grid)]
        best = losses.min()
        if best > 0:
            curve = torch.log(torch.clamp(losses / best, max=10.0))
        else:  # (changes from the current loss, not losses)
            curve = torch.clamp(losses - best, max=CLIP)
        curve = torch.nan_to_num(curve, nan=CLIP, posinf=CLIP)
        self.curves = [*getattr(self, "curves", []), curve][-WINDOW:]
        self.grid = grid

    def _reused_rate(self) -> float:
        mean = torch.stack(self.curves).mean(0)
        j = int(mean.argmin())
        logs = torch.log(self.grid)
        if not 0 < j < len(mean) - 1:
            return float(self.grid[j])
        a, b, c = (float(mean[i]) for i in (j - 1, j, j + 1))
        bend = a - 2 * b + c
        shift = max(-0.5, min(0.5, 0.5 * (a - c) / bend)) if bend > 0 else 0.0
        return math.exp(float(logs[j]) + shift * float(logs[1] - logs[0]))


class Ceiling(Reused):
    factor, relax = 0.5, 1.0
    ceiling = math.inf

    def _reused_rate(self) -> float:
        self.ceiling *= self.relax
        return min(super()._reused_rate(), self.ceiling)

    def reused(self, loss: float, before: float) -> None:
        rate = self.rate
        super().reused(loss, before)
        if self.wait == 0 and self.interval == 1 and rate is not None:  # the rule's reset
            self.ceiling = min(self.ceiling, rate * self.factor)


class Ceil50(Ceiling):
    factor = 0.5


class Ceil70(Ceiling):
    factor = 0.7


class Ceil50r(Ceiling):
    factor, relax = 0.5, 2 ** (1 / 8)


class Ceil70r(Ceiling):
    factor, relax = 0.7, 2 ** (1 / 8)


class Ceil70f(Ceiling):
    factor, relax = 0.7, 2 ** (1 / 4)


class Ceil70ff(Ceiling):
    factor, relax = 0.7, 2 ** (1 / 2)


class Ceil50f(Ceiling):
    factor, relax = 0.5, 2 ** (1 / 4)


RULES = {
    "gmean": GMean,
    "median": Median,
    "curve": Curve,
    "ceil50": Ceil50,
    "ceil70": Ceil70,
    "ceil50r": Ceil50r,
    "ceil70r": Ceil70r,
    "ceil70f": Ceil70f,
    "ceil70ff": Ceil70ff,
    "ceil50f": Ceil50f,
}


def hook_walk() -> None:
    """Show a schedule that has ``see`` the candidates' losses before the engine's decision."""
    walk = engine.walk
    if getattr(walk, "hooked", False):
        return

    def seen(rank, finite, rates, **kw):
        schedule = kw.get("schedule")
        if schedule is not None and hasattr(schedule, "see"):
            cpu = (rank.detach().double().cpu(), finite.cpu(), kw["grid"].double().cpu())
            schedule.see(*cpu)
        return walk(rank, finite, rates, **kw)

    seen.hooked = True
    engine.walk = seen
