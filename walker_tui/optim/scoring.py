"""Scoring WalkerSGD's candidates on the batch a model's forward is about to see (the attached
mode, ``WalkerSGD(..., model=module)``): forward only, in one ``torch.func.vmap`` over the
candidates where the model allows (as the engine scores a model problem:
core/problems/torch_model.py), else one candidate at a time. Scoring changes no buffer of the
model (each candidate runs on its own copy of them) and every candidate sees the same random
numbers (one dropout mask a step); the global random state is as it was before scoring.
Pure torch, no UI."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

__all__ = [
    *("LossError", "Scorer", "loss_of", "rng_state", "same_randomness", "set_rng"),
    *("unwrapped", "warn_at_user"),
]


# packages between the user's code and the step: a warning skips their frames (Lightning's
# precision plugin, the Trainer's loop) to land on the user's line (``trainer.fit(...)``)
NOT_USER = (
    *("walker_tui.", "torch.", "lightning.", "pytorch_lightning.", "lightning_fabric."),
    *("transformers.", "accelerate."),
)


def warn_at_user(message: str, category: type[Warning] = UserWarning) -> None:
    """Warn at the first line outside walker_tui, torch and the training frameworks that call
    step (Lightning, Hugging Face's Trainer, Accelerate): the user's loop, or their
    ``trainer.fit(...)`` / ``trainer.train()``."""
    level, frame = 1, sys._getframe(0)
    while frame is not None and frame.f_globals.get("__name__", "").startswith(NOT_USER):
        level, frame = level + 1, frame.f_back
    warnings.warn(message, category, stacklevel=level)


class LossError(ValueError):
    """The attached model's output gives no scalar loss: the message says what was expected."""


NO_LOSS = (
    "WalkerSGD (attached to a model) scores candidates with the model's forward, and needs its "
    "loss: an output with .loss (a Hugging Face model given labels), a dict with 'loss', a "
    "scalar tensor (a forward that returns the loss), or loss_fn=f, called as "
    "f(output, *inputs, **kw_inputs) with the forward's own inputs"
)


def loss_of(output: Any, args: tuple, kwargs: dict, loss_fn: Callable[..., Any] | None) -> Any:
    """The scalar loss of one forward's ``output`` (see NO_LOSS for what is accepted)."""
    if loss_fn is not None:
        loss = loss_fn(output, *args, **kwargs)
    elif isinstance(output, torch.Tensor):
        loss = output
    elif getattr(output, "loss", None) is not None:
        loss = output.loss
    elif isinstance(output, dict) and output.get("loss") is not None:
        loss = output["loss"]
    else:
        raise LossError(f"{NO_LOSS}; got a {type(output).__name__} with no loss")
    if not isinstance(loss, torch.Tensor):
        raise LossError(f"{NO_LOSS}; the loss is a {type(loss).__name__}, not a tensor")
    if loss.numel() != 1:
        raise LossError(
            f"{NO_LOSS}; the loss has shape {tuple(loss.shape)}, not a scalar (reduce it: "
            ".mean()). A model's logits are not its loss: give loss_fn"
        )
    return loss.reshape(())


def unwrapped(model: torch.nn.Module) -> torch.nn.Module:
    """The module itself inside DistributedDataParallel (its hooks run when DDP calls it)."""
    ddp = torch.nn.parallel.DistributedDataParallel
    return model.module if isinstance(model, ddp) else model


def rng_state(device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    extra = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.get_rng_state(), extra


def set_rng(state: tuple[torch.Tensor, torch.Tensor | None], device: torch.device) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


@contextmanager
def same_randomness(device: torch.device) -> Iterator[tuple]:
    """Run a block and put the random state back as it was; yields that state, so each
    candidate can start from it (the same dropout mask for all)."""
    state = rng_state(device)
    try:
        yield state
    finally:
        set_rng(state, device)


class Scorer:
    """Scores candidates ``w - rate * u`` of the optimizer's parameters ``params`` through
    ``module``'s forward on given inputs. ``vmapped``: try one vmapped pass first (a model
    that cannot be vmapped falls back to one candidate at a time, with one warning)."""

    def __init__(
        self,
        module: torch.nn.Module,
        params: list[torch.Tensor],
        loss_fn: Callable[..., Any] | None = None,
        vmapped: bool = True,
    ) -> None:
        self.module, self.loss_fn, self.vmapped = module, loss_fn, vmapped
        where = {id(p): i for i, p in enumerate(params)}
        named = [(n, where[id(p)]) for n, p in module.named_parameters() if id(p) in where]
        if len(named) != len(params):
            raise ValueError(
                f"WalkerSGD(model=...): {len(params) - len(named)} of the optimizer's parameters "
                "are not the model's: attach the module that holds them all"
            )
        self.names = [n for n, _ in named]
        self.index = [i for _, i in named]
        self.busy = False  # scoring: the module's own hooks see its forward called again
        self.works = False  # a vmapped pass succeeded (from then on, an error is raised)
        self.notice: str | None = None

    def _loss(self, args: tuple, kwargs: dict, params: dict, buffers: dict) -> torch.Tensor:
        out = torch.func.functional_call(self.module, {**params, **buffers}, args, kwargs)
        return loss_of(out, args, kwargs, self.loss_fn)

    def losses(
        self, w: list[torch.Tensor], u: list[torch.Tensor], rates: list[float], args: tuple,
        kwargs: dict,
    ) -> torch.Tensor:  # fmt: skip
        """Each candidate's loss (k,) on the inputs, forward only; buffers and the random
        state as they were."""
        self.busy = True
        try:
            with torch.no_grad(), same_randomness(w[0].device) as start:
                if self.vmapped:
                    out = self._vmapped(w, u, rates, args, kwargs)
                    if out is not None:
                        return out
                return self._one_by_one(w, u, rates, args, kwargs, start)
        finally:
            self.busy = False

    def _vmapped(self, w, u, rates, args, kwargs) -> torch.Tensor | None:
        k = len(rates)
        params = {}
        for name, i in zip(self.names, self.index, strict=True):
            r = torch.tensor(rates, dtype=w[i].dtype, device=w[i].device)
            params[name] = w[i][None] - r.view(k, *([1] * w[i].dim())) * u[i][None]
        # each candidate its own copy of the buffers: an in-place update (batch norm's running
        # statistics) then runs batched, and the model's own buffers are never touched
        buffers = {n: b.unsqueeze(0).expand(k, *b.shape).clone()
                   for n, b in self.module.named_buffers()}  # fmt: skip

        def one(p: dict, b: dict) -> torch.Tensor:
            return self._loss(args, kwargs, p, b)

        run = torch.func.vmap(one, in_dims=(0, 0), randomness="same")
        try:
            out = run(params, buffers)
        except LossError:
            raise
        except Exception as error:  # noqa: BLE001 (any model vmap cannot trace: one at a time)
            if self.works:
                raise
            self.vmapped = False
            first = (str(error).strip().splitlines() or [""])[0][:160]
            self.notice = (
                "WalkerSGD: candidates scored one at a time: the model cannot be vmapped "
                f"({type(error).__name__}: {first})"
            )
            warn_at_user(self.notice, RuntimeWarning)
            return None
        self.works = True
        return out.reshape(k)

    def _one_by_one(self, w, u, rates, args, kwargs, start) -> torch.Tensor:
        device = w[0].device
        out = []
        for rate in rates:
            set_rng(start, device)  # every candidate the same random numbers
            params = {name: w[i] if rate == 0.0 else w[i] - rate * u[i]
                      for name, i in zip(self.names, self.index, strict=True)}  # fmt: skip
            buffers = {n: b.clone() for n, b in self.module.named_buffers()}
            out.append(self._loss(args, kwargs, params, buffers))
        return torch.stack(out)
