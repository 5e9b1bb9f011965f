"""The trainers' loop: the epoch records (Epoch on the device, HostEpoch on the host), the Trainer
protocol, the helpers every trainer shares, and advance/run, which drive any trainer."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from walker_tui.core.decision import rate_taken
from walker_tui.core.problems.base import Problem
from walker_tui.core.ranking import host64


@dataclass
class Epoch:
    """One epoch's record: the k candidates tried, their losses and the winner (device tensors)."""

    epoch: int
    weights: torch.Tensor  # d x k candidate weight vectors
    losses: torch.Tensor  # k candidate losses (the winner's is its exact loss)
    winner: torch.Tensor  # 0-d index of the winner; meaningless when no loss is finite
    loss: torch.Tensor  # 0-d: the winner's loss, the number the notebook printed
    finite: torch.Tensor  # 0-d bool: did any candidate have a finite loss?
    rates: torch.Tensor  # the k rates tried this epoch (they move with --grid adaptive)
    moved: torch.Tensor  # 0-d bool: did the walk take the winner's step (adaptive may stay put)
    w: torch.Tensor  # d: the weights the trainer holds after the epoch (where it walks on from)
    evals: int = 0  # loss evaluations so far, counted as they happened (the trainer's count)
    metrics: dict[str, torch.Tensor] | None = None  # 0-d: a model's held-out loss, accuracy
    # False: the step reused a rate (walker_tui.core.schedule) and scored no candidate; the
    # candidates, losses and rates are then the last scored step's
    scored: bool = True
    taken: float | None = None  # the rate reused (None: the winner's, or 0 if it stayed put)


@dataclass
class HostEpoch:
    """An :class:`Epoch` on the host, as plain numbers."""

    epoch: int
    weights: np.ndarray
    losses: np.ndarray
    winner: int
    lr: float  # the rate of the step taken (0.0 when the walk stayed put)
    loss: float  # the loss held after the epoch, where the trainer walks on from
    diverged: bool
    rates: np.ndarray
    moved: bool = True
    w: np.ndarray | None = None  # the weights held after the epoch (None: the winner's)
    evals: int = 0  # loss evaluations so far, as the trainer counted them
    seconds: float = 0.0  # wall time spent training so far (filled in by the Session)
    metrics: dict[str, float] | None = None  # a model's held-out loss and accuracy
    scored: bool = True  # False: a reused rate, no candidate scored (Epoch.scored)

    @property
    def position(self) -> np.ndarray:
        """Where the trainer stands after the epoch: the winner, unless an adaptive walk stayed
        put because every candidate raised its loss."""
        return self.weights[:, self.winner] if self.w is None else self.w


class Trainer(Protocol):
    """What a Session, ``advance`` and ``run`` need of a trainer: the walker and every racer.

    A reset to a past epoch is ``load_state_dict`` of the state saved there: it brings back
    everything ``step`` reads (the walker's grid, momentum's velocity, Adam's moments), so the
    epochs that follow are the ones that followed before. ``reset()`` is the start: w0, epoch 0.
    """

    kind: str
    problem: Problem
    epoch: int  # epochs taken
    rates: list[float]  # the rates it starts with (the walker's grid; a racer's one rate)
    # loss evaluations so far, counted as they happen (a line search spends a varying number an
    # epoch): what a fair race counts; part of state_dict, so a rewind brings it back too
    evaluations: int

    @property
    def fixed_rates(self) -> list[float] | None:
        """The rates every epoch tries, when they never change (None: read them back each time)."""
        ...

    def step(self) -> Epoch:
        """Run one epoch and return its record (device tensors)."""
        ...

    def reset(self) -> None:
        """Back to the start: w0 at epoch 0, with no state carried over."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything ``step`` reads, copied: load it later to go back to this epoch."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Go back to the epoch a ``state_dict`` was taken at."""
        ...


def trainer_w0(problem: Problem, w0: torch.Tensor | None) -> torch.Tensor:
    """The start a trainer holds: ``w0`` (None: the problem's own), float32 on its device."""
    start = problem.w0 if w0 is None else w0
    return start.to(device=problem.device, dtype=torch.float32).clone()


def restart(trainer: Any) -> None:
    """What every trainer's reset shares: w0 at epoch 0, nothing evaluated, no gradient yet."""
    trainer.epoch = 0
    trainer.evaluations = 0
    trainer.w = trainer.w0.clone()
    trainer.grad = None
    trainer.loss = None


def copied(state: dict[str, Any]) -> dict[str, Any]:
    """A copy of a state whose tensors are cloned (on their device: no sync)."""
    return {
        k: v.clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v) for k, v in state.items()
    }


def to_host(epochs: Sequence[Epoch], rates: Sequence[float] | None = None) -> list[HostEpoch]:
    """Move a batch of epochs to the host in one transfer per field."""
    if not epochs:
        return []
    weights = torch.stack([e.weights for e in epochs]).cpu().numpy()
    losses = torch.stack([e.losses for e in epochs]).cpu().numpy()
    winners = torch.stack([e.winner for e in epochs]).cpu().numpy()
    loss = torch.stack([e.loss for e in epochs]).cpu().numpy()
    finite = torch.stack([e.finite for e in epochs]).cpu().numpy()
    moved = torch.stack([e.moved for e in epochs]).cpu().numpy()
    held = torch.stack([e.w for e in epochs]).cpu().numpy()
    metrics: list[dict[str, float] | None] = [None] * len(epochs)
    if epochs[0].metrics:
        names = list(epochs[0].metrics)
        values = torch.stack([torch.stack([e.metrics[k] for k in names]) for e in epochs])
        metrics = [dict(zip(names, row, strict=True)) for row in host64(values).tolist()]
    if rates is not None:  # a fixed grid: its exact values, no need to read the copies back
        tried = np.broadcast_to(np.asarray(rates, dtype=np.float64), (len(epochs), len(rates)))
    else:
        tried = torch.stack([e.rates for e in epochs]).cpu().numpy().astype(np.float64)
    return [
        HostEpoch(
            e.epoch,
            weights[i],
            losses[i],
            int(winners[i]),
            _taken(e, tried[i], int(winners[i]), bool(moved[i])),
            float(loss[i]),
            not bool(finite[i]),
            tried[i],
            bool(moved[i]),
            held[i],
            e.evals,
            metrics=metrics[i],
            scored=e.scored,
        )
        for i, e in enumerate(epochs)
    ]


def _taken(e: Epoch, tried: np.ndarray, winner: int, moved: bool) -> float:
    """The rate of the step an epoch took: a reused rate, else the winner's (0.0: it stayed
    put)."""
    return rate_taken(tried, winner, moved) if e.taken is None else e.taken


@dataclass
class Outcome:
    """How a run ended: ``reached`` (the loss went below the target), ``limit`` (the epoch limit
    came first), ``diverged`` or ``stopped`` (cancelled)."""

    state: str
    epochs: int
    loss: float


def host_batch(device: torch.device) -> int:
    """Epochs between host transfers: every epoch on the CPU (transfers are free), 16 on a GPU
    (one sync per batch, not per epoch)."""
    return 1 if device.type == "cpu" else 16


def stop_outcome(rec: HostEpoch, min_loss: float, epochs: int) -> Outcome | None:
    """The outcome if this epoch ends the run: no finite candidate, the target, or the limit."""
    if rec.diverged:
        return Outcome("diverged", rec.epoch, rec.loss)
    if rec.loss < min_loss:
        return Outcome("reached", rec.epoch, rec.loss)
    if rec.epoch >= epochs:
        return Outcome("limit", rec.epoch, rec.loss)
    return None


def advance(
    trainer: Trainer, count: int, min_loss: float, epochs: int
) -> tuple[list[HostEpoch], Outcome | None]:
    """Up to ``count`` epochs on the device, then one transfer to the host. If the run ends inside
    the batch, the records stop there and the trainer goes back to that epoch (the state saved
    before the batch, then the batch's epochs up to the stop again: exact for every trainer)."""
    count = min(count, epochs - trainer.epoch)
    saved = trainer.state_dict() if count > 1 else None
    records = to_host([trainer.step() for _ in range(count)], trainer.fixed_rates)
    for i, rec in enumerate(records):
        outcome = stop_outcome(rec, min_loss, epochs)
        if outcome is not None:
            if saved is not None and rec.epoch != trainer.epoch:
                trainer.load_state_dict(saved)
                for _ in range(i + 1):
                    trainer.step()
            return records[: i + 1], outcome
    return records, None


def run(
    trainer: Trainer,
    epochs: int = 100,
    min_loss: float = 0.1,
    stop: threading.Event | None = None,
    on_epoch: Callable[[HostEpoch], None] | None = None,
    sync_every: int = 1,
) -> Outcome:
    """Train until the printed loss is below ``min_loss``, ``epochs`` have run, or divergence.

    ``sync_every`` > 1 runs that many epochs on the device between host transfers (one sync per
    batch, not per epoch); when a stop condition falls inside a batch the trainer is rewound to that
    epoch, so the result is the same as with ``sync_every=1``.
    """
    last: HostEpoch | None = None
    while trainer.epoch < epochs and not (stop is not None and stop.is_set()):
        records, outcome = advance(trainer, sync_every, min_loss, epochs)
        for rec in records:
            last = rec
            if on_epoch is not None:
                on_epoch(rec)
        if outcome is not None:
            return outcome
    if last is None:
        return Outcome("stopped", trainer.epoch, float("nan"))
    return Outcome("stopped", last.epoch, last.loss)
