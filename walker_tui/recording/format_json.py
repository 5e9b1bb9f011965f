"""The ``.json`` recording: its writer (:class:`JsonSink`), its whole-file reader (:func:`read`)
and its tail (:class:`JsonTail`).

The head (options, lrs, ``"epochs": [``) on one line, one epoch object a line, ``]}`` at the end
(with the logs still held and the end record before the ``}``): a finished file is one JSON
document; a cut one loads line by line.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from walker_tui.recording import disk
from walker_tui.recording.ends import as_end
from walker_tui.recording.follow import NotRecording, TextTail
from walker_tui.recording.rows import Head, Rows, Update
from walker_tui.recording.schema import Contents, Row, logs_of


class JsonFormat:
    """``.json``: one JSON object an epoch (walker_tui.recording.formats.RecordFormat)."""

    suffix = ".json"
    whole_at_close = False  # written as it goes: an atomic write goes to a temporary file

    def open_sink(self, path: Path, lrs: list[float], options: dict[str, Any]) -> JsonSink:
        return JsonSink(path, lrs, options)

    def read(self, path: Path) -> Contents:
        return read(path)

    def tail(self, path: Path) -> JsonTail:
        return JsonTail(path)


class JsonSink:
    """Writes a ``.json`` recording an epoch a line; logged metrics go with the next epoch."""

    def __init__(self, path: Path, lrs: list[float], options: dict[str, Any]) -> None:
        self.file = path
        head = json.dumps({"options": options, "lrs": lrs})
        self.fh = disk.begin(path, "w", head[:-1] + ', "epochs": [')
        self.sep = "\n"
        self.logs: list[dict[str, Any]] = []  # logged since the last row: they go with the next

    def log(self, epoch: int, values: dict[str, float]) -> None:
        self.logs.append({"epoch": epoch, "values": values})

    def write(self, row: Row) -> None:
        doc = {
            "epoch": row.epoch,
            "winner": row.winner,
            "lr": _num(row.lr),
            "loss": _num(row.loss),
            "moved": row.moved,
            "scored": row.scored,  # (files before it have none: read as scored)
            "evals": row.evals,  # (files before it have none: 0, not counted)
            "rates": row.rates.tolist(),
            "losses": _nums(row.losses.tolist()),
            "weights": [_nums(w) for w in row.weights.tolist()],
        }
        if self.logs:  # (today's loaders read the keys they know)
            doc["logs"], self.logs = self.logs, []
        self.fh.write(self.sep + json.dumps(doc))
        self.sep = ",\n"

    def flush(self) -> None:
        self.fh.flush()

    def close(self, path: Path, end: dict[str, Any] | None = None) -> None:
        # one closing line: ], then the logs still held and the end record, then }
        tail = "\n]"
        if self.logs:
            tail += f', "logs": {json.dumps(self.logs)}'
        if end is not None:
            tail += f', "end": {json.dumps(end)}'
        self.fh.write(tail + "}\n")
        self.fh.close()

    def discard(self) -> None:
        disk.close_quietly(self.fh)

    def abandon(self) -> None:
        disk.close_quietly(self.fh)

    def last_epoch(self) -> int | None:
        """The last epoch line on disk that parses whole (as the loader reads a cut file)."""
        for line in reversed(disk.last_lines(self.file)[-2:]):
            try:
                doc = json.loads(line.strip().strip(b","))
            except ValueError:
                continue
            if isinstance(doc, dict) and "epoch" in doc and "options" not in doc:
                return int(doc["epoch"])
        return None


def _num(v: Any) -> float | str:
    """A float for JSON that round-trips float32 exactly; nan and inf as strings."""
    f = float(v)
    return f if math.isfinite(f) else str(f)


def _nums(values: list[float]) -> list[float | str]:
    return [v if math.isfinite(v) else str(v) for v in values]


# --- reading it whole ---


def read(path: Path) -> Contents:
    """A ``.json`` recording, finished (one document) or cut short (read line by line)."""
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
        "scored": np.asarray([x.get("scored", True) for x in epochs], dtype=bool),
        "evals": np.asarray([int(x.get("evals", 0)) for x in epochs], dtype=np.int64),
    }
    if all("lr" in x and "loss" in x for x in epochs):
        a["lr"] = np.asarray([float(x["lr"]) for x in epochs], dtype=np.float64)
        a["loss"] = np.asarray([float(x["loss"]) for x in epochs], dtype=np.float64)
    logs = logs_of([item for x in epochs for item in x.get("logs", ())] + list(tail_logs))
    return lrs, doc["options"], a, end, logs


# --- following it as it grows ---

# a .json row's small fields, as the writer puts them first: epoch, winner, lr, loss, moved,
# scored, evals (none in files before them)
_LIGHT = re.compile(
    rb'\{"epoch": (-?\d+), "winner": (-?\d+), "lr": ("?[-+\w.]+"?), "loss": ("?[-+\w.]+"?), '
    rb'"moved": (t|f)[a-z]*(?:, "scored": (t|f)[a-z]*, "evals": (\d+))?'
)


class JsonTail(TextTail):
    """Follows a ``.json`` recording: the head line, then whole epoch lines; a row's small fields
    are read with a regular expression, its candidates parsed only when asked for."""

    def parse(self, text: bytes, update: Update) -> bytes:
        if self.head is None:
            line, nl, after = text.partition(b"\n")
            try:
                doc = json.loads(line + b"]}")
                lrs, options = [float(r) for r in doc["lrs"]], doc["options"]
            except (ValueError, KeyError, TypeError):
                if nl or not text.startswith(b'{"options"'):
                    raise NotRecording(f"{self.path.name} is not a walker-tui recording") from None
                return text  # (the head is still being written)
            self.head = update.head = Head(lrs, options)
            if not nl:
                return b""  # (no epoch yet: the head has no newline until the first)
            text = after
        lines = text.split(b"\n")
        rest = lines.pop()  # after the last newline: the newest row, whole or not
        if rest.strip().strip(b",").endswith(b"}"):
            try:
                json.loads(rest.strip().strip(b","))
                lines.append(rest)  # whole (the writer writes the comma before the next row)
                rest = b""
            except ValueError:
                pass
        self._rows(lines, update)
        return rest

    def _rows(self, lines: list[bytes], update: Update) -> None:
        assert self.head is not None
        light, bodies = [], []
        for raw in lines:
            line = raw.strip().lstrip(b",").strip().rstrip(b",")
            if not line:
                continue
            if line.startswith(b"]"):
                self._close_line(line, update)
                continue
            match = _LIGHT.match(line)
            if match is None or b'"logs": ' in line:
                try:
                    doc = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(doc, dict) or "epoch" not in doc:
                    continue
                update.logs += logs_of(doc.get("logs") or [])
                winner = int(doc["winner"])
                loss = doc.get("loss", doc["losses"][winner])
                lr = doc.get("lr", doc["rates"][winner])
                light.append(
                    (int(doc["epoch"]), winner, float(lr), float(loss), doc.get("moved", True),
                     doc.get("scored", True), int(doc.get("evals", 0)))
                )  # fmt: skip
            else:
                e, w, lr, loss, moved, scored, evals = match.groups()
                light.append(
                    (int(e), int(w), float(lr.strip(b'"')), float(loss.strip(b'"')), moved == b"t",
                     scored != b"f", int(evals or 0))
                )  # fmt: skip
            bodies.append(line)
        if not light:
            return
        k = self.head.k

        def full(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            docs = [json.loads(bodies[i]) for i in idx]
            d = len(docs[0]["weights"]) if docs else 0
            weights = np.asarray(
                [[[float(v) for v in row] for row in x["weights"]] for x in docs], np.float32
            ).reshape(len(docs), d, k)
            losses = np.asarray(
                [[float(v) for v in x["losses"]] for x in docs], np.float32
            ).reshape(len(docs), k)
            rates = np.asarray([[float(v) for v in x["rates"]] for x in docs], np.float64).reshape(
                len(docs), k
            )
            return weights, losses, rates

        e, w, lr, loss, moved, scored, evals = (np.asarray(c) for c in zip(*light, strict=True))
        update.rows = Rows(
            e.astype(np.int64), w.astype(np.int64), lr.astype(float), loss.astype(float),
            moved.astype(bool), full, scored.astype(bool), evals.astype(np.int64),
        )  # fmt: skip
        self.rows_read += len(e)

    def _close_line(self, line: bytes, update: Update) -> None:
        """The closing line: ``]`` then the logs still held and the end record, then ``}``."""
        try:
            doc = json.loads(b"{" + line[1:].lstrip().lstrip(b","))
        except ValueError:
            return
        update.logs += logs_of(doc.get("logs") or [])
        update.end = as_end(doc.get("end"))
        self.ended = update.end is not None
