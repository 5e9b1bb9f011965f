"""Where float64 work may run, and how the walker ranks candidates that float32 cannot separate.

Pure torch, no UI. Apple's MPS has no float64 at all (a float64 tensor on it, or ``.double()`` of
one of its tensors, raises), so float64 work runs on the device only where the device has it, and
otherwise on the CPU, after the move: ``t.cpu().double()``, never ``t.double().cpu()``.
"""

from __future__ import annotations

import torch


def has_float64(device: torch.device) -> bool:
    """Can this device hold float64 tensors? (CPU and CUDA can; Apple MPS cannot.)"""
    return torch.device(device).type != "mps"


def wide_dtype(device: torch.device) -> torch.dtype:
    """The widest float the device computes in: float64, or float32 on MPS."""
    return torch.float64 if has_float64(device) else torch.float32


def float64_home(device: torch.device) -> torch.device:
    """Where a float64 copy of the device's data can live: the device itself, else the CPU."""
    device = torch.device(device)
    return device if has_float64(device) else torch.device("cpu")


def host64(t: torch.Tensor) -> torch.Tensor:
    """A float64 copy of ``t`` on the CPU, moved first and widened there."""
    return t.detach().to("cpu").to(torch.float64)


def float64_on(t: torch.Tensor, home: torch.device) -> torch.Tensor:
    """A float64 copy of ``t`` on ``home`` (see :func:`float64_home`): widened on the CPU when
    the home is the CPU, so a tensor on a device without float64 is moved before it widens."""
    if torch.device(home).type == "cpu":
        return host64(t)
    return t.detach().to(home).to(torch.float64)


def to_device(t: torch.Tensor, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``t`` as ``dtype`` on ``device``, converted on the CPU side of the move (a float64 CPU
    tensor cast for MPS is narrowed before it travels)."""
    if t.device.type == "cpu":
        return t.to(dtype).to(device)
    return t.to(device).to(dtype)


def pick_winner(deltas: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """The index of the best candidate, on the device (no host sync).

    ``deltas`` are the candidates' losses, or better their changes from the current loss (inf
    where not finite: the walker masks them); ``order`` is ``argsort`` of their rates. Ranked by
    the change, candidates are told apart at the precision of the change itself, not of the loss,
    which near an optimum is all the same digits.

    Ties (losses equal at the precision they were computed in) go to the candidate with the
    median rate among the tied ones, not to the first. Why: along the gradient line a smooth loss
    is convex near its minimum, so the rates whose losses tie for the lowest value form an
    interval that holds the line's minimiser; its middle is the best guess of that minimiser.
    "First wins" takes the smallest such rate, and a walk near an optimum, where many candidates
    round to the same float32 loss, then creeps at the grid's smallest rate.

    Counted in rate order, the median tied candidate is the first whose running count of tied
    candidates reaches (m + 1) // 2 of the m tied: a handful of small ops and no sort, which
    matters on a GPU, where every op is a launch and this runs every epoch.
    """
    tied = (deltas == deltas.min())[order]
    seen = torch.cumsum(tied, 0)
    return at(order, torch.argmax((seen >= (seen[-1] + 1) // 2).to(torch.uint8)))


def at(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``values[index]`` for a 0-d index tensor, as a 0-d tensor, without a host sync: plain
    indexing with a 0-d tensor reads it back to the host (``.item()``), a GPU sync each time."""
    return values.index_select(0, index.reshape(1)).reshape(())


def rate_order(rates: torch.Tensor) -> torch.Tensor:
    """``argsort`` of the rates, ties in index order: what :func:`pick_winner` counts along."""
    return torch.argsort(rates, stable=True)
