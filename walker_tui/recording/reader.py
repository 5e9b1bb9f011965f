"""Reading a recording whole, whatever its format: :class:`Recording` (every epoch in memory,
saved and loaded by suffix) and :func:`read_recording` (its arrays, end record and logged
metrics; each format's reader is in its module, chosen by walker_tui.recording.formats)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from walker_tui.recording.formats import FORMATS, format_of
from walker_tui.recording.npz_zip import NOT_ARCHIVE, is_archive
from walker_tui.recording.schema import Logs, Row, as_row
from walker_tui.recording.writer import RecordWriter


@dataclass
class Recording:
    """Every epoch of a run in memory: candidates (E x d x k), losses (E x k), winners, the rates
    tried (E x k: they move with --grid adaptive), whether the walk moved to its winner (an
    adaptive walk stays put when every candidate raises its loss), the rate taken and the loss
    held after each epoch, the starting grid and the options. ``walker-tui run --record`` streams
    with :class:`RecordWriter` instead; :meth:`load` reads either."""

    lrs: list[float]
    options: dict[str, Any] = field(default_factory=dict)
    # One Row per epoch, appended in one step, so an interrupt never leaves it half-written
    rows: list[Row] = field(default_factory=list)
    end: dict[str, Any] | None = None  # its end record (walker_tui.recording.ends); None: none
    logs: list[tuple[int, dict[str, float]]] = field(default_factory=list)  # (epoch, metrics)

    def add(self, rec: Any) -> None:
        self.rows.append(as_row(rec, self.lrs))

    def arrays(self) -> dict[str, np.ndarray]:
        rows = list(self.rows)
        k = len(self.lrs)
        d = rows[0].weights.shape[0] if rows else 0
        return {
            "epoch": np.asarray([r.epoch for r in rows], dtype=np.int64),
            "weights": np.stack([r.weights for r in rows]) if rows else np.zeros((0, d, k), "f4"),
            "losses": np.stack([r.losses for r in rows]) if rows else np.zeros((0, k), "f4"),
            "winner": np.asarray([r.winner for r in rows], dtype=np.int64),
            "rates": np.stack([r.rates for r in rows]) if rows else np.zeros((0, k)),
            "moved": np.asarray([r.moved for r in rows], dtype=bool),
            "lr": np.asarray([r.lr for r in rows], dtype=np.float64),
            "loss": np.asarray([r.loss for r in rows], dtype=np.float64),
            "scored": np.asarray([r.scored for r in rows], dtype=bool),
            "evals": np.asarray([r.evals for r in rows], dtype=np.int64),
            "lrs": np.asarray(self.lrs, dtype=np.float64),
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write by suffix (.csv, .json, .npz) with :class:`RecordWriter`, atomically: a reader
        never sees half a file."""
        logs: dict[int, list[dict[str, float]]] = {}
        for epoch, values in self.logs:
            logs.setdefault(epoch, []).append(values)
        out = RecordWriter(path, self.lrs, self.options, flush_every=None, atomic=True)
        try:
            for row in list(self.rows):
                out.add(row)
                for values in logs.get(row.epoch, ()):
                    out.log(row.epoch, values)
        except BaseException:
            out.abort()
            raise
        out.close(self.end)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Recording:
        """Read a recording: finished or cut short by a kill (.csv, .json), an .npz, or the
        sidecar of an .npz run that was killed (``r.npz.part``; ``r.npz`` opens it when the .npz
        is missing)."""
        lrs, options, a, end, logs = read_recording(path)
        rec = cls(lrs, options, end=end, logs=logs)
        rec.rows = [
            Row(int(e), w, losses, int(b), r, bool(m), float(lr), float(loss), bool(s), int(n))
            for e, w, losses, b, r, m, lr, loss, s, n in zip(
                a["epoch"],
                a["weights"],
                a["losses"],
                a["winner"],
                a["rates"],
                a["moved"],
                a["lr"],
                a["loss"],
                a["scored"],
                a["evals"],
                strict=True,
            )
        ]
        return rec


def read_arrays(
    path: str | os.PathLike[str],
) -> tuple[list[float], dict[str, Any], dict[str, np.ndarray]]:
    """(lrs, options, arrays) of a recording, as :meth:`Recording.arrays` has them, without
    building a row per epoch. Files written before ``lr``/``loss`` were kept get the winner's,
    before ``scored`` every row scored, before ``evals`` none counted (0)."""
    lrs, options, a, _, _ = read_recording(path)
    return lrs, options, a


def read_recording(
    path: str | os.PathLike[str],
) -> tuple[list[float], dict[str, Any], dict[str, np.ndarray], dict[str, Any] | None, Logs]:
    """(lrs, options, arrays, end record or None, logged metrics as (epoch, values)) of a
    recording."""
    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir():
        raise ValueError("it is a folder (a recording is a .csv, .json or .npz file)")
    kind = FORMATS[".npz"] if suffix == ".part" else format_of(path)  # (.part: an .npz's sidecar)
    if kind is None:
        raise ValueError(f"unknown record format {suffix!r}; use {', '.join(FORMATS)}")
    if suffix == ".npz" and path.is_file() and not is_archive(path):
        raise ValueError(NOT_ARCHIVE)  # (never numpy's word: it offers to load a pickle)
    lrs, options, a, end, logs = kind.read(path)
    at = np.arange(len(a["epoch"]))
    winner = a["winner"].astype(np.int64)
    if "lr" not in a:
        a["lr"] = a["rates"][at, winner].astype(np.float64)
    if "loss" not in a:
        a["loss"] = a["losses"][at, winner].astype(np.float64)
    if "scored" not in a:  # (files before it was kept: every row scored its candidates)
        a["scored"] = np.ones(len(at), dtype=bool)
    if "evals" not in a:  # (files before it was kept: not counted, 0)
        a["evals"] = np.zeros(len(at), dtype=np.int64)
    a["lrs"] = np.asarray(lrs, dtype=np.float64)
    return lrs, options, a, end, logs
