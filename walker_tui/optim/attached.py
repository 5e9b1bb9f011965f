"""WalkerSGD attached to a model (``WalkerSGD(params, model=module)``): ``step()`` holds the
gradient the loop's backward left, and the module's next training forward decides the step on
its inputs (scoring.py scores the candidates). Plain functions on a
:class:`walker_tui.optim.walk.Walk`; the hooks themselves are WalkerSGD's (sgd.py). Pure torch."""

from __future__ import annotations

from typing import Any

import torch

from walker_tui.optim.reuse import landed, reuse_move, reused, reusing
from walker_tui.optim.scoring import Scorer, loss_of
from walker_tui.optim.walk import Walk, conclude, propose, reduce

__all__ = ["NOT_SCORED", "decide_on", "hold", "landing_loss"]

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
        reference = values[len(walker["rates"])] if walk.adaptive else None
        conclude(walk, w, u, fed, rates, values[: len(rates)], reference, len(rates + extra))
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
