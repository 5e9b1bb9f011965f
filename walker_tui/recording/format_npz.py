"""The ``.npz`` recording: its writer (:class:`NpzSink`), its whole-file reader (:func:`read`)
and its tail (:class:`NpzTail`).

An ``.npz`` cannot be appended: a run streams its epochs to a sidecar (``r.npz.part``: the magic,
the head, then fixed-size records of :func:`~walker_tui.recording.schema.stream_dtype`) and its
logged metrics to ``r.npz.log.part``; closing assembles the ``.npz`` from them in bounded memory,
renamed into place, and deletes them. A killed run's ``.part`` opens as it is.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from walker_tui.recording import disk
from walker_tui.recording.ends import as_end
from walker_tui.recording.follow import NotRecording, Tail
from walker_tui.recording.npz_zip import ZipRows, assemble, record_rows
from walker_tui.recording.rows import Head, Update
from walker_tui.recording.schema import (
    MAGIC,
    MAGICS,
    MEMBERS,
    Contents,
    Row,
    log_sidecar,
    logs_of,
    sidecar,
    stream_dtype,
)


class NpzFormat:
    """``.npz``: a sidecar while it runs, assembled at the end (walker_tui.recording.formats)."""

    suffix = ".npz"
    whole_at_close = True  # assembled at close and renamed into place: atomic as it is

    def open_sink(self, path: Path, lrs: list[float], options: dict[str, Any]) -> NpzSink:
        return NpzSink(path, lrs, options)

    def read(self, path: Path) -> Contents:
        return read(path)

    def tail(self, path: Path) -> NpzTail:
        return NpzTail(path)


class NpzSink:
    """Streams an ``.npz`` recording to its sidecar; :meth:`close` assembles the ``.npz``."""

    def __init__(self, path: Path, lrs: list[float], options: dict[str, Any]) -> None:
        self.k = len(lrs)
        self.lrs = lrs
        self.options = options
        self.part = self.file = sidecar(path)
        self.logs_part = log_sidecar(path)
        self.logs_part.unlink(missing_ok=True)  # (an earlier run's)
        head = MAGIC + json.dumps({"options": options, "lrs": lrs}).encode() + b"\n"
        self.fh = disk.begin(self.part, "wb", head)
        self.buf: np.ndarray | None = None
        self.logs_fh: Any = None

    def log(self, epoch: int, values: dict[str, float]) -> None:
        if self.logs_fh is None:
            self.logs_fh = disk.open_for_writing(self.logs_part, "w")
        self.logs_fh.write(json.dumps({"epoch": epoch, "values": values}) + "\n")

    def _dims(self, d: int) -> None:
        self.fh.write(json.dumps({"d": d, "k": self.k}).encode() + b"\n")
        self.start = self.fh.tell()
        self.buf = np.zeros(1, stream_dtype(d, self.k))

    def write(self, row: Row) -> None:
        if self.buf is None:
            self._dims(row.weights.shape[0])
        b = self.buf
        assert b is not None
        b["epoch"] = row.epoch
        b["winner"] = row.winner
        b["lr"] = row.lr
        b["loss"] = row.loss
        b["moved"] = row.moved
        b["scored"] = row.scored
        b["evals"] = row.evals
        b["rates"][0] = row.rates
        b["losses"][0] = row.losses
        b["weights"][0] = row.weights
        self.fh.write(b.data)

    def flush(self) -> None:
        self.fh.flush()
        if self.logs_fh is not None:
            self.logs_fh.flush()

    def close(self, path: Path, end: dict[str, Any] | None = None) -> None:
        if self.buf is None:
            self._dims(0)
        self.fh.close()
        logs = None
        if self.logs_fh is not None:
            self.logs_fh.close()
            logs = _read_log_lines(self.logs_part)
        dtype = self.buf.dtype  # type: ignore[union-attr]
        count = (self.part.stat().st_size - self.start) // dtype.itemsize
        extras = {"log": logs, "end": end}
        assemble(self.part, self.start, dtype, count, path, self.lrs, self.options, extras)
        self.part.unlink()
        self.logs_part.unlink(missing_ok=True)

    def discard(self) -> None:
        disk.close_quietly(self.fh)
        if self.logs_fh is not None:
            disk.close_quietly(self.logs_fh)
        self.part.unlink(missing_ok=True)
        self.logs_part.unlink(missing_ok=True)

    def abandon(self) -> None:
        disk.close_quietly(self.fh)
        if self.logs_fh is not None:
            disk.close_quietly(self.logs_fh)

    def last_epoch(self) -> int | None:
        """The last whole record of the sidecar on disk."""
        with open(self.part, "rb") as fh:
            head = [fh.readline() for _ in range(3)]
            if head[0] not in MAGICS or not head[2].endswith(b"\n"):
                return None
            dtype = stream_dtype(json.loads(head[2])["d"], self.k, MAGICS[head[0]])
            start = fh.tell()
            count = (os.fstat(fh.fileno()).st_size - start) // dtype.itemsize
            if count <= 0:
                return None
            fh.seek(start + (count - 1) * dtype.itemsize)
            return int(np.frombuffer(fh.read(8), "<i8")[0])


def _read_log_lines(path: Path) -> list[Any]:
    """The JSON lines of a ``.log.part`` (a line a kill cut is dropped)."""
    items = []
    with open(path, "rb") as fh:
        for line in fh:
            try:
                items.append(json.loads(line))
            except ValueError:
                break
    return items


# --- reading it whole ---


def read(path: Path) -> Contents:
    """An ``.npz`` recording, or the sidecar of an ``.npz`` run that was killed (``r.npz.part``;
    ``r.npz`` opens it when the .npz is missing)."""
    if path.suffix.lower() == ".npz" and not path.exists() and sidecar(path).exists():
        path = sidecar(path)
    if path.suffix.lower() == ".part":
        lrs, options, a = _read_sidecar(path)
        logs_part = path.with_name(path.name[: -len(".part")] + ".log.part")
        logs = logs_of(_read_log_lines(logs_part)) if logs_part.exists() else []
        return lrs, options, a, None, logs
    end, logs = None, []
    with np.load(path) as z:
        lrs = [float(r) for r in z["lrs"]]
        options = json.loads(str(z["options"]))
        a = {name: z[name] for name in ("epoch", "weights", "losses", "winner", "rates")}
        for name in ("moved", "scored"):  # (files before them: every row moved, scored)
            a[name] = z[name] if name in z else np.ones(len(a["epoch"]), dtype=bool)
        a["evals"] = z["evals"] if "evals" in z else np.zeros(len(a["epoch"]), np.int64)
        for name in ("lr", "loss"):
            if name in z:
                a[name] = z[name]
        if "end" in z:
            end = as_end(json.loads(str(z["end"])))
        if "log" in z:
            logs = logs_of(json.loads(str(z["log"])))
    return lrs, options, a, end, logs


def _read_sidecar(path: Path) -> tuple[list[float], dict[str, Any], dict[str, np.ndarray]]:
    with open(path, "rb") as fh:
        version = MAGICS.get(fh.readline())
        if version is None:
            raise ValueError("its first line is not a walker-tui record stream's head")
        head = fh.readline()
        if not head.endswith(b"\n"):
            raise ValueError("it was cut before its options were written")
        doc = json.loads(head)
        lrs, k = [float(r) for r in doc["lrs"]], len(doc["lrs"])
        dims = fh.readline()
        d = json.loads(dims)["d"] if dims.endswith(b"\n") else 0
        dtype = stream_dtype(d, k, version)
        count = (path.stat().st_size - fh.tell()) // dtype.itemsize if d else 0
        records = np.fromfile(fh, dtype, count=count) if d else np.zeros(0, dtype)
    a = {
        name: np.ascontiguousarray(records[f]).astype(kind)
        for name, f, kind in MEMBERS
        if f in dtype.names  # (a version 1 stream has no "scored" nor "evals")
    }
    a.setdefault("scored", np.ones(len(records), dtype=bool))
    a.setdefault("evals", np.zeros(len(records), dtype=np.int64))
    return lrs, doc["options"], a


# --- following it as it grows: its .part while it runs, then the assembled file ---


class NpzTail(Tail):
    """Follows an ``.npz`` run (given as ``r.npz`` or ``r.npz.part``): its sidecar's records and
    ``.log.part`` while it runs, then the rows of the assembled ``.npz`` past those, its logs
    not read yet and its end record."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        path = Path(path)
        part = path.suffix.lower() == ".part"
        self.base = path.with_name(path.name[: -len(".part")]) if part else path
        super().__init__(path)

    def reset(self) -> None:
        super().reset()
        self.dtype: np.dtype | None = None  # the sidecar's record
        self.start = 0
        self.logs_offset = 0
        self.logs_buf = b""
        self.logs_count = 0
        self.assembled = False  # reading the assembled file
        self._npz: ZipRows | None = None

    @property
    def watched(self) -> Path:
        """The file read now (the ``.part`` while the run goes on)."""
        return self.base if self.assembled else sidecar(self.base)

    def there_again(self) -> bool:
        return self.watched.exists() or self._newer_npz()

    def read_new(self, budget: int) -> Update:
        part = sidecar(self.base)
        if self.assembled:
            return Update()
        if self.fh is None and not part.exists():
            if self.base.exists():  # a finished run: read the .npz in pieces
                return self._finished(budget)
            return Update()  # not there yet
        gone, st = self.changed(part) if self.fh is not None else (None, None)
        if gone is not None:
            if gone.problem is not None and self._newer_npz():
                # the .part went because the run assembled its .npz: read its end there
                self.deleted = False
                return self._finished(budget)
            return gone
        if self.fh is None:
            try:
                self.open_file(part)
            except FileNotFoundError:
                return Update()
        update = Update()
        if self.head is None or self.dtype is None:
            if not self._head(update):
                return update
        data, size = self.read_bytes(budget - budget % max(1, self.dtype.itemsize))
        update.done, update.size, update.mtime = self.offset, size, self.mtime
        update.more = self.offset < size
        self._logs_part(update)
        if data:
            data = self.buf + data
            whole = len(data) - len(data) % self.dtype.itemsize
            self.buf = data[whole:]
            if whole:
                records = np.frombuffer(data[:whole], self.dtype)
                update.rows = record_rows(records)
                self.rows_read += len(records)
        return update

    def _newer_npz(self) -> bool:
        """An .npz at the path written since the .part was last seen (its run assembled it),
        not one an earlier run left."""
        try:
            return os.stat(self.base).st_mtime >= self.mtime - 1.0
        except OSError:
            return False

    def _head(self, update: Update) -> bool:
        """Read the sidecar's head lines (magic, options, dims); False while incomplete."""
        self.fh.seek(0)
        magic = self.fh.readline()
        if magic not in MAGICS:
            if len(magic) >= len(MAGIC) or not any(m.startswith(magic) for m in MAGICS):
                raise NotRecording(f"{self.watched.name} is not a walker-tui record stream")
            return False
        head = self.fh.readline()
        if not head.endswith(b"\n"):
            return False
        if self.head is None:
            doc = json.loads(head)
            self.head = update.head = Head([float(r) for r in doc["lrs"]], doc["options"])
        dims = self.fh.readline()
        if not dims.endswith(b"\n"):
            return False
        self.dtype = stream_dtype(int(json.loads(dims)["d"]), self.head.k, MAGICS[magic])
        self.start = self.offset = self.fh.tell()
        return True

    def _logs_part(self, update: Update) -> None:
        path = log_sidecar(self.base)
        try:
            with open(path, "rb") as fh:
                fh.seek(self.logs_offset)
                data = fh.read()
        except FileNotFoundError:
            return
        self.logs_offset += len(data)
        text = self.logs_buf + data
        cut = text.rfind(b"\n") + 1
        self.logs_buf = text[cut:]
        items = []
        for line in text[:cut].split(b"\n"):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except ValueError:
                    continue
        self.logs_count += len(items)
        update.logs += logs_of(items)

    def _finished(self, budget: int) -> Update:
        """The assembled .npz: the rows past those read from the .part, its logs not read yet
        and its end record; read in pieces of about ``budget`` bytes."""
        update = Update()
        if self._npz is None:
            self.close()
            self._npz = ZipRows(self.base, self.rows_read)
            st = os.stat(self.base)
            self.mtime, self.identity = st.st_mtime, (st.st_dev, st.st_ino)
            if self.head is None:
                self.head = update.head = Head(self._npz.lrs, self._npz.options)
            update.logs = self._npz.logs[self.logs_count :]  # (the .log.part gave the first)
        rows = self._npz.read(budget)
        if rows is not None:
            update.rows = rows
            self.rows_read += len(rows)
        update.done, update.size, update.mtime = self._npz.done, self._npz.size, self.mtime
        update.more = not self._npz.finished
        if self._npz.finished:
            self.assembled = True
            update.end = self._npz.end
            self.ended = True
            self._npz.close()
        return update
