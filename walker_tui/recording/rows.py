"""What a :class:`~walker_tui.recording.tail.Tail` poll returns (:class:`Update`, :class:`Head`,
:class:`Rows`), and reading rows fast: a ``.csv``'s first fields, the sidecar's records, an .npz.

Rows come in two depths, so a recording of millions of epochs opens in seconds: every row's
epoch, winner, rate, loss and moved flag (:class:`Rows`, read without parsing the candidates:
the loss curve takes them all), and the candidates of the rows asked for (:meth:`Rows.full`:
those the app holds in full). Plain numpy; no torch, no UI.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from walker_tui.recording.ends import as_end
from walker_tui.recording.files import _MEMBERS, Logs, _logs

CHUNK = 8 << 20  # bytes read at most per poll (a long file is read in pieces this size)
FIELD = 32  # bytes a .csv number takes at most (repr of a float: 24)
NL, COMMA, HASH = 10, 44, 35


@dataclass
class Head:
    """A recording's head: its starting rates and options."""

    lrs: list[float]
    options: dict[str, Any]

    @property
    def k(self) -> int:
        return len(self.lrs)


@dataclass
class Rows:
    """New rows: the small columns of every one, and the candidates of any on request."""

    epoch: np.ndarray  # int64
    winner: np.ndarray  # int64
    lr: np.ndarray  # float64
    loss: np.ndarray  # float64
    moved: np.ndarray  # bool
    # indices -> (weights m x d x k float32, losses m x k float32, rates m x k float64)
    full: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]

    def __len__(self) -> int:
        return len(self.epoch)


@dataclass
class Update:
    """What a poll found (all empty: nothing new)."""

    head: Head | None = None
    rows: Rows | None = None
    logs: Logs = field(default_factory=list)
    end: dict[str, Any] | None = None
    problem: str | None = None  # one line: deleted, not a recording (following stops)
    restart: str | None = None  # truncated or replaced: start again from what is there now
    more: bool = False  # more bytes wait to be read now (a long file, read in pieces)
    done: int = 0  # bytes read so far
    size: int = 0  # bytes there are
    mtime: float = 0.0  # when the file read was last written (seconds since 1970)

    @property
    def empty(self) -> bool:
        return (
            self.head is None
            and not (self.rows is not None and len(self.rows))
            and not self.logs
            and self.end is None
            and self.problem is None
            and self.restart is None
        )


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


def _record_rows(records: np.ndarray) -> Rows:
    """Rows of the .npz sidecar's fixed-size records (already in memory: nothing to parse)."""

    def full(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        picked = records[idx]
        return (
            np.array(picked["weights"], dtype=np.float32),
            np.array(picked["losses"], dtype=np.float32),
            np.array(picked["rates"], dtype=np.float64),
        )

    return Rows(
        records["epoch"].astype(np.int64),
        records["winner"].astype(np.int64),
        records["lr"].astype(np.float64),
        records["loss"].astype(np.float64),
        records["moved"].astype(bool),
        full,
    )


class _NpzRows:
    """An assembled .npz read in pieces: each member streamed from the zip (ZIP_STORED, as the
    writer makes them; a compressed one streams too), from row ``skip`` on."""

    def __init__(self, path: Path, skip: int) -> None:
        self.zf = zipfile.ZipFile(path)
        self.size = sum(i.file_size for i in self.zf.infolist())
        names = set(self.zf.namelist())
        with self.zf.open("lrs.npy") as f:
            self.lrs = [float(r) for r in np.lib.format.read_array(f)]
        with self.zf.open("options.npy") as f:
            self.options = json.loads(str(np.lib.format.read_array(f)))
        self.end, self.logs = None, []
        if "end.npy" in names:
            with self.zf.open("end.npy") as f:
                self.end = as_end(json.loads(str(np.lib.format.read_array(f))))
        if "log.npy" in names:
            with self.zf.open("log.npy") as f:
                self.logs = _logs(json.loads(str(np.lib.format.read_array(f))))
        self.streams: dict[str, tuple[Any, np.dtype, tuple[int, ...]]] = {}
        self.count = 0
        wanted = [name for name, _, _ in _MEMBERS if name != "moved" or "moved.npy" in names]
        wanted = [n for n in wanted if f"{n}.npy" in names]
        for name in wanted:
            f = self.zf.open(f"{name}.npy")
            version = np.lib.format.read_magic(f)
            reader = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = reader(f)
            self.streams[name] = (f, dtype, shape[1:])
            self.count = shape[0]
        self.at = 0
        self.done = 0
        self.row_bytes = sum(
            dt.itemsize * int(np.prod(sub)) for _, dt, sub in self.streams.values()
        )
        skip = min(skip, self.count)
        while self.at < skip:  # (read already, from the .part), in pieces
            self._take(min(skip - self.at, max(1, CHUNK // max(1, self.row_bytes))))

    @property
    def finished(self) -> bool:
        return self.at >= self.count

    def _take(self, n: int) -> dict[str, np.ndarray]:
        out = {}
        for name, (f, dtype, sub) in self.streams.items():
            size = dtype.itemsize * int(np.prod(sub))
            data = f.read(n * size)
            self.done += len(data)
            out[name] = np.frombuffer(data, dtype).reshape((n, *sub))
        self.at += n
        return out

    def read(self, budget: int) -> Rows | None:
        if self.finished:
            return None
        n = max(1, min(self.count - self.at, budget // max(1, self.row_bytes)))
        a = self._take(n)
        if "moved" not in a:
            a["moved"] = np.ones(n, dtype=bool)
        winner = a["winner"].astype(np.int64)
        at = np.arange(n)
        lr = a["lr"] if "lr" in a else a["rates"][at, winner]
        loss = a["loss"] if "loss" in a else a["losses"][at, winner]

        def full(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            return (
                np.array(a["weights"][idx], dtype=np.float32),
                np.array(a["losses"][idx], dtype=np.float32),
                np.array(a["rates"][idx], dtype=np.float64),
            )

        return Rows(
            a["epoch"].astype(np.int64),
            winner,
            np.asarray(lr, dtype=np.float64),
            np.asarray(loss, dtype=np.float64),
            a["moved"].astype(bool),
            full,
        )

    def close(self) -> None:
        for f, _, _ in self.streams.values():
            f.close()
        self.zf.close()
