"""WalkerSGD attached to a model (``WalkerSGD(params, model=module)``): ``step()`` holds the
gradient the loop's backward left, and the module's next training forward decides the step on
its inputs (scoring.py scores the candidates). Plain functions on a
:class:`walker_tui.optim.walk.Walk`; the hooks themselves are WalkerSGD's (sgd.py). Pure torch."""

from __future__ import annotations

import math
from typing import Any

import torch

from walker_tui.optim.info import StepInfo
from walker_tui.optim.reuse import landed, reuse_move, reused, reusing
from walker_tui.optim.scoring import Scorer, loss_of
from walker_tui.optim.walk import Walk, conclude, propose, reduce, schedule_of

__all__ = ["NOT_SCORED", "decide_on", "flush_pending", "hold", "landing_loss"]

NOT_SCORED = (
    "WalkerSGD.step: the attached model ran no training forward since the last step "
    "(in train mode, grad enabled), so the step it holds was never scored: attach "
    "the module whose forward the loop calls, or pass a closure to step()"
)


def decide_on(walk: Walk, scorer: Scorer, args: tuple, kwargs: dict) -> None:
    """The pending step, decided on this forward's inputs: candidates scored forward only,
    the winner taken into the weights (before the model's own forward runs); or a step at the
    reused rate, nothing scored (reuse.py: its loss comes from the model's own forward)."""
    walker = walk.walker
    if reusing(walk):
        reused(walk, reuse_move(walk), None, 0)
        walk.flags.landing = True  # (the forward about to run gives the loss: landing_loss)
    else:
        w = [p.detach().clone() for p in walk.params]
        u, fed = propose(walk, walk.grads())
        rates = walk.rates(walker.get("scale", 1.0))
        extra = [0.0] if walk.adaptive and not walk.stay else []  # w's own loss
        walk.flags.scoring = True
        try:
            scored = scorer.losses(w, u, rates + extra, args, kwargs)
        finally:
            walk.flags.scoring = False
        values = reduce(scored, walk.sync).tolist()
        grid = list(walker["rates"])
        reference = values[len(grid)] if walk.adaptive else None
        last = conclude(walk, w, u, fed, rates, values[: len(rates)], reference, len(rates + extra))
        # the winning rate in the grid's units (0: the walk stayed put), for flush_pending
        walker["won"] = grid[last.winner] if last.lr > 0 and last.winner < len(grid) else 0.0
    walker["pending"] = False
    walk.done()


def landing_loss(walk: Walk, output: Any, args: tuple, kwargs: dict, scorer: Scorer) -> None:
    """After the model's own forward at a reused rate: its loss, kept on the device (no host
    sync here) until ``step()`` tells the schedule (:func:`hold`)."""
    walk.flags.landing = False
    with torch.no_grad():
        walk.flags.landed = loss_of(output, args, kwargs, scorer.loss_fn).detach()


def hold(walk: Walk) -> None:
    """At ``step()``: a reused-rate step's loss (the model's own forward at it, averaged over
    the ranks) told to the schedule, as the closure mode and the engine tell it, and to
    ``last``; then the gradient the loop's backward left in ``.grad`` held for the next
    forward's decision (``.grad`` is the loop's to zero: accumulation sums into it)."""
    walker = walk.walker
    if walker.get("pending"):
        raise RuntimeError(NOT_SCORED)
    if all(p.grad is None for p in walk.params):
        raise RuntimeError(
            "WalkerSGD.step: no gradient in .grad: call loss.backward() before step()"
        )
    if "landing" in walker:
        value, walk.flags.landed = walk.flags.landed, None
        loss = None if value is None else float(reduce(value, walk.sync)[0])
        landed(walk, loss)
        if loss is not None and walk.last is not None:
            walk.last.loss = loss
    walk.hold_grads([torch.zeros_like(p) if p.grad is None else p.grad.detach().clone()
                     for p in walk.params])  # fmt: skip
    walker["pending"], walker["scale"] = True, walk.scale
    walk.done()


def flush_pending(walk: Walk) -> bool:
    """``opt.flush()``: the step a ``step()`` prepared, taken now, unscored (no forward has come
    with a batch to score it on): along a walk that reuses rates (walker_tui.core.schedule) at
    the schedule's reused rate, as a reused step (reuse.py), else at the last winning rate (in
    the grid's units, times the scale of the ``step()`` that prepared it). Returns whether it
    took one: not when nothing is pending, nor before any step has won (the first ``step()``'s
    move), nor when the last step stayed put (rate 0); the pending step then stays for the next
    training forward."""
    walker = walk.walker
    if not walker.get("pending"):
        return False
    if walk.lazy:  # (won 0: the last scoring stayed put, diverged or ran at lr 0)
        if "shown" not in walker or schedule_of(walker).rate is None or not walker.get("won"):
            return False
        reused(walk, reuse_move(walk), None, 0)  # (its loss never comes: landed(None) at step)
    else:
        won = walker.get("won", 0.0)
        if not won * walker.get("scale", walk.scale) > 0:
            return False
        rate, (w, u) = reuse_move(walk, won)
        walker["step"] += 1
        before = walk.last
        rates = before.rates if before is not None else walk.rates(walker.get("scale"))
        losses = before.losses if before is not None else [math.nan] * len(rates)
        held = float(walker["loss"]) if walker["loss"] is not None else math.nan
        walk.last = StepInfo(walker["step"], list(rates), list(losses),
                             before.winner if before is not None else 0, rate, held,
                             calls=0, scored=False)  # fmt: skip
        walk.last.line = (w, u) if walk.keep_line else None
    walker["pending"] = False
    walk.done()
    return True
