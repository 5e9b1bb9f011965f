"""What a recording holds, for every format's writer and readers: the row of one epoch, the files
an ``.npz`` run streams to, the ``.csv``'s comment marks, the sidecar's magic and record layout,
the ``.npz``'s members and their dtypes, and logged metrics' form. Its end records are
:mod:`walker_tui.recording.ends`. Each format's code is ``format_<suffix>.py``, chosen by suffix in
:mod:`walker_tui.recording.formats`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np


class Row(NamedTuple):
    """One recorded epoch. ``lr`` and ``loss`` are as the trainer gave them: the rate actually
    taken (0.0 when an adaptive walk stayed put) and the loss it holds after the epoch, which is
    not ``losses[winner]`` when it stayed put."""

    epoch: int
    weights: np.ndarray  # d x k float32: the candidates
    losses: np.ndarray  # k float32
    winner: int
    rates: np.ndarray  # k float64: the rates tried (they move with --grid adaptive)
    moved: bool
    lr: float
    loss: float
    # False: the step reused a rate (walker_tui.core.schedule) and scored no candidate; its
    # losses, rates and winner are then the last scored step's (the bars the app keeps), lr
    # the rate reused, and every column of weights where the walk went (no candidate to hold)
    scored: bool = True
    # loss evaluations so far as the trainer counted them (k a step that scores its grid, 1 a
    # reused one, every mini-batch's step of an epoch); 0: not counted (WalkerSGD's steps, and
    # files before it was kept), which the app counts from ``scored`` (:func:`counted_evals`)
    evals: int = 0


def as_row(rec: Any, lrs: Sequence[float]) -> Row:
    """A :class:`Row` from an engine record (or a Row). Records without ``lr``/``loss`` (older
    callers) get the winner's rate and loss."""
    weights = np.asarray(rec.weights, dtype=np.float32)
    losses = np.asarray(rec.losses, dtype=np.float32)
    scored = bool(getattr(rec, "scored", True))
    held = getattr(rec, "w", None)
    if not scored and held is not None:  # (a reused rate: the position, not old candidates)
        held = np.asarray(held, dtype=np.float32).reshape(-1, 1)
        weights = np.repeat(held, weights.shape[1], axis=1)
    rates = getattr(rec, "rates", None)
    rates = np.asarray(lrs if rates is None else rates, dtype=np.float64)
    winner = int(rec.winner)
    lr = getattr(rec, "lr", None)
    loss = getattr(rec, "loss", None)
    return Row(
        int(rec.epoch),
        weights,
        losses,
        winner,
        rates,
        bool(getattr(rec, "moved", True)),
        float(rates[winner] if lr is None else lr),
        float(losses[winner] if loss is None else loss),
        scored,
        int(getattr(rec, "evals", 0) or 0),
    )


def counted_evals(evals: np.ndarray, scored: np.ndarray, k: int, before: int = 0) -> np.ndarray:
    """Rows' loss evaluations so far: as recorded, or where a row has none (0), counted from
    ``before`` (the rows before these) at k for a row that scored its grid and 1 for a reused
    one (the trainer's count on a problem without mini-batches, and WalkerSGD's steps)."""
    derived = before + np.cumsum(np.where(np.asarray(scored, dtype=bool), k, 1))
    evals = np.asarray(evals, dtype=np.int64)
    return np.where(evals > 0, evals, derived).astype(np.int64)


def sidecar(path: str | os.PathLike[str]) -> Path:
    """Where a ``.npz`` recording streams while it runs (assembled into the ``.npz`` at the end;
    :meth:`Recording.load` opens it as it is when the run was killed)."""
    path = Path(path)
    return path.with_name(path.name + ".part")


def log_sidecar(path: str | os.PathLike[str]) -> Path:
    """Where a ``.npz`` recording streams its logged metrics while it runs (JSON lines, made at
    the first ``log``; assembled into the ``.npz`` as its ``log`` member at the end)."""
    path = Path(path)
    return path.with_name(path.name + ".log.part")


LOG_MARK = "# log: "  # a .csv's comment line of logged metrics: {"epoch": N, "values": {...}}
END_MARK = "# end: "  # a .csv's last line: its end record (walker_tui.recording.ends)


CSV_HEAD = "# walker-tui record"  # how a .csv's first line begins (then "; options: {...}")

# The .npz sidecar: a magic line, a JSON line {"options", "lrs"}, and with the first epoch a JSON
# line {"d", "k"}; then fixed-size little-endian records of stream_dtype(d, k). A cut file loads
# its whole records. Its version is the record's layout: 2 added "evals" and "scored" (a record
# of version 1, which has neither, reads as scored and not counted); a walker-tui that knows only
# 1 refuses a 2 rather than misreading its records.
MAGIC = b"walker-tui record stream 2\n"
MAGICS = {MAGIC: 2, b"walker-tui record stream 1\n": 1}  # the versions read
# npz members from the stream's fields (name, field, dtype in the .npz), then "lrs" and "options"
# (and "log" and "end", JSON text, where the run logged metrics or ended with a record)
MEMBERS = (
    ("epoch", "epoch", "<i8"),
    ("weights", "weights", "<f4"),
    ("losses", "losses", "<f4"),
    ("winner", "winner", "<i8"),
    ("rates", "rates", "<f8"),
    ("moved", "moved", "|b1"),
    ("lr", "lr", "<f8"),
    ("loss", "loss", "<f8"),
    ("scored", "scored", "|b1"),  # (files before it have none: every row scored)
    ("evals", "evals", "<i8"),  # (files before it have none: 0, not counted)
)


def stream_dtype(d: int, k: int, version: int = 2) -> np.dtype:
    """The sidecar's record of one epoch of ``d`` weights and ``k`` candidates (``version``: of
    the sidecar's magic; 1 has no ``scored`` nor ``evals``)."""
    new = [("scored", "u1"), ("evals", "<i8")] if version >= 2 else []
    return np.dtype(
        [
            ("epoch", "<i8"),
            ("winner", "<i8"),
            ("lr", "<f8"),
            ("loss", "<f8"),
            ("moved", "u1"),
            *new,
            ("rates", "<f8", (k,)),
            ("losses", "<f4", (k,)),
            ("weights", "<f4", (d, k)),  # last: the small fields of a record share a page
        ]
    )


Logs = list[tuple[int, dict[str, float]]]
# What a format's whole-file reader returns: (lrs, options, arrays as Recording.arrays names them,
# the end record or None, logged metrics). Arrays may lack "lr" and "loss" (files written before
# they were kept): read_recording fills them in with the winner's; and "scored" and "evals"
# (files before them): every row scored, none counted (0).
Contents = tuple[list[float], dict[str, Any], dict[str, np.ndarray], dict[str, Any] | None, Logs]


def logs_of(items: Any) -> Logs:
    """(epoch, values) of logged metrics as a file holds them ({"epoch", "values"} objects);
    anything else is skipped."""
    out: Logs = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("values"), dict):
            try:
                values = {str(k): float(v) for k, v in item["values"].items()}
                out.append((int(item["epoch"]), values))
            except (TypeError, ValueError, KeyError):
                continue
    return out
