"""The ``.csv`` recording: its writer (:class:`CsvSink`), its whole-file reader (:func:`read`),
its tail (:class:`CsvTail`), and :func:`append_end` for a copy still being written.

Two comment lines (options, lrs), a header row (written with the first epoch, when the number of
weights is known), then one row an epoch: ``epoch, winner, lr, loss, moved, scored, evals`` and
per candidate its rate, its loss and its weights (files before ``scored`` and ``evals`` have 5
such columns, and before ``moved`` 4: :func:`fixed_columns`). Logged metrics and the end record
are comment lines (``# log: {...}``, ``# end: {...}``), which ``np.loadtxt`` skips. A file cut
anywhere (even mid-line) still loads: a cut last line is dropped.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from walker_tui.recording import disk, float_text
from walker_tui.recording.ends import as_end
from walker_tui.recording.follow import NotRecording, TextTail
from walker_tui.recording.rows import Head, Rows, Update
from walker_tui.recording.schema import CSV_HEAD, END_MARK, LOG_MARK, Contents, Logs, Row, logs_of

FIELD = 32  # bytes a .csv number takes at most (repr of a float: 24; float_text's: 15)
NL, COMMA, HASH = 10, 44, 35
SMALL = 512  # rows of fewer float32 values: '%.9g' (float_text's fixed cost is more there)


class CsvFormat:
    """``.csv``: one text line an epoch (walker_tui.recording.formats.RecordFormat)."""

    suffix = ".csv"
    whole_at_close = False  # written as it goes: an atomic write goes to a temporary file

    def open_sink(self, path: Path, lrs: list[float], options: dict[str, Any]) -> CsvSink:
        return CsvSink(path, lrs, options)

    def read(self, path: Path) -> Contents:
        return read(path)

    def tail(self, path: Path) -> CsvTail:
        return CsvTail(path)


class CsvSink:
    """Writes a ``.csv`` recording row by row (the header with the first row, when the number of
    weights is known)."""

    def __init__(self, path: Path, lrs: list[float], options: dict[str, Any]) -> None:
        self.k = len(lrs)
        self.file = path
        self.fh = disk.begin(
            path,
            "w",
            f"{CSV_HEAD}; options: {json.dumps(options)}\n# lrs: {json.dumps(lrs)}\n",
            newline="",
        )
        self.d: int | None = None
        # (d, the format string of a small row's candidates)
        self.small: tuple[int | None, str] = (None, "")

    def _header(self, d: int) -> None:
        self.d = d
        head = ["epoch", "winner", "lr", "loss", "moved", "scored", "evals"]
        for j in range(self.k):
            head += [f"lr_{j}", f"loss_{j}"] + [f"w{i}_{j}" for i in range(d)]
        self.fh.write(",".join(head) + "\n")

    def write(self, row: Row) -> None:
        d = row.weights.shape[0]
        if self.d is None:
            self._header(d)
        # the float32 losses and weights with 9 significant digits, which read back bit for bit;
        # the float64 rates, lr and loss as repr
        head = [row.epoch, row.winner, row.lr, row.loss, int(row.moved), int(row.scored),
                row.evals]  # fmt: skip
        self.fh.write(",".join(map(repr, head)) + self._candidates(row, d) + "\n")

    def _candidates(self, row: Row, d: int) -> str:
        """A row's candidates, each its rate, loss and weights, each number after a comma."""
        if self.k * (d + 1) < SMALL:  # one format string: numpy's fixed cost is more here
            if self.small[0] != d:
                self.small = (d, ("," + "%r," + ",".join(["%.9g"] * (d + 1))) * self.k)
            per = np.empty((self.k, d + 2))
            per[:, 0] = row.rates
            per[:, 1:] = np.column_stack([row.losses, row.weights.T]).astype(np.float32)
            return self.small[1] % tuple(per.ravel().tolist())
        block = np.empty((self.k, d + 1), dtype=np.float32)
        block[:, 0], block[:, 1:] = row.losses, row.weights.T
        chars, ends = float_text.text(block)
        text = chars.decode("ascii")
        cuts = [0, *ends[d :: d + 1].tolist()]  # where each candidate's text ends
        rates = row.rates.tolist()
        pairs = zip(rates, cuts[:-1], cuts[1:], strict=True)
        return "".join(f",{r!r},{text[a : b - 1]}" for r, a, b in pairs)

    def log(self, epoch: int, values: dict[str, float]) -> None:
        # a comment line: today's loaders (np.loadtxt) skip it
        self.fh.write(f"{LOG_MARK}{json.dumps({'epoch': epoch, 'values': values})}\n")

    def flush(self) -> None:
        self.fh.flush()

    def close(self, path: Path, end: dict[str, Any] | None = None) -> None:
        if self.d is None:
            self._header(0)
        # (a file of no epochs gets none: today's loaders read what follows the header as rows)
        elif end is not None:
            self.fh.write(f"{END_MARK}{json.dumps(end)}\n")
        self.fh.close()

    def discard(self) -> None:
        disk.close_quietly(self.fh)

    def abandon(self) -> None:
        disk.close_quietly(self.fh)

    def last_epoch(self) -> int | None:
        """The last whole row on disk (the loader drops a cut one; comment lines are skipped)."""
        lines = disk.last_lines(self.file, lines=64)
        for whole in reversed(lines[:-1]):
            if whole.startswith(b"#"):
                continue
            first = whole.split(b",", 1)[0]
            return int(first) if first.isdigit() else None  # (a head line: no epochs yet)
        return None


def append_end(fh: Any, end: dict[str, Any]) -> None:
    """End a ``.csv`` copy of a recording that is still being written (the app's ``w``; ``fh``
    open for reading and writing, in binary) with an end record; a half-written last row (which
    the loaders drop) is cut off first."""
    size = fh.seek(0, os.SEEK_END)
    at = max(0, size - (1 << 20))
    fh.seek(at)
    tail = fh.read()
    cut = tail.rfind(b"\n")
    fh.seek(at + cut + 1 if cut >= 0 else size)
    fh.truncate()
    fh.write(f"{END_MARK}{json.dumps(end)}\n".encode())


def fixed_columns(names: list[str]) -> int:
    """How many columns a row has before its candidates', from the header's names: 7 (with
    ``scored`` and ``evals``), 5 in files written before they were kept (``moved`` last), 4
    before ``moved``."""
    if names[5:7] == ["scored", "evals"]:
        return 7
    return 5 if "moved" in names[:5] else 4


# --- reading it whole ---


def not_a_head(first: str) -> str:
    """Why a file is not a recording, without its name (the caller's message names it).
    ``first``: the file's first line as it is, a line cut by a kill kept ("" only for an empty
    file): a file cut inside its first line is cut in its head, not empty."""
    if not first:
        return "it is empty (or was cut before its head was written)"
    if first.startswith(CSV_HEAD) or CSV_HEAD.startswith(first):
        return "it was cut in its head (before its column names were written)"
    shown = first if len(first) <= 40 else first[:40] + "..."
    return f"its first line, {shown!r}, is not a walker-tui head (or the file was cut in its head)"


def read(path: Path) -> Contents:
    """A ``.csv`` recording, finished or cut short."""
    with open(path, newline="") as fh:
        text = fh.read()
    first = text.split("\n", 1)[0] if text else ""  # (before a cut line is dropped)
    text = text[: text.rfind("\n") + 1]  # a line cut by a kill is dropped
    end, logs = _comments(text)
    lines = text.split("\n", 3)
    if len(lines) < 3 or not lines[0].startswith(CSV_HEAD):
        raise ValueError(not_a_head(first))
    options = json.loads(lines[0].split("options: ", 1)[1])
    lrs = [float(r) for r in json.loads(lines[1].split("lrs: ", 1)[1])]
    k = len(lrs)
    head = next(csv.reader([lines[2]])) if lines[2] else []
    fixed = fixed_columns(head)
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
        "moved": table[:, 4] == 1 if fixed >= 5 else np.ones(len(table), dtype=bool),
        "scored": table[:, 5] == 1 if fixed >= 7 else np.ones(len(table), dtype=bool),
        "evals": table[:, 6].astype(np.int64) if fixed >= 7 else np.zeros(len(table), np.int64),
        "lr": table[:, 2].copy(),
        "loss": table[:, 3].copy(),
    }
    return lrs, options, a, end, logs


def _comments(text: str) -> tuple[dict[str, Any] | None, Logs]:
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
    return end, logs_of(items)


# --- following it as it grows ---


class CsvTail(TextTail):
    """Follows a ``.csv`` recording: whole lines only (the writer may be mid-row)."""

    def reset(self) -> None:
        super().reset()
        self.fixed = 7
        self.d: int | None = None

    def parse(self, text: bytes, update: Update) -> bytes:
        cut = text.rfind(b"\n") + 1  # whole lines only: the writer may be mid-row
        whole, rest = text[:cut], text[cut:]
        if not whole:
            return rest
        if self.head is None:
            lines = whole.split(b"\n", 2)
            if not lines[0].startswith(CSV_HEAD.encode()):
                raise NotRecording(f"{self.path.name} is not a walker-tui recording")
            if len(lines) < 3:
                return text
            try:
                options = json.loads(lines[0].split(b"options: ", 1)[1])
                lrs = [float(r) for r in json.loads(lines[1].split(b"lrs: ", 1)[1])]
            except (IndexError, ValueError) as error:
                raise NotRecording(f"{self.path.name}: its head cannot be read ({error})") from None
            self.head = update.head = Head(lrs, options)
            whole = lines[2]
        if self.d is None:
            if not whole:
                return rest
            line, _, whole = whole.partition(b"\n")
            names = line.decode().split(",")
            self.fixed = fixed_columns(names)
            self.d = max(0, (len(names) - self.fixed) // self.head.k - 2)
        if whole:
            self._rows(whole, update)
        return rest

    def _rows(self, whole: bytes, update: Update) -> None:
        b = np.frombuffer(whole, np.uint8)
        ends = np.flatnonzero(b == NL)
        starts = np.concatenate([[0], ends[:-1] + 1])
        nonempty = ends > starts
        starts, ends = starts[nonempty], ends[nonempty]
        comment = b[starts] == HASH
        for s, e in zip(starts[comment], ends[comment], strict=True):
            self._comment(whole[s:e], update)
        starts, ends = starts[~comment], ends[~comment]
        if len(starts) == 0:
            return
        assert self.head is not None and self.d is not None
        k, d, fixed = self.head.k, self.d, self.fixed
        cols = fixed + k * (d + 2)
        try:
            fields = _first_fields(b, starts, ends, fixed, more=cols > fixed)
        except ValueError:  # a line that is no row (not the writer's): read them one by one
            table = _rows_one_by_one([whole[s:e] for s, e in zip(starts, ends, strict=True)], cols)
            good = np.isfinite(table[:, 0])
            starts, ends, table = starts[good], ends[good], table[good]
            fields = [table[:, j] for j in range(fixed)]

        def full(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            picked = b",".join(whole[starts[i] : ends[i]] for i in idx).decode()
            table = np.fromstring(picked, sep=",") if picked else np.zeros(0)  # noqa: NPY201
            if table.size != len(idx) * cols:
                table = _rows_one_by_one([whole[starts[i] : ends[i]] for i in idx], cols)
            per = table.reshape(len(idx), cols)[:, fixed:].reshape(len(idx), k, d + 2)
            weights = per[:, :, 2:].transpose(0, 2, 1).astype(np.float32)
            return weights, per[:, :, 1].astype(np.float32), np.ascontiguousarray(per[:, :, 0])

        moved = fields[4] == 1 if fixed >= 5 else np.ones(len(starts), dtype=bool)
        scored = fields[5] == 1 if fixed >= 7 else None  # (None: a file before it, all scored)
        evals = fields[6].astype(np.int64) if fixed >= 7 else None  # (None: not counted)
        epoch = fields[0].astype(np.int64)
        winner = fields[1].astype(np.int64)
        update.rows = Rows(epoch, winner, fields[2], fields[3], moved, full, scored, evals)
        self.rows_read += len(epoch)

    def _comment(self, line: bytes, update: Update) -> None:
        text = line.decode(errors="replace")
        try:
            if text.startswith(LOG_MARK):
                update.logs += logs_of([json.loads(text[len(LOG_MARK) :])])
            elif text.startswith(END_MARK):
                update.end = as_end(json.loads(text[len(END_MARK) :]))
                self.ended = update.end is not None
        except ValueError:
            pass


def _first_fields(
    b: np.ndarray, starts: np.ndarray, ends: np.ndarray, count: int, more: bool = True
) -> list:
    """The first ``count`` comma-separated fields of each line (starts, ends: its bytes) as
    floats, without parsing the rest of the line; ``more``: the rows have fields after those.
    Raises ValueError where a line does not have them (read one by one then)."""
    commas = np.flatnonzero(b == COMMA)
    first = np.searchsorted(commas, starts)
    out = []
    left = starts
    for j in range(count):
        at = first + j
        if j < count - 1 or more:  # the field ends at a comma of its own line
            if np.any(at >= len(commas)) or np.any(commas[np.minimum(at, len(commas) - 1)] >= ends):
                raise ValueError("a row with fewer fields")
            stop = commas[at]
        else:
            stop = ends
        size = stop - left
        if np.any(size <= 0) or np.any(size > FIELD):
            raise ValueError("a field that is no number")
        cols = left[:, None] + np.arange(FIELD)[None, :]
        cells = np.where(cols < stop[:, None], b[np.minimum(cols, len(b) - 1)], 32)
        out.append(np.ascontiguousarray(cells.astype(np.uint8)).view(f"S{FIELD}")[:, 0]
                   .astype(float))  # fmt: skip
        left = stop + 1
    return out


def _rows_one_by_one(lines: list[bytes], cols: int) -> np.ndarray:
    """Rows parsed one at a time (a row that does not parse whole becomes nan: it is drawn as
    a gap, never as numbers it does not hold)."""
    table = np.full((len(lines), cols), np.nan)
    for i, line in enumerate(lines):
        values = np.fromstring(line.decode(errors="replace"), sep=",")  # noqa: NPY201
        if values.size == cols:
            table[i] = values
    return table
