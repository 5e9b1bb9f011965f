"""A data-parallel walker over ``torch.distributed``: ``torchrun --nproc-per-node N -m walker_tui``.

Every rank holds its shard of the data (a contiguous part, :func:`problems.span`) and the same
weights. A loss or gradient is a mean over the data, so each rank evaluates its shard and one
all-reduce of the shard means weighted by the shard's share of the data gives every rank the
whole data's: the k candidates' losses (one k-vector, summed in float64 where the device has it)
and the winner's loss and gradient (one d+1 vector) an epoch. Every rank then picks the same
winner and walks on in step; the weights never travel. Rank 0 prints, records and draws.

Each rank builds the whole problem on the CPU from the seed first (the single-process data,
exactly), keeps what needs all of it (a Gram matrix, the minimum), then keeps its shard alone on
its device; weights start from rank 0's (a broadcast, as DistributedDataParallel does). Backend:
NCCL on CUDA (each rank on ``cuda:LOCAL_RANK``), gloo on the CPU.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from walker_tui.core.problems.base import Problem, span
from walker_tui.core.ranking import wide_dtype

# seconds a collective may wait for the other ranks before the job ends with an error (a rank
# that hangs); WALKER_TUI_TIMEOUT sets it
TIMEOUT = float(os.environ.get("WALKER_TUI_TIMEOUT", "120"))


def launched() -> bool:
    """Started by torchrun (or anything that sets its environment): RANK and WORLD_SIZE."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def active() -> bool:
    """A process group is up: the run is data-parallel (1 rank or more)."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world() -> int:
    return dist.get_world_size() if active() else 1


def ranks_note() -> str:
    """`` × 2 ranks`` beside a device's name under torchrun, else nothing."""
    if not active():
        return ""
    n = world()
    return f" × {n} rank{'s' * (n != 1)}"


def init(device_spec: str) -> torch.device:
    """Join the job torchrun started and return this rank's device: ``cuda:LOCAL_RANK`` with
    NCCL where CUDA is asked for (or ``auto`` finds it), else the CPU with gloo."""
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device_spec in ("auto", "cuda") and torch.cuda.is_available()
    if device_spec.startswith("cuda:"):
        raise ValueError("under torchrun each rank takes cuda:LOCAL_RANK: give --device cuda")
    if device_spec == "mps":
        raise ValueError("MPS has no collective backend: give --device cpu under torchrun")
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if not active():
        dist.init_process_group(
            "nccl" if cuda else "gloo",
            timeout=timedelta(seconds=TIMEOUT),
            **({"device_id": device} if cuda else {}),
        )
    return device


def finish() -> None:
    if active():
        dist.destroy_process_group()


def quiet_followers() -> None:
    """Ranks other than 0 print nothing (their failures excepted: :func:`failure_line`)."""
    if rank() != 0:
        devnull = open(os.devnull, "w")  # noqa: SIM115 (for the life of the process)
        sys.stdout = devnull
        sys.stderr = devnull


class Ended(BaseException):
    """torchrun ended this rank (SIGTERM): another rank failed, or the job was stopped."""


def end_on_sigterm() -> None:
    """Turn torchrun's SIGTERM into :class:`Ended`, so the rank says one line as it goes."""
    import signal

    def ended(signum: int, frame: object) -> None:
        raise Ended()

    signal.signal(signal.SIGTERM, ended)


def failure_line(command: str, error: BaseException, problem: str = "") -> str:
    """One line naming this rank and the cause; a collective broken by another rank's end says
    so, rather than blaming itself; an error in the user's own model names their line."""
    text = (str(error).strip().splitlines() or [""])[0][:200]
    if isinstance(error, Ended):
        return (
            f"walker-tui {command}: error: rank {rank()} of {world()} stopped: torchrun ended "
            "the job (another rank failed, or it was stopped)"
        )
    if ":" in problem and not isinstance(error, KeyboardInterrupt):
        from walker_tui.core.problems.user_model import spec_files, user_error

        theirs = user_error(error, problem, spec_files(problem))
        if "(at " in theirs:
            return f"walker-tui {command}: error: rank {rank()} of {world()} failed: {theirs}"
    signs = ("Connection closed by peer", "Connection reset", "Broken pipe", "timed out")
    signs += ("Timed out",)
    lost = next((words for words in signs if words in text), None)
    if lost is not None:  # this rank is fine: a peer ended (its own line says why) or hangs
        return (
            f"walker-tui {command}: error: rank {rank()} of {world()} stopped: another rank "
            f"ended or hung ({lost.lower()}; the limit is {TIMEOUT:g} s, WALKER_TUI_TIMEOUT)"
        )
    where = f"walker-tui {command}: error: rank {rank()} of {world()}"
    return f"{where} failed: {type(error).__name__}: {text}"


def say_failure(command: str, error: BaseException, problem: str = "") -> None:
    # the rank is going anyway: a SIGTERM from torchrun must not cut its one line short
    import signal

    try:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    except ValueError:  # not the main thread: keep the handler
        pass
    line = failure_line(command, error, problem)
    print(line, file=sys.__stderr__, flush=True)
    if rank() != 0 and command == "app":  # rank 0's app hid it (its screen goes): it reads this
        try:
            failure_file(rank()).write_text(line + "\n")
        except OSError:
            pass


def failure_file(of_rank: int) -> Any:
    """Where a rank on this box leaves its failure line for rank 0's app to print again once
    its screen is gone (the job's id keeps jobs apart)."""
    import tempfile
    from pathlib import Path

    job = os.environ.get("TORCHELASTIC_RUN_ID", "job").replace("/", "_")
    return Path(tempfile.gettempdir()) / f"walker-tui-{job}-rank{of_rank}.txt"


def others_failures() -> list[str]:
    """The failure lines other ranks on this box left (and the files gone)."""
    lines = []
    for other in range(1, int(os.environ.get("WORLD_SIZE", "1"))):
        path = failure_file(other)
        try:
            lines.append(path.read_text().strip())
            path.unlink()
        except OSError:
            continue
    return lines


class Sharded(Problem):
    """One rank's view of a problem whose data are shared out among the ranks: every loss and
    gradient it gives is the whole data's (see the module's docstring). ``full``: the whole
    problem on the CPU; kept (``keep_full``) only where the surface is drawn (rank 0 of the
    app), else dropped once the shard is cut."""

    def __init__(self, full: Problem, device: torch.device, keep_full: bool = False) -> None:
        r, n_ranks = rank(), world()
        if full.n < n_ranks:
            raise ValueError(
                f"{full.name} has {full.n} data points, fewer than the "
                f"{n_ranks} ranks that would share them"
            )
        self._min_loss = full.minimum_loss()  # on all the data, before it is cut
        self._rank_error = full.rank_error()  # (the whole sum's: the same on every rank)
        self.local = full.shard(r, n_ranks, device)
        self.full = full if keep_full else None
        self.name, self.device, self.seed = full.name, torch.device(device), full.seed
        self.n = int(full.n)
        self.batched = full.batched
        self.batch_size = full.batch_size
        self.global_line = full.global_line
        self.surface_width = full.surface_width
        self.notice = self.local.notice
        self.label = full.label or full.name
        w0 = self.local.w0.detach().clone().float()
        dist.broadcast(w0, src=0)  # every rank starts from rank 0's weights
        self.w0 = self.local.w0 = w0
        self._share = self._whole = self.local.n / self.n
        held = full.held
        self._held_share = len(self.local.held[0]) / len(held[0]) if held is not None else 0.0
        self._offset = span(self.n, r, n_ranks)[0]
        self._on_batch = False  # the same on every rank (a rank may hold none of a batch)

    # --- sums over the ranks ---

    def _sum(self, t: torch.Tensor, share: float) -> torch.Tensor:
        t = t * share
        dist.all_reduce(t)
        return t

    def losses(self, W: torch.Tensor) -> torch.Tensor:
        if self._share:
            part = self.local.losses(W).float()
        else:
            part = torch.zeros(W.shape[1], device=W.device)
        return self._sum(part, self._share)

    def rank_losses(self, W: torch.Tensor) -> torch.Tensor:
        wide = wide_dtype(W.device)  # (every rank's part in the same dtype: one collective)
        if self._share:
            part = self.local.rank_losses(W).to(wide)
        else:
            part = torch.zeros(W.shape[1], device=W.device, dtype=wide)
        return self._sum(part, self._share)

    def loss_grad(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._share:
            loss, grad = self.local.loss_grad(w)
        else:
            loss, grad = torch.zeros((), device=w.device), torch.zeros_like(w)
        packed = self._sum(torch.cat([loss.reshape(1).float(), grad.float()]), self._share)
        return packed[0], packed[1:]

    def line_deltas(
        self, grad: torch.Tensor, lrs: torch.Tensor, direction: torch.Tensor | None = None
    ) -> torch.Tensor | None:
        deltas = self.local.line_deltas(grad, lrs, direction)
        if deltas is None or self.global_line:
            return deltas
        return self._sum(deltas, self._whole)

    def rank_error(self) -> float:
        return self._rank_error

    def exact_step(self, grad: torch.Tensor) -> torch.Tensor:
        return self.local.exact_step(grad)  # (linear's Gram matrix is the whole data's)

    # --- what a run shows ---

    def minimum(self) -> torch.Tensor | None:
        return self.local.minimum()  # (found on all the data before the cut)

    def minimum_loss(self) -> float | None:
        return self._min_loss

    def plane(self) -> tuple[np.ndarray, np.ndarray]:
        return (self.full or self.local).plane()

    def view(self, W: torch.Tensor) -> torch.Tensor:
        return self.local.view(W)

    def metric_names(self) -> list[str]:
        return self.local.metric_names()

    def metrics(self, w: torch.Tensor) -> dict[str, torch.Tensor]:
        names = self.local.metric_names()
        if not names:
            return {}
        shares = [self._held_share if n.startswith("held-out") else self._whole for n in names]
        mine = self.local.metrics(w) if all(shares) else {}
        values = torch.stack(
            [
                mine[n].float().reshape(()) * s if s else torch.zeros((), device=self.device)
                for n, s in zip(names, shares, strict=True)
            ]
        )
        dist.all_reduce(values)
        return dict(zip(names, values, strict=True))

    # --- mini-batches: a global batch, each rank scoring the part of it that it holds ---

    @property
    def on_batch(self) -> bool:
        return self._on_batch

    def batches(self, size: int, epoch: int) -> Any:
        from walker_tui.core.problems.torch_model import pass_order

        yield from pass_order(self.n, self.seed, epoch).split(size)  # on the CPU

    def use_batch(self, idx: torch.Tensor | None) -> None:
        self._on_batch = idx is not None
        if idx is None:
            self.local.use_batch(None)
            self._share = self._whole
            return
        idx = idx.cpu()
        mine = idx[(idx >= self._offset) & (idx < self._offset + self.local.n)] - self._offset
        self._share = len(mine) / len(idx)
        self.local.use_batch(mine.to(self.device) if len(mine) else None)

    def full_loss(self, w: torch.Tensor, held: bool = False) -> torch.Tensor:
        share = self._held_share if held else self._whole
        part = self.local.full_loss(w, held).float() if share else torch.zeros((), device=w.device)
        return self._sum(part, share)

    # --- the surface: the whole problem where it is kept, else this rank's shard ---

    @property
    def data_points(self) -> int:
        return self.n if self.full is None else self.full.data_points

    def surface(self, points: torch.Tensor) -> np.ndarray:
        return (self.full or self.local).surface(points)

    def sample(self, m: int) -> Problem:
        return (self.full or self.local).sample(m)

    def summary(self, cancel: Any = None) -> Problem | None:
        return (self.full or self.local).summary(cancel)


# --- the app under torchrun: rank 0 draws and takes the keys, the other ranks follow ---
#
