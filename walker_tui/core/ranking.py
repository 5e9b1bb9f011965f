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


def pick_winner(
    deltas: torch.Tensor, order: torch.Tensor | None = None, slack: torch.Tensor | None = None
) -> torch.Tensor:
    """The index of the best candidate, on the device (no host sync).

    ``deltas`` are the candidates' losses, or better their changes from the current loss (inf
    where not finite: the walker masks them); ``order`` is ``argsort`` of their rates, or None
    where the rates are already ascending (every built-in grid). Ranked by the change,
    candidates are told apart at the precision of the change itself, not of the loss, which near
    an optimum is all the same digits.

    Ties (losses equal at the precision they were computed in) go to the candidate with the
    median rate among the tied ones, not to the first. Why: along the gradient line a smooth loss
    is convex near its minimum, so the rates whose losses tie for the lowest value form an
    interval that holds the line's minimiser; its middle is the best guess of that minimiser.
    "First wins" takes the smallest such rate, and a walk near an optimum, where many candidates
    round to the same float32 loss, then creeps at the grid's smallest rate.

    ``slack`` (a 0-d tensor, or None for exact ties): candidates within it of the lowest tie
    with it. Where the losses are sums of terms computed in float32, two candidates closer than
    the sum's rounding-error bound (:func:`rounding_slack`) are not told apart by the loss but
    by its rounding: near an optimum the winner then jumped between rates on that noise, and
    one process and N ranks under torchrun (the same sums in another order, the same weights
    to the last bit or two) picked different rates. As ties, they go to the median rule.

    Counted in rate order: with ``seen`` the running count of tied candidates and m of them in
    all, the median one (the lower middle for even m), the ceil(m / 2)-th, sits where
    ``2 * seen >= m`` first holds, which is at the number of places where it does not. A handful
    of small ops and no sort: on a GPU every op is a launch, and this runs every epoch.
    """
    best = deltas.min()
    tied = deltas == best if slack is None else deltas <= best + slack
    if order is not None:
        tied = tied[order]
    seen = torch.cumsum(tied, 0)
    place = (2 * seen < seen[-1]).sum()
    return place if order is None else at(order, place)


def rounding_slack(losses: torch.Tensor, relative: float) -> torch.Tensor | None:
    """The rounding-error bound of the lowest finite loss of ``losses``, ``relative`` times its
    size (a problem's ``Problem.rank_error``, walker_tui.core.problems.base), as a 0-d tensor on
    the device (no host sync); None where the problem's ranking is exact (``relative`` 0)."""
    if relative <= 0:
        return None
    finite = torch.where(torch.isfinite(losses), losses.abs(), torch.inf)
    smallest = finite.min()
    return torch.where(torch.isfinite(smallest), smallest * relative, 0.0)


def rate_order(rates: list[float], device: torch.device) -> torch.Tensor | None:
    """``argsort`` of the rates for :func:`pick_winner` (ties in index order), or None when they
    are ascending already."""
    if all(a <= b for a, b in zip(rates, rates[1:], strict=False)):
        return None
    order = sorted(range(len(rates)), key=lambda i: rates[i])
    return torch.tensor(order, dtype=torch.long, device=device)


def at(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``values[index]`` for a 0-d index tensor, as a 0-d tensor, without a host sync: plain
    indexing with a 0-d tensor reads it back to the host (``.item()``), a GPU sync each time."""
    return values.index_select(0, index.reshape(1)).reshape(())
