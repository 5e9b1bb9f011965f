"""Batched: a trainer on a model problem, epoch by epoch, each epoch a pass over the data in
mini-batches (the walker and every racer go through it on a model problem)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from walker_tui.core.trainers.loop import Epoch


class Batched:
    """A trainer on a model problem, epoch by epoch: the notebook's loop with a mini-batch in
    place of the full data. Epoch 1 is the start, on all the data (its loss and gradient at w0);
    every later epoch is one pass over the data shuffled by the seed, and each step of it is the
    inner trainer's step on a fresh mini-batch (the walker scores its k candidates on that batch
    and the winner's gradient on that same batch makes the next candidates). An epoch's record
    is its last step's (the candidates' losses on the last batch) with the loss on all the
    training data at the epoch's end, which the curve shows and the target is tested on; that
    evaluation is the display's, not the optimizer's, and is not counted. Without a batch size,
    an epoch is one step on all the data, as the notebook ran it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.problem = inner.problem
        self.kind = inner.kind
        self.rates = inner.rates
        self.epoch = 0

    def __getattr__(self, name: str) -> Any:  # w, grad, k, lrs...: the inner trainer's
        if name == "inner":  # (not set yet: a copy under construction)
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def evaluations(self) -> int:
        return self.inner.evaluations

    @property
    def fixed_rates(self) -> list[float] | None:
        return self.inner.fixed_rates

    def reset(self) -> None:
        self.inner.reset()
        self.epoch = 0

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "inner": self.inner.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = state["epoch"]
        self.inner.load_state_dict(state["inner"])

    def step(self) -> Epoch:
        p: Any = self.problem
        size = p.batch_size
        whole = getattr(self.inner, "full_batch", False)  # (lbfgs: a full-batch method)
        if self.epoch == 0 or not size or size >= p.n or whole:
            p.use_batch(None)
            rec = self.inner.step()
        else:
            for idx in p.batches(size, self.epoch):
                p.use_batch(idx)
                rec = self.inner.step()
            p.use_batch(None)
            loss = p.full_loss(self.inner.w)
            rec = replace(rec, loss=loss, finite=rec.finite & torch.isfinite(loss))
        self.epoch += 1
        return replace(rec, epoch=self.epoch, metrics=p.metrics(self.inner.w))
