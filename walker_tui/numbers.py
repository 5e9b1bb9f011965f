"""How losses and outcomes are written, everywhere: ``run``, ``bench``, the status line, the
summary and the panels. Torch-free and UI-free.

One rule: a printed loss never rounds to a value that contradicts its comparison with the target.
The notebook's three decimals stay where they show the value (0.094, 287112.469); smaller values
get significant digits (1.25e-05); and where either would cross or touch the target (0.09986
against 0.1 is not "0.100"), digits are added until the printed value compares as the loss does.
"""

from __future__ import annotations

import math
from typing import Protocol


def format_loss(value: float, target: float | None = None) -> str:
    """A loss with enough digits to show it, and to compare it with ``target`` (when > 0)."""
    v = float(value)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0 or 0.01 <= abs(v) < 1e9:
        candidates = [f"{v:.{d}f}" for d in range(3, 13)]
    else:
        candidates = []
    candidates += [f"{v:.{d}g}" for d in range(3, 18)]
    for text in candidates:
        if _honest(float(text), v, target):
            return text
    return repr(v)


def _honest(shown: float, v: float, target: float | None) -> bool:
    """The shown value is not 0 unless the loss is, and compares with the target as it does."""
    if shown == 0 and v != 0:
        return False
    if target is None or target <= 0:
        return True
    return (shown < target) == (v < target) and (shown == target) == (v == target)


def format_eps(eps: float) -> str:
    """Epochs a second: whole numbers from 10 up (3360, not 3360.0), two digits below (0.5)."""
    if eps >= 10:
        return f"{eps:.0f}"
    return f"{eps:.2g}"


def format_target(target: float) -> str:
    """The target as the user gave it."""
    return f"{target:g}"


class OutcomeLike(Protocol):
    state: str  # "reached", "limit", "diverged" or "stopped"
    epochs: int
    loss: float


def describe_outcome(name: str, outcome: OutcomeLike, target: float, unit: str = "epoch") -> str:
    """One trainer's outcome in a few words: a trainer that reached the target reads differently
    from one that stopped at the epoch limit, or diverged (``unit``: what a row is, a WalkerSGD
    recording's is a step)."""
    if outcome.state == "diverged":
        return f"{name} diverged at {unit} {outcome.epochs}"
    loss = format_loss(outcome.loss, target)
    count = epochs(outcome.epochs, unit)
    if outcome.state == "reached":
        return f"{name} {loss} in {count}"
    if outcome.state == "limit" and target > 0:
        return f"{name} {loss} after {count}, target not reached"
    return f"{name} {loss} after {count}"


def format_metric(name: str, value: float) -> str:
    """A model's figure beside the loss: accuracies in percent (one decimal: 1 in 1,000 samples
    moves it), losses as losses."""
    if "accuracy" in name:
        return "nan" if math.isnan(value) else f"{100 * value:.1f}%"
    return format_loss(value)


def format_metrics(metrics: dict[str, float] | None) -> str:
    """``held-out loss 0.241, held-out accuracy 93.6%`` (empty without any)."""
    return ", ".join(f"{k} {format_metric(k, v)}" for k, v in (metrics or {}).items())


def epochs(count: int, unit: str = "epoch") -> str:
    """``1 epoch``, ``11 epochs`` (``unit="step"``: ``11 steps``)."""
    return f"{count} {unit}{'s' * (count != 1)}"


def rates(count: int, stay: bool = False) -> str:
    """``1 rate``, ``9 rates``, ``9 rates + stay`` (--stay's zero-rate candidate)."""
    return f"{count} rate{'s' * (count != 1)}" + (" + stay" if stay else "")
