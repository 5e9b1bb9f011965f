"""Reading a recording whole: :class:`Recording` (every epoch in memory, saved and loaded by
suffix) and :func:`read_recording` (its arrays, end record and logged metrics)."""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from walker_tui.recording.ends import as_end
from walker_tui.recording.files import (
    _MAGIC,
    _MEMBERS,
    END_MARK,
    FORMATS,
    LOG_MARK,
    Logs,
    Row,
    _logs,
    _read_log_lines,
    _stream_dtype,
    as_row,
    sidecar,
)
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
            Row(int(e), w, losses, int(b), r, bool(m), float(lr), float(loss))
            for e, w, losses, b, r, m, lr, loss in zip(
                a["epoch"],
                a["weights"],
                a["losses"],
                a["winner"],
                a["rates"],
                a["moved"],
                a["lr"],
                a["loss"],
                strict=True,
            )
        ]
        return rec


def read_arrays(
    path: str | os.PathLike[str],
) -> tuple[list[float], dict[str, Any], dict[str, np.ndarray]]:
    """(lrs, options, arrays) of a recording, as :meth:`Recording.arrays` has them, without
    building a row per epoch. Files written before ``lr``/``loss`` were kept get the winner's."""
    lrs, options, a, _, _ = read_recording(path)
    return lrs, options, a


def read_recording(
    path: str | os.PathLike[str],
) -> tuple[list[float], dict[str, Any], dict[str, np.ndarray], dict[str, Any] | None, Logs]:
    """(lrs, options, arrays, end record or None, logged metrics as (epoch, values)) of a
    recording."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz" and not path.exists() and sidecar(path).exists():
        path, suffix = sidecar(path), ".part"
    end, logs = None, []
    if suffix == ".npz":
        with np.load(path) as z:
            lrs = [float(r) for r in z["lrs"]]
            options = json.loads(str(z["options"]))
            a = {name: z[name] for name in ("epoch", "weights", "losses", "winner", "rates")}
            a["moved"] = z["moved"] if "moved" in z else np.ones(len(a["epoch"]), dtype=bool)
            for name in ("lr", "loss"):
                if name in z:
                    a[name] = z[name]
            if "end" in z:
                end = as_end(json.loads(str(z["end"])))
            if "log" in z:
                logs = _logs(json.loads(str(z["log"])))
    elif suffix == ".part":
        lrs, options, a = _read_sidecar(path)
        logs_part = path.with_name(path.name[: -len(".part")] + ".log.part")
        if logs_part.exists():
            logs = _logs(_read_log_lines(logs_part))
    elif suffix == ".json":
        lrs, options, a, end, logs = _read_json(path)
    elif suffix == ".csv":
        lrs, options, a, end, logs = _read_csv(path)
    else:
        raise ValueError(f"unknown record format {suffix!r}; use {', '.join(FORMATS)}")
    at = np.arange(len(a["epoch"]))
    winner = a["winner"].astype(np.int64)
    if "lr" not in a:
        a["lr"] = a["rates"][at, winner].astype(np.float64)
    if "loss" not in a:
        a["loss"] = a["losses"][at, winner].astype(np.float64)
    a["lrs"] = np.asarray(lrs, dtype=np.float64)
    return lrs, options, a, end, logs


def _read_sidecar(path: Path) -> tuple[list[float], dict[str, Any], dict[str, np.ndarray]]:
    with open(path, "rb") as fh:
        if fh.readline() != _MAGIC:
            raise ValueError(f"{str(path)!r} is not a walker-tui record stream")
        head = fh.readline()
        if not head.endswith(b"\n"):
            raise ValueError(f"{str(path)!r} was cut before its options were written")
        doc = json.loads(head)
        lrs, k = [float(r) for r in doc["lrs"]], len(doc["lrs"])
        dims = fh.readline()
        d = json.loads(dims)["d"] if dims.endswith(b"\n") else 0
        dtype = _stream_dtype(d, k)
        count = (path.stat().st_size - fh.tell()) // dtype.itemsize if d else 0
        records = np.fromfile(fh, dtype, count=count) if d else np.zeros(0, dtype)
    a = {name: np.ascontiguousarray(records[f]).astype(kind) for name, f, kind in _MEMBERS}
    return lrs, doc["options"], a


def _read_json(path: Path) -> tuple[list[float], dict[str, Any], dict[str, np.ndarray], Any, Logs]:
    text = path.read_text()
    end, tail_logs = None, []
    try:
        doc = json.loads(text)
        epochs = doc["epochs"]
        end, tail_logs = as_end(doc.get("end")), doc.get("logs") or []
    except json.JSONDecodeError:  # cut short: the head line, then whole epoch lines
        lines = text.split("\n")
        doc = json.loads(lines[0] + "]}")
        epochs = []
        for line in lines[1:]:
            line = line.strip().strip(",")  # each epoch line but the last ends in a comma
            if not line or line == "]}":
                continue
            try:
                epochs.append(json.loads(line))
            except json.JSONDecodeError:
                break  # the line the writer was on when it died
    lrs = [float(r) for r in doc["lrs"]]
    k = len(lrs)
    e = len(epochs)
    d = len(epochs[0]["weights"]) if epochs else 0
    a = {
        "epoch": np.asarray([x["epoch"] for x in epochs], dtype=np.int64),
        "weights": np.asarray(
            [[[float(v) for v in row] for row in x["weights"]] for x in epochs], dtype=np.float32
        ).reshape(e, d, k),
        "losses": np.asarray(
            [[float(v) for v in x["losses"]] for x in epochs], dtype=np.float32
        ).reshape(e, k),
        "winner": np.asarray([x["winner"] for x in epochs], dtype=np.int64),
        "rates": np.asarray(
            [[float(v) for v in x["rates"]] for x in epochs], dtype=np.float64
        ).reshape(e, k),
        "moved": np.asarray([x.get("moved", True) for x in epochs], dtype=bool),
    }
    if all("lr" in x and "loss" in x for x in epochs):
        a["lr"] = np.asarray([float(x["lr"]) for x in epochs], dtype=np.float64)
        a["loss"] = np.asarray([float(x["loss"]) for x in epochs], dtype=np.float64)
    logs = _logs([item for x in epochs for item in x.get("logs", ())] + list(tail_logs))
    return lrs, doc["options"], a, end, logs


def _read_csv(path: Path) -> tuple[list[float], dict[str, Any], dict[str, np.ndarray], Any, Logs]:
    with open(path, newline="") as fh:
        text = fh.read()
    text = text[: text.rfind("\n") + 1]  # a line cut by a kill is dropped
    end, logs = _csv_comments(text)
    lines = text.split("\n", 3)
    if len(lines) < 3 or not lines[0].startswith("# walker-tui record"):
        raise ValueError(f"{str(path)!r} is not a walker-tui record (or was cut in its head)")
    options = json.loads(lines[0].split("options: ", 1)[1])
    lrs = [float(r) for r in json.loads(lines[1].split("lrs: ", 1)[1])]
    k = len(lrs)
    head = next(csv.reader([lines[2]])) if lines[2] else []
    fixed = 5 if "moved" in head[:5] else 4  # (files written before it had 4)
    d = (len(head) - fixed) // k - 2 if head else 0
    body = lines[3] if len(lines) > 3 else ""
    table = (
        np.loadtxt(io.StringIO(body), delimiter=",", dtype=np.float64, ndmin=2)
        if body.strip()
        else np.zeros((0, max(len(head), fixed + k * 2)))
    )
    per = table[:, fixed:].reshape(len(table), k, d + 2)
    a = {
        "epoch": table[:, 0].astype(np.int64),
        "weights": per[:, :, 2:].transpose(0, 2, 1).astype(np.float32),
        "losses": per[:, :, 1].astype(np.float32),
        "winner": table[:, 1].astype(np.int64),
        "rates": np.ascontiguousarray(per[:, :, 0]),
        "moved": table[:, 4] == 1 if fixed == 5 else np.ones(len(table), dtype=bool),
        "lr": table[:, 2].copy(),
        "loss": table[:, 3].copy(),
    }
    return lrs, options, a, end, logs


def _csv_comments(text: str) -> tuple[dict[str, Any] | None, Logs]:
    """The end record and logged metrics of a .csv's comment lines past its head."""
    end, items = None, []
    at = text.find("\n#", text.find("\n", text.find("\n") + 1))  # (past the two head lines)
    while at >= 0:
        stop = text.find("\n", at + 1)
        line = text[at + 1 : stop if stop >= 0 else len(text)]
        try:
            if line.startswith(LOG_MARK):
                items.append(json.loads(line[len(LOG_MARK) :]))
            elif line.startswith(END_MARK):
                end = as_end(json.loads(line[len(END_MARK) :]))
        except ValueError:
            pass
        at = text.find("\n#", at + 1)
    return end, _logs(items)
