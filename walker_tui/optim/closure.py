"""WalkerSGD's step with a closure (as torch.optim.LBFGS takes one): each candidate scored by
a closure call. A mixin of WalkerSGD (sgd.py), which holds the state and the decision; here
only the calls. Pure torch."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from walker_tui.core.ranking import wide_dtype
from walker_tui.optim.scoring import rng_state, set_rng, warn_at_user

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


class ClosureSteps:
    """The closure mode of WalkerSGD (its ``step(closure)``, the model not attached)."""

    _grad_on_warned = False

    def _call(self, closure: Callable[[], Any], grad: bool, params: list, start: tuple) -> Any:
        """One closure call from the step's random state (every candidate the same dropout
        mask), with grad enabled (fresh gradients) or under no_grad."""
        set_rng(start, params[0].device)
        for p in params:
            p.grad = None  # (a closure that forgets zero_grad still gets this point's own)
        if grad:
            with torch.enable_grad():
                return closure()
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
        if not self._grad_on_warned and any(p.grad is not None for p in params):
            self._grad_on_warned = True
            warn_at_user(GRAD_ON)
        return out

    @staticmethod
    def _grads(params: list[torch.Tensor]) -> list[torch.Tensor]:
        return [torch.zeros_like(p) if p.grad is None else p.grad.detach().clone() for p in params]

    @staticmethod
    def _check_not_accumulated(params: list[torch.Tensor]) -> None:
        held = [p.grad.detach().abs().amax() for p in params if p.grad is not None and p.numel()]
        if held and bool(torch.stack([h.float().cpu() for h in held]).amax() > 0):
            raise RuntimeError(ACCUMULATED)

    def _everywhere(self, flag: bool) -> bool:
        """``flag`` on every rank of a distributed run (each rank's closure call runs DDP's
        collectives, so all ranks make the same calls)."""
        if not self._distributed():
            return flag
        dist = torch.distributed
        device = "cpu" if dist.get_backend() == "gloo" else self._params()[0].device
        value = torch.tensor([int(flag)], device=device)
        dist.all_reduce(value, op=dist.ReduceOp.MIN)
        return bool(value.item())

    def _score(self, closure, params, w, g, rates, keep: bool, start: tuple):
        """Each candidate's loss by a closure call; with grad (``keep``), the gradient of the
        best so far is kept on the device (no host sync)."""
        device = params[0].device
        wide = wide_dtype(device)
        best = torch.full((), math.inf, dtype=wide, device=device)
        best_grad = [torch.zeros_like(p) for p in params] if keep else []
        scored = []
        for lr in rates:
            self._set(params, w, g, lr)
            value = torch.as_tensor(self._call(closure, keep, params, start)).detach()
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

    def _step_closure(self, closure: Callable[[], Any]) -> torch.Tensor:
        """One walker step on the closure's batch; returns the loss held after it (0-d)."""
        params = self._params()
        self._check_not_accumulated(params)
        walker = dict(self.state["walker"])  # (new dicts, so a state_dict taken before stays)
        device = params[0].device
        wide = wide_dtype(device)
        start = rng_state(device)
        calls = 0
        first = any("walker_grad" not in self.state[p] for p in params)
        if first:
            # the first step: the gradient at the starting weights, then the walk's step
            self.flags.scoring = True  # (not the step's loss: the winner's comes after)
            try:
                loss0 = self._call(closure, True, params, start)
            finally:
                self.flags.scoring = False
            calls += 1
            for p, gp in zip(params, self._grads(params), strict=True):
                self.state[p] = {**self.state[p], "walker_grad": gp}
            walker["loss"] = float(self._reduce(torch.as_tensor(loss0))[0])
            held_loss = torch.tensor(walker["loss"])
        elif self._reusing(walker):  # (reuse.py: one call at the reused rate, nothing scored)
            return self._reuse_closure(closure, params, walker, start)
        else:
            held_loss = torch.tensor(walker["loss"] if walker["loss"] is not None else math.nan)
        w = [p.detach().clone() for p in params]
        # the direction's u from the held gradient, its state fed with it (kept below only if
        # the walk takes a step: walker_tui.core.directions); sgd's u is the gradient itself
        g, fed = self._directions(params, walker, [self.state[p]["walker_grad"] for p in params])
        rates = self.rates
        keep = not self.forward_only
        reference: float | None = None  # w's loss on this batch, where an adaptive grid needs it
        self.flags.scoring = True
        try:
            if self.grid == "adaptive" and not self.stay:
                if first:  # (the call above was on this batch)
                    reference = walker["loss"]
                else:  # one more call, at w (its gradient is not kept)
                    ref = self._call(closure, keep, params, start)
                    calls += 1
                    reference = float(self._reduce(torch.as_tensor(ref))[0])
                    held_loss = torch.tensor(reference)
                    walker["loss"] = reference
            scored, best_grad = self._score(closure, params, w, g, rates, keep, start)
            calls += len(rates)
        finally:
            self.flags.scoring = False
        mine = torch.stack([s.to(device=device, dtype=wide).reshape(()) for s in scored])
        local = mine.cpu().double().tolist()
        losses = self._reduce(mine).tolist()  # (averaged over the ranks of a distributed run)
        self._conclude(params, walker, w, g, fed, rates, losses, reference, calls)
        last = self.last
        if last.moved:
            finite = [i for i in range(len(local)) if math.isfinite(local[i])]
            kept = min(finite, key=lambda i: local[i]) if finite else -1
            if self._everywhere(keep and kept == last.winner):
                new_grad = best_grad
            else:  # forward-only scoring, a tie, or another rank's winner: one call for it
                self._call(closure, True, params, start)
                calls += 1
                new_grad = self._grads(params)
                self._set(params, w, g, last.lr)  # (the closure may have touched them)
            for p, gp in zip(params, new_grad, strict=True):
                self.state[p] = {**self.state[p], "walker_grad": gp}
            distributed = self._distributed()
            result = torch.tensor(losses[last.winner]) if distributed else scored[last.winner]
        else:  # stay put: w and its gradient as they were (its loss on this batch, if known)
            result = held_loss
        for p in params:
            p.grad = None
        last.calls = calls
        self.state["walker"] = walker
        return result.reshape(())
