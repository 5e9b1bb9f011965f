"""WalkerSGD's recording (``record=PATH``): its options, one row a step, its end at the
interpreter's exit, and the one warning when it stops. Numpy only: no torch."""

from __future__ import annotations

import atexit
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from walker_tui.recording.ends import end_record, outcome_of_exit
from walker_tui.recording.schema import Row
from walker_tui.recording.writer import RecordWriter

RECORD_EPOCHS = 10**9  # a recording's "epochs" option: its head is written before its end is known


def open_record(
    path: Any, opt: Any, weights: int, more: dict[str, Any] | None
) -> tuple[RecordWriter, Callable[[], None]]:
    """The recording of WalkerSGD ``opt`` (of ``weights`` numbers) opened at ``path``, with the
    options it walks by (``more`` over them), and what ends it at the interpreter's exit."""
    options = {
        "problem": "recorded",
        "source": "WalkerSGD",
        "lrs_spec": opt.spec,
        "grid": opt.grid,
        "direction": opt.direction,
        "stay": opt.stay,
        "forward_only": opt.forward_only,
        "epochs": RECORD_EPOCHS,
        "min_loss": 0,
        "seed": opt.seed,
        "weights": weights,
        "plane": "filter-normalised random directions (Li et al. 2018)",
        "unit": "step",  # a row is one step (a batch), not an epoch over the data
    }
    options.update(more or {})
    writer = RecordWriter(path, opt.rates, options)
    # a script that ends without close() still ends the file, saying so
    at_exit = _closer(writer)
    atexit.register(at_exit)
    return writer, at_exit


def _closer(writer: RecordWriter) -> Callable[[], None]:
    """At the interpreter's exit, end a recording its script never closed: "closed" (at exit,
    without close()), or, where the script died of an exception, what stopped it."""

    def close() -> None:
        if writer.closed:
            return
        kind = getattr(sys, "last_type", None)  # the exception that ended the script, if one
        if hasattr(sys, "ps1") or "IPython" in sys.modules:
            kind = None  # (an interactive session's last error is not the end of the run)
        outcome, how = outcome_of_exit(kind)
        if kind is None:
            how = "at the script's exit, without close()"
        writer.close(end_record(outcome, writer.last_epoch, how))

    return close


def step_row(last: Any) -> Row:
    """The recorded row of a step: its ``StepInfo`` (WalkerSGD.last), plane coordinates set."""
    return Row(
        last.step,
        last.coords.astype(np.float32),
        np.asarray(last.losses, dtype=np.float32),
        last.winner,
        np.asarray(last.rates, dtype=np.float64),
        last.moved,
        last.lr,
        last.loss,
        bool(getattr(last, "scored", True)),
    )


def warn_stopped(error: str) -> None:
    """Warn that the recording stopped (training goes on without it), at the user's line."""
    level, frame = 1, sys._getframe(0)  # the user's line: past torch's step wrapper
    while frame is not None and frame.f_globals.get("__name__", "").startswith(
        ("walker_tui.", "torch.")
    ):
        level, frame = level + 1, frame.f_back
    warnings.warn(
        f"WalkerSGD: {error}; training goes on without it (opt.record_error)",
        RuntimeWarning,
        stacklevel=level,
    )
