"""When the winner keeps to an edge of the grid while the loss still falls, the best rate may lie
outside the grid. The rule that says so, on host numbers, for WalkerSGD (the app's
viewmodel/view.py holds its own five-epoch form for whole-data epochs). Pure Python, no torch."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

WINDOW = 20  # steps looked at together (mini-batch losses are noisy: no step-by-step test)
SHARE = 0.9  # of them won by the same edge


@dataclass
class EdgeWatch:
    """Feed it every step of a fixed grid of ``k`` rates (k >= 2) with :meth:`see`; it answers
    the edge (0: the smallest rate's index, k - 1: the largest's) once, the first time that in
    the last ``window`` steps that moved the same edge won at least ``share`` of them and the
    loss fell (the later half's mean below the earlier half's); after that it answers None.
    Steps whose candidates tie (a flat or converged loss) say nothing and are skipped."""

    k: int
    window: int = WINDOW
    share: float = SHARE
    warned: bool = False
    seen: deque = field(default_factory=deque)

    def see(self, winner: int, loss: float, losses: list[float], moved: bool = True) -> int | None:
        if self.warned or self.k < 2 or not moved or not math.isfinite(loss):
            return None
        finite = [v for v in losses[: self.k] if math.isfinite(v)]
        if not finite or max(finite) - min(finite) <= 1e-6 * abs(loss):
            return None
        side = 0 if winner == 0 else self.k - 1 if winner == self.k - 1 else -1
        self.seen.append((side, loss))
        if len(self.seen) > self.window:
            self.seen.popleft()
        if len(self.seen) < self.window:
            return None
        sides = [s for s, _ in self.seen]
        half = self.window // 2
        early = sum(v for _, v in list(self.seen)[:half]) / half
        late = sum(v for _, v in list(self.seen)[half:]) / (self.window - half)
        for edge in (0, self.k - 1):
            if sides.count(edge) >= self.share * self.window and late < early:
                self.warned = True
                return edge
        return None


def shifted_grid(rates: list[float], edge: int) -> str:
    """A log grid of as many rates reaching half its span past ``edge`` (0: below the smallest
    rate, else above the largest): what to pass instead, in the ``lrs`` grammar."""
    lo, hi = min(rates), max(rates)
    span = math.log10(hi / lo) if hi > lo else 1.0
    factor = 10 ** (span / 2) if edge else 10 ** (-span / 2)
    return f"log:{lo * factor:.3g}:{hi * factor:.3g}:{len(rates)}"
