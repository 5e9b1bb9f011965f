"""Recording epochs: a bounded history for the app and full recordings for ``--record``.

No torch, no UI: plain numpy. A :class:`Curve` keeps at most ``cap`` points of a long series by
halving its resolution when it fills, so memory stays bounded over millions of epochs.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FORMATS = (".csv", ".json", ".npz")


class Curve:
    """Rows (epoch, values...) of a long series kept at most ``cap`` long: when full, every other
    row is dropped and from then on only every ``stride``-th new row is kept. The latest row is
    always known, so a thinned curve still ends where the run is. Rows live in one preallocated
    numpy array, so reading the columns for a frame costs no conversion."""

    def __init__(self, cap: int = 4096) -> None:
        self.cap = cap
        self.stride = 1
        self._seen = 0
        self._n = 0
        self._rows: np.ndarray | None = None
        self.last: tuple[float, ...] | None = None

    def append(self, *row: float) -> None:
        self.last = row
        if self._rows is None:
            self._rows = np.empty((self.cap, len(row)))
        if self._seen % self.stride == 0:
            self._rows[self._n] = row
            self._n += 1
            if self._n >= self.cap:
                kept = self._rows[: self._n : 2].copy()
                self._n = len(kept)
                self._rows[: self._n] = kept
                self.stride *= 2
        self._seen += 1

    def __len__(self) -> int:
        return self._n

    def columns(self, upto: float | None = None) -> list[np.ndarray]:
        """The kept rows (ending with the latest, or cut at ``upto`` in the first column) as
        columns."""
        if self._rows is None or self.last is None:
            return []
        rows = self._rows[: self._n].copy()  # callers may hand it to another thread
        if self._n == 0 or rows[-1, 0] != self.last[0]:
            rows = np.vstack([rows, np.asarray(self.last, dtype=float)[None, :]])
        if upto is not None:
            rows = rows[: int(np.searchsorted(rows[:, 0], upto, side="right"))]
        if len(rows) == 0:
            return []
        return list(rows.T)


class History:
    """The app's memory of one trainer: the recent epochs in full, and the whole run thinned to
    at most ``cap`` rows of (epoch, loss, w[0], w[1], evaluations, seconds)."""

    def __init__(self, keep: int = 2000, cap: int = 4096, project: Any = None) -> None:
        self.recent: deque[Any] = deque(maxlen=keep)
        self.curve = Curve(cap)
        self.project = project  # weights -> (x, y) on the surface's plane; None: w[0], w[1]

    def add(self, rec: Any) -> None:
        self.recent.append(rec)
        w = rec.position
        if self.project is not None:
            w = self.project(w)
        self.curve.append(
            rec.epoch,
            rec.loss,
            float(w[0]),
            float(w[1]),
            float(getattr(rec, "evals", 0)),
            float(getattr(rec, "seconds", 0.0)),
        )

    def at(self, epoch: int) -> Any | None:
        """The record of ``epoch`` if it is still held."""
        if not self.recent:
            return None
        i = epoch - self.recent[0].epoch
        return self.recent[i] if 0 <= i < len(self.recent) else None

    @property
    def latest(self) -> Any | None:
        return self.recent[-1] if self.recent else None

    @property
    def first_held(self) -> int:
        return self.recent[0].epoch if self.recent else 0


@dataclass
class Recording:
    """Every epoch of a run: candidates (E x d x k), losses (E x k), winners, the rates tried
    (E x k: they move with --grid adaptive), whether the walk moved to its winner (an adaptive
    walk stays put when every candidate raises its loss), the starting grid and the options."""

    lrs: list[float]
    options: dict[str, Any] = field(default_factory=dict)
    # One tuple per epoch, appended in one step, so an interrupt never leaves it half-written:
    # (epoch, weights d x k, losses k, winner, rates k, moved)
    rows: list[tuple[int, np.ndarray, np.ndarray, int, np.ndarray, bool]] = field(
        default_factory=list
    )

    def add(self, rec: Any) -> None:
        rates = getattr(rec, "rates", None)
        self.rows.append(
            (
                rec.epoch,
                np.asarray(rec.weights, dtype=np.float32),
                np.asarray(rec.losses, dtype=np.float32),
                rec.winner,
                np.asarray(self.lrs if rates is None else rates, dtype=np.float64),
                bool(rec.moved),
            )
        )

    def arrays(self) -> dict[str, np.ndarray]:
        rows = list(self.rows)
        k = len(self.lrs)
        d = rows[0][1].shape[0] if rows else 0
        return {
            "epoch": np.asarray([r[0] for r in rows], dtype=np.int64),
            "weights": np.stack([r[1] for r in rows]) if rows else np.zeros((0, d, k), np.float32),
            "losses": np.stack([r[2] for r in rows]) if rows else np.zeros((0, k), np.float32),
            "winner": np.asarray([r[3] for r in rows], dtype=np.int64),
            "rates": np.stack([r[4] for r in rows]) if rows else np.zeros((0, k)),
            "moved": np.asarray([r[5] for r in rows], dtype=bool),
            "lrs": np.asarray(self.lrs, dtype=np.float64),
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write by suffix (.csv, .json, .npz), atomically: a reader never sees half a file."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in FORMATS:
            raise ValueError(f"unknown record format {suffix!r}; use {', '.join(FORMATS)}")
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
        try:
            with os.fdopen(fd, "wb") as fh:
                {".csv": self._csv, ".json": self._json, ".npz": self._npz}[suffix](fh)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _npz(self, fh: Any) -> None:
        np.savez(fh, **self.arrays(), options=np.asarray(json.dumps(self.options)))

    def _json(self, fh: Any) -> None:
        a = self.arrays()
        doc = {
            "options": self.options,
            "lrs": self.lrs,
            "epochs": [
                {
                    "epoch": int(a["epoch"][i]),
                    "winner": int(a["winner"][i]),
                    "lr": float(a["rates"][i][int(a["winner"][i])]),
                    "loss": _num(a["losses"][i][a["winner"][i]]),
                    "moved": bool(a["moved"][i]),
                    "rates": [float(v) for v in a["rates"][i]],
                    "losses": [_num(v) for v in a["losses"][i]],
                    "weights": [[_num(v) for v in row] for row in a["weights"][i]],
                }
                for i in range(len(a["epoch"]))
            ],
        }
        fh.write(json.dumps(doc, indent=1).encode())

    def _csv(self, fh: Any) -> None:
        import io

        text = io.StringIO()
        text.write(f"# walker-tui record; options: {json.dumps(self.options)}\n")
        text.write(f"# lrs: {json.dumps(self.lrs)}\n")
        a = self.arrays()
        d = a["weights"].shape[1] if len(a["weights"]) else 0
        out = csv.writer(text, lineterminator="\n")
        head = ["epoch", "winner", "lr", "loss", "moved"]
        for j in range(len(self.lrs)):
            head += [f"lr_{j}", f"loss_{j}"] + [f"w{i}_{j}" for i in range(d)]
        out.writerow(head)
        for i in range(len(a["epoch"])):
            b = int(a["winner"][i])
            rates = a["rates"][i]
            row: list[Any] = [
                int(a["epoch"][i]),
                b,
                repr(float(rates[b])),
                _num(a["losses"][i][b]),
                int(a["moved"][i]),
            ]
            for j in range(len(self.lrs)):
                row += [repr(float(rates[j])), _num(a["losses"][i][j])]
                row += [_num(v) for v in a["weights"][i][:, j]]
            out.writerow(row)
        fh.write(text.getvalue().encode())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Recording:
        """Read a recording written by :meth:`save`."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".npz":
            with np.load(path) as z:
                rec = cls([float(r) for r in z["lrs"]], json.loads(str(z["options"])))
                moved = z["moved"] if "moved" in z else np.ones(len(z["epoch"]), dtype=bool)
                rec.rows = [
                    (int(e), w, loss, int(b), r, bool(m))
                    for e, w, loss, b, r, m in zip(
                        z["epoch"],
                        z["weights"],
                        z["losses"],
                        z["winner"],
                        z["rates"],
                        moved,
                        strict=True,
                    )
                ]
            return rec
        if suffix == ".json":
            doc = json.loads(path.read_text())
            rec = cls(doc["lrs"], doc["options"])
            for e in doc["epochs"]:
                losses = np.asarray([float(v) for v in e["losses"]], dtype=np.float32)
                weights = np.asarray(e["weights"], dtype=np.float32)
                rates = np.asarray(e["rates"], dtype=np.float64)
                rec.rows.append(
                    (e["epoch"], weights, losses, e["winner"], rates, e.get("moved", True))
                )
            return rec
        if suffix == ".csv":
            lines = path.read_text().splitlines()
            options = json.loads(lines[0].split("options: ", 1)[1])
            lrs = json.loads(lines[1].split("lrs: ", 1)[1])
            rows = list(csv.reader(lines[2:]))
            head, body = rows[0], rows[1:]
            k = len(lrs)
            fixed = 5 if "moved" in head[:5] else 4  # (files written before it had 4)
            d = (len(head) - fixed) // k - 2
            rec = cls(lrs, options)
            for row in body:
                per = np.asarray([float(v) for v in row[fixed:]]).reshape(k, d + 2)
                weights = per[:, 2:].T.astype(np.float32)
                losses = per[:, 1].astype(np.float32)
                moved = row[4] == "1" if fixed == 5 else True
                rates = per[:, 0].copy()
                rec.rows.append((int(row[0]), weights, losses, int(row[1]), rates, moved))
            return rec
        raise ValueError(f"unknown record format {suffix!r}; use {', '.join(FORMATS)}")


def _num(v: Any) -> float | str:
    """A float for JSON/CSV that round-trips float32 exactly; nan and inf as strings."""
    f = float(v)
    if f != f or f in (float("inf"), float("-inf")):
        return str(f)
    return float(np.float32(f).item()) if isinstance(v, np.floating) else f
