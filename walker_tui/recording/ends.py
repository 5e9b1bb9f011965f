"""How a recording ends: the end record every writer closes its file with, and its words.

An end record is a small JSON object, ``{"outcome": ..., "epoch": N, "how": ..., "time": T}``:
``outcome`` is one of :data:`OUTCOMES`; ``epoch`` the last epoch (or step) written; ``how`` an
optional detail (the signal of an interrupt, the error that stopped a run); ``time`` the wall
clock (seconds since 1970) when it was written. A file without one was cut short (a kill, a
crash, power loss) or is still being written. Plain Python: no numpy, no torch.
"""

from __future__ import annotations

import math
import time
from typing import Any

# outcome -> what it says on screen
OUTCOMES = {
    "reached": "target reached",
    "limit": "epoch limit",
    "diverged": "diverged",
    "interrupted": "interrupted",
    "closed": "closed by the script",
    "failed": "stopped by an error",
    "saved": "saved from the app while the run went on",
}
NO_END = "no end record: cut short, or still being written"


def end_record(outcome: str, epoch: int | None = None, how: str | None = None) -> dict[str, Any]:
    """The end record of a file (``outcome`` one of :data:`OUTCOMES`)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown end outcome {outcome!r}; use {', '.join(OUTCOMES)}")
    end: dict[str, Any] = {"outcome": outcome}
    if epoch is not None:
        end["epoch"] = int(epoch)
    if how:
        end["how"] = str(how)
    end["time"] = round(time.time(), 3)
    return end


def as_end(value: Any) -> dict[str, Any] | None:
    """An end record read from a file, or None where it is not one (an old or foreign file)."""
    if not isinstance(value, dict) or value.get("outcome") not in OUTCOMES:
        return None
    return value


def describe_end(end: dict[str, Any] | None, unit: str = "epoch") -> str:
    """``closed by the script at step 480``, ``interrupted (Terminated) at epoch 50``, or
    :data:`NO_END` for a file without an end record."""
    if end is None:
        return NO_END
    words = OUTCOMES.get(end.get("outcome", ""), str(end.get("outcome")))
    how = end.get("how")
    if how:
        words += f" ({how})"
    epoch = end.get("epoch")
    if isinstance(epoch, int):
        words += f" at {unit} {epoch}"
    elif end.get("outcome") != "saved":
        words += f" before its first {unit}"
    return words


def unit_of(options: dict[str, Any]) -> str:
    """What a recording's row is: ``step`` for WalkerSGD's (one optimizer step, a batch),
    ``epoch`` for ``run --record`` and the app's ``w`` (one pass of the problem's epoch)."""
    unit = options.get("unit")
    if unit in ("epoch", "step"):
        return unit
    return "step" if options.get("source") == "WalkerSGD" else "epoch"


def outcome_of_exit(kind: type[BaseException] | None) -> tuple[str, str | None]:
    """(outcome, how) of a block left with the exception ``kind`` (None: left normally)."""
    if kind is None:
        return "closed", None
    if issubclass(kind, KeyboardInterrupt):
        return "interrupted", "Ctrl+C" if kind is KeyboardInterrupt else kind.__name__
    if issubclass(kind, SystemExit):
        return "closed", "sys.exit"
    return "failed", kind.__name__


def check_metric(name: Any, value: Any) -> float:
    """A logged metric's value as a float; raises TypeError (not a number) or ValueError (nan,
    inf, a bad name) naming the metric, so a file never gets a value it cannot hold."""
    if not isinstance(name, str) or not name.strip() or "\n" in name:
        raise ValueError(f"metric name {name!r}: give a name of one line (acc=0.9)")
    if isinstance(value, bool) or value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"metric {name!r}: {value!r} is not a number")
    item = getattr(value, "item", None)
    if callable(item):  # a 0-d tensor or numpy scalar
        numel = getattr(value, "numel", None) or getattr(value, "size", None)
        count = numel() if callable(numel) else numel
        if count is not None and count != 1:
            raise TypeError(f"metric {name!r}: holds {count} values, not one number")
        try:
            value = item()
        except (ValueError, RuntimeError) as error:
            raise TypeError(f"metric {name!r}: not one number ({error})") from None
        if isinstance(value, bool):
            raise TypeError(f"metric {name!r}: {value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"metric {name!r}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"metric {name!r}: {number} is not finite; log finite numbers only")
    return number
