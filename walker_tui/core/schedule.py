"""When the walker along adam scores its grid, and the rate it takes when it does not: the one
rule for the engine's Walker and for ``WalkerSGD`` (issue 32; measurements in
docs/design/performance.md, "The walker at Adam's price"). Pure Python on host numbers, so
every rank of a distributed run, fed the same agreed numbers (the winner of all-reduced losses,
the all-reduced loss), takes the same decisions. The walker along the gradient (sgd, the
notebook's) scores every step, as it always did. So does the walker along momentum: at the
winners' mean rate heavy ball's velocity (about 10 gradients) carried a small CNN on the digits
to a loss of 0.44 after 10 epochs where scoring every step reached 0.057, and to chance (2.3)
by 30 on all three seeds. So does the engine's walker on a built-in problem, whose k candidates
cost about one evaluation in all (mlp: no time saved, and a loss 13x higher after 30 epochs).

A scoring step tries the whole grid, as every step did before, and takes the winner. Between
scorings the walk takes one step at the *reused rate*: the mean of the last :data:`WINDOW`
winning rates, arithmetic, because along Adam's direction on mini-batches the winner jumps
between the grid's ends (the smallest rate on one batch, the largest on the next) and the
mean is the step the walk takes on average (the digits demo: 0.03, the best rate of Adam's
sweep). A step at the reused rate costs what the direction's own optimizer costs (one forward
and backward). Scorings come every ``interval`` steps: the interval doubles, up to
:data:`LONGEST`, after each scoring that leaves the mean within a factor 2 of what it was, and
falls back to 1 (score every step) when the mean moves more, or when a step at the reused rate
ends at a loss more than :data:`RISE` times the highest of the last :data:`WINDOW` losses the
walk held before such steps, or not finite: on mini-batches the loss of one batch is often
twice the last one's (the digits demo: a reset a step in six when compared with the last loss
alone), while a rate too large for where the walk now is raises it by more, and keeps raising it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["LONGEST", "RISE", "WINDOW", "Schedule", "schedules"]

WINDOW = 8  # winning rates averaged into the reused rate
LONGEST = 16  # the most steps between two scorings
RISE = 2.0  # a loss this many times the one before a reused-rate step: score at once
HOLDS = 2.0  # the mean "holds" while within this factor of its last value


def schedules(direction: str, adaptive: bool, stay: bool, batched: bool = True) -> bool:
    """Whether a walker takes this rule (else it scores every step): along adam on a fixed
    grid without --stay, on a model (``batched``: WalkerSGD's always is; the engine's on a
    built-in problem is not, see above)."""
    return direction == "adam" and not adaptive and not stay and batched


@dataclass
class Schedule:
    """The rule's state (host numbers only: ``state_dict`` is a plain dict)."""

    interval: int = 1  # steps from one scoring to the next, now
    wait: int = 0  # reused-rate steps left before the next scoring
    winners: list[float] = field(default_factory=list)  # the last WINDOW winning rates
    rate: float | None = None  # the reused rate (None: nothing scored yet)
    held: list[float] = field(default_factory=list)  # the last WINDOW losses before such steps

    def due(self) -> bool:
        """Whether this step scores the grid."""
        return self.rate is None or self.wait <= 0

    def scored(self, rate: float, moved: bool) -> None:
        """After a scoring step: ``rate`` the winner's, ``moved`` whether the walk took it (a
        step not taken, or none finite, counts as rate 0 and starts the interval again)."""
        old = self.rate
        self.winners = [*self.winners, rate if moved else 0.0][-WINDOW:]
        self.rate = sum(self.winners) / len(self.winners)
        holds = (
            moved
            and old is not None
            and len(self.winners) == WINDOW
            and old / HOLDS <= self.rate <= old * HOLDS
        )
        self.interval = min(self.interval * 2, LONGEST) if holds else 1
        self.wait = self.interval - 1

    def reused(self, loss: float, before: float) -> None:
        """After a reused-rate step whose loss is ``loss`` (``before``: the loss the walk held
        before it): one step nearer the next scoring, or the next step scores at once."""
        self.wait -= 1
        if math.isfinite(before):
            self.held = [*self.held, before][-WINDOW:]
        if not math.isfinite(loss) or (self.held and loss > RISE * max(self.held)):
            self.wait, self.interval = 0, 1

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, list(value) if isinstance(value, (list, tuple)) else value)
