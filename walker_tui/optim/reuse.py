"""WalkerSGD's steps at a reused rate: along adam on a fixed grid (no ``stay``), not
every step scores the grid; between scorings the walk steps at the mean of the last winning
rates, at its direction's own cost (walker_tui.core.schedule: the rule the engine's walker
takes). Plain functions on a :class:`walker_tui.optim.walk.Walk`. Decisions come from agreed
numbers only (the winner of losses averaged over the ranks, the loss averaged over them), so
every rank of a distributed run takes the same steps. Pure torch."""

from __future__ import annotations

import math

from walker_tui.optim.info import StepInfo
from walker_tui.optim.walk import Walk, propose, schedule_of, set_weights, settle

__all__ = ["landed", "reuse_move", "reused", "reusing"]


def reusing(walk: Walk) -> bool:
    """Whether this step takes the reused rate instead of scoring."""
    return walk.lazy and not schedule_of(walk.walker).due()


def reuse_move(walk: Walk, grid_rate: float | None = None) -> tuple[float, tuple]:
    """The weights moved at the reused rate along the direction (its state fed and kept);
    returns the rate taken (``grid_rate``, default the schedule's, in the grid's units, times
    the groups' lr) and the line (w, u), for a recording."""
    w = [p.detach().clone() for p in walk.params]
    u, fed = propose(walk, walk.grads())
    if grid_rate is None:
        grid_rate = schedule_of(walk.walker).rate
    rate = grid_rate * walk.walker.get("scale", walk.scale)
    set_weights(walk.params, w, u, rate)
    settle(walk, fed, True)
    return rate, (w, u)


def reused(walk: Walk, moved: tuple, loss: float | None, calls: int) -> StepInfo:
    """The step's bookkeeping, ``walk.last`` among it. ``loss``: the (agreed) loss where the
    walk went, which the schedule is told with the loss held before; None where it is not seen
    yet (attached: the model's own forward gives it after the step is taken, and
    :func:`landed` tells the schedule then)."""
    rate, line = moved
    walker = walk.walker
    if loss is not None:
        landed(walk, loss)
    else:
        walker["landing"] = walker["loss"]  # (the loss held before, for landed())
    walker["step"] += 1
    shown = walker["shown"]  # (a state saved before the rates were kept: today's rates)
    losses, winner, rates = shown if len(shown) > 2 else (*shown, walk.rates())
    held = float(walker["loss"]) if walker["loss"] is not None else math.nan
    walk.last = StepInfo(walker["step"], list(rates), list(losses), winner, rate, held,
                         calls=calls, scored=False)  # fmt: skip
    walk.last.line = line if walk.keep_line else None
    return walk.last


def landed(walk: Walk, loss: float | None) -> None:
    """The schedule told of a reused-rate step's ``loss`` (where the walk went) and the loss
    held before it: one step nearer the next scoring, or, where the loss rose past the rule's
    bound or is not finite, the next step scores. None (the loss never came): only the count."""
    walker = walk.walker
    before = walker.pop("landing", walker["loss"])
    schedule = schedule_of(walker)
    if loss is None:
        schedule.wait -= 1
    else:
        schedule.reused(loss, before if before is not None else math.nan)
        walker["loss"] = loss
    walker["schedule"] = schedule.state_dict()
