"""WalkerSGD's step with a closure (as torch.optim.LBFGS takes one): each candidate scored by
a closure call. Plain functions on a :class:`walker_tui.optim.walk.Walk` (the decision is
walk.conclude's); here only the calls. Pure torch."""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Real
from typing import Any

import torch

from walker_tui.core.ranking import wide_dtype
from walker_tui.optim.reuse import reuse_move, reused, reusing
from walker_tui.optim.scoring import rng_state, set_rng, warn_at_user
from walker_tui.optim.walk import (
    Walk,
    conclude,
    distributed,
    everywhere,
    propose,
    reduce,
    set_weights,
)

__all__ = ["step_closure"]

ACCUMULATED = (
    "WalkerSGD.step(closure) found gradients in .grad before its closure ran: gradient "
    "accumulation (Lightning's accumulate_grad_batches > 1, or a backward before step). The "
    "walker scores every candidate by calling the closure on one batch and cannot use a "
    "gradient summed over earlier micro-batches: use accumulate_grad_batches=1, or attach the "
    "model (WalkerSGD(params, model=module)): then step() walks along the gradient the loop "
    "accumulated"
)
GRAD_ON = (
    "WalkerSGD(forward_only=True) cannot take effect here: the closure turns grad on itself "
    "and runs backward (Lightning's closure does), so every candidate ran backward. Attach the "
    "model instead (WalkerSGD(params, model=module)): candidates are then scored forward only "
    "and the closure runs once a step"
)

NO_BACKWARD = (
    "WalkerSGD.step(closure): the closure ran no backward (no parameter has a gradient in "
    ".grad after a call with grad enabled): call `loss.backward()` in the closure before "
    "`return loss`"
)


def check_returned(out: Any) -> None:
    """The closure's return is the loss: a tensor or a number (not None: a missing return)."""
    if isinstance(out, torch.Tensor) or (isinstance(out, Real) and not isinstance(out, bool)):
        return
    raise TypeError(
        "WalkerSGD.step(closure): the closure must return the loss (a scalar tensor or a "
        f"number), got {'None (no `return loss`?)' if out is None else type(out).__name__}"
    )


def call(walk: Walk, closure: Callable[[], Any], grad: bool, start: tuple) -> Any:
    """One closure call from the step's random state (every candidate the same dropout
    mask), with grad enabled (fresh gradients) or under no_grad."""
    params = walk.params
    set_rng(start, params[0].device)
    for p in params:
        p.grad = None  # (a closure that forgets zero_grad still gets this point's own)
    if grad:
        with torch.enable_grad():
            out = closure()
        check_returned(out)
        if all(p.grad is None for p in params):
            if not any(p.requires_grad for p in params):  # (frozen after the optimizer was made)
                raise RuntimeError(
                    "WalkerSGD.step(closure): every parameter it walks has requires_grad False "
                    "(frozen): nothing to walk; unfreeze them or leave them out of WalkerSGD"
                )
            raise RuntimeError(NO_BACKWARD)
        return out
    try:
        with torch.no_grad():
            out = closure()
    except RuntimeError as error:
        if "does not require grad" not in str(error):
            raise
        raise RuntimeError(
            "WalkerSGD(forward_only=True) scores candidates under torch.no_grad(): the "
            "closure must skip backward there: `if torch.is_grad_enabled(): loss.backward()`"
        ) from error
    check_returned(out)
    if not walk.flags.grad_on_warned and any(p.grad is not None for p in params):
        walk.flags.grad_on_warned = True
        warn_at_user(GRAD_ON)
    return out


def grads_now(params: list[torch.Tensor]) -> list[torch.Tensor]:
    return [torch.zeros_like(p) if p.grad is None else p.grad.detach().clone() for p in params]


def check_not_accumulated(params: list[torch.Tensor]) -> None:
    held = [p.grad.detach().abs().amax() for p in params if p.grad is not None and p.numel()]
    if held and bool(torch.stack([h.float().cpu() for h in held]).amax() > 0):
        raise RuntimeError(ACCUMULATED)


def score(walk: Walk, closure, w, g, rates, keep: bool, start: tuple):
    """Each candidate's loss by a closure call; with grad (``keep``), the gradient of the
    best so far is kept on the device (no host sync)."""
    params = walk.params
    device = params[0].device
    wide = wide_dtype(device)
    best = torch.full((), math.inf, dtype=wide, device=device)
    best_grad = [torch.zeros_like(p) for p in params] if keep else []
    scored = []
    for lr in rates:
        set_weights(params, w, g, lr)
        value = torch.as_tensor(call(walk, closure, keep, start)).detach()
        scored.append(value)
        if keep:
            v = value.to(device=device, dtype=wide)
            better = torch.isfinite(v) & (v < best)
            best = torch.where(better, v, best)
            for bg, p in zip(best_grad, params, strict=True):
                if p.grad is None:
                    bg.masked_fill_(better, 0.0)
                else:
                    torch.where(better, p.grad.detach(), bg, out=bg)
    return scored, best_grad


def first_gradient(walk: Walk, closure: Callable[[], Any], start: tuple) -> None:
    """The first step: the gradient and loss at the starting weights (one call)."""
    walk.flags.scoring = True  # (not the step's loss: the winner's comes after)
    try:
        loss0 = call(walk, closure, True, start)
    finally:
        walk.flags.scoring = False
    walk.hold_grads(grads_now(walk.params))
    walk.walker["loss"] = float(reduce(torch.as_tensor(loss0), walk.sync)[0])


def reference_call(walk: Walk, closure, keep: bool, start: tuple) -> float:
    """w's own loss on this batch (one more call, its gradient not kept), which an adaptive
    grid without --stay compares the candidates with."""
    ref = call(walk, closure, keep, start)
    reference = float(reduce(torch.as_tensor(ref), walk.sync)[0])
    walk.walker["loss"] = reference
    return reference


def step_closure(walk: Walk, closure: Callable[[], Any], forward_only: bool) -> torch.Tensor:
    """One walker step on the closure's batch; returns the loss held after it (0-d)."""
    params = walk.params
    check_not_accumulated(params)
    device = params[0].device
    start = rng_state(device)
    first = any("walker_grad" not in walk.state[p] for p in params)
    if first:  # the gradient at the starting weights, then the walk's step
        first_gradient(walk, closure, start)
    elif reusing(walk):  # (reuse.py: one call at the reused rate, nothing scored)
        return reuse_closure(walk, closure, start)
    held = walk.walker["loss"]
    w = [p.detach().clone() for p in params]
    # the direction's u from the held gradient, its state fed with it (kept below only if
    # the walk takes a step: walker_tui.core.directions); sgd's u is the gradient itself
    g, fed = propose(walk, walk.grads())
    rates = walk.rates()
    keep = not forward_only
    reference: float | None = None  # w's loss on this batch, where an adaptive grid needs it
    calls = 1 if first else 0
    walk.flags.scoring = True
    try:
        if walk.adaptive and not walk.stay:
            if first:  # (the call above was on this batch)
                reference = walk.walker["loss"]
            else:
                reference, calls = reference_call(walk, closure, keep, start), calls + 1
                held = reference
        scored, best_grad = score(walk, closure, w, g, rates, keep, start)
        calls += len(rates)
    finally:
        walk.flags.scoring = False
    mine = torch.stack([s.to(device=device, dtype=wide_dtype(device)).reshape(()) for s in scored])
    local = mine.cpu().double().tolist()
    losses = reduce(mine, walk.sync).tolist()  # (averaged over the ranks of a distributed run)
    last = conclude(walk, w, g, fed, rates, losses, reference, calls)
    if last.moved:
        take_winner(walk, closure, (w, g), local, best_grad, keep, start)
        result = (
            torch.tensor(losses[last.winner]) if distributed(walk.sync) else scored[last.winner]
        )
    else:  # stay put: w and its gradient as they were (its loss on this batch, if known)
        result = torch.tensor(held if held is not None else math.nan)
    for p in params:
        p.grad = None
    walk.done()
    return result.reshape(())


def take_winner(walk: Walk, closure, line: tuple, local, best_grad, keep: bool, start) -> None:
    """The winner's gradient held for the next step: the one kept while scoring where this
    rank's own best is the agreed winner, else one more call at the winner."""
    last = walk.last
    finite = [i for i in range(len(local)) if math.isfinite(local[i])]
    kept = min(finite, key=lambda i: local[i]) if finite else -1
    if everywhere(keep and kept == last.winner, walk.sync, walk.params[0].device):
        new_grad = best_grad
    else:  # forward-only scoring, a tie, or another rank's winner: one call for it
        call(walk, closure, True, start)
        last.calls += 1
        new_grad = grads_now(walk.params)
        set_weights(walk.params, *line, last.lr)  # (the closure may have touched them)
    walk.hold_grads(new_grad)


def reuse_closure(walk: Walk, closure: Callable[[], Any], start: tuple) -> torch.Tensor:
    """A reused-rate step with a closure: one call, with grad, where the walk went."""
    moved = reuse_move(walk)
    value = torch.as_tensor(call(walk, closure, True, start)).detach()
    walk.hold_grads(grads_now(walk.params))
    for p in walk.params:
        p.grad = None
    loss = float(reduce(value, walk.sync)[0])  # (averaged over the ranks: one decision)
    reused(walk, moved, loss, 1)
    walk.done()
    return value.reshape(()) if not distributed(walk.sync) else torch.tensor(loss)
