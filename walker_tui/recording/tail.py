"""Reading a recording as it grows, like ``tail -f``: only the bytes written since the last look.

A :class:`Tail` follows one file (``.csv``, ``.json``, ``.npz`` or the ``.npz.part`` an
``.npz`` run streams to) and :meth:`Tail.poll` returns what is new as an ``Update``
(walker_tui.recording.rows): the head (rates and options) once, the new rows, logged metrics, the
end record, and a one-line ``problem`` when the file was deleted or is not a recording, or
``restart`` when it was truncated or replaced (what was read no longer stands). Nothing new costs
one ``os.stat``. Plain numpy; no torch, no UI.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from walker_tui.recording.ends import as_end
from walker_tui.recording.files import (
    _MAGIC,
    END_MARK,
    LOG_MARK,
    _logs,
    _stream_dtype,
    log_sidecar,
    sidecar,
)
from walker_tui.recording.rows import (
    CHUNK,
    HASH,
    NL,
    Head,
    Rows,
    Update,
    _first_fields,
    _NpzRows,
    _record_rows,
    _rows_one_by_one,
)


class NotRecording(ValueError):
    """The file is not a walker-tui recording (its head says what it is not)."""


class Tail:
    """Follows one recording. ``poll`` reads what was written since the last poll."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix == ".part" and self.path.name.lower().endswith(".npz.part"):
            self.kind, self.base = "npz", self.path.with_name(self.path.name[: -len(".part")])
        elif suffix == ".npz":
            self.kind, self.base = "npz", self.path
        elif suffix in (".csv", ".json"):
            self.kind, self.base = suffix[1:], self.path
        else:
            raise ValueError(f"{str(path)!r}: a recording ends in .csv, .json, .npz or .npz.part")
        self._reset()

    def _reset(self) -> None:
        self.fh: Any = None
        self.mtime = 0.0
        self.identity: tuple[int, int] | None = None
        self.offset = 0
        self.buf = b""
        self.head: Head | None = None
        self.ended = False
        self.stopped: str | None = None  # a problem said: nothing more is read
        self.deleted = False  # the file went: watched for a new one at its path
        self.rows_read = 0
        # .csv
        self.fixed = 5
        self.d: int | None = None
        # .npz: the sidecar's record layout, its logs' offset, whether reading the assembled file
        self.dtype: np.dtype | None = None
        self.start = 0
        self.logs_offset = 0
        self.logs_buf = b""
        self.logs_count = 0
        self.assembled = False
        self._npz: _NpzRows | None = None

    def close(self) -> None:
        if self.fh is not None:
            try:
                self.fh.close()
            except OSError:
                pass
            self.fh = None

    @property
    def watched(self) -> Path:
        """The file read now (an .npz run's ``.part`` while it runs)."""
        if self.kind == "npz" and not self.assembled:
            return sidecar(self.base)
        return self.base

    # --- polling ---

    def poll(self, budget: int = CHUNK) -> Update:
        if self.deleted:  # (said once; a new file at the path is read from its start)
            if self.watched.exists() or (self.kind == "npz" and self._newer_npz()):
                return self._restart(f"{self.path.name} is there again: reading the new file")
            return Update()
        if self.stopped is not None:
            return Update()
        if self.ended:  # (a finished file is still watched: deleted, or a new run writes it)
            gone, _ = self._changed(self.watched)
            return gone or Update()
        try:
            if self.kind == "npz":
                return self._poll_npz(budget)
            return self._poll_text(budget)
        except NotRecording as error:
            self.stopped = str(error)
            self.close()
            return Update(problem=self.stopped)
        except OSError as error:
            self.stopped = f"{self.path} cannot be read: {error.strerror or error}"
            self.close()
            return Update(problem=self.stopped)

    def _changed(self, path: Path) -> tuple[Update | None, os.stat_result | None]:
        """(an update saying the file went away or was replaced, or None; its stat)."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            if self.identity is None:
                return None, None  # (not there yet: waiting for it)
            self.close()
            self.deleted = True
            why = f"{path.name} was deleted: what was read stays on screen"
            return Update(problem=why), None
        if self.identity is not None and (st.st_dev, st.st_ino) != self.identity:
            return self._restart(f"{path.name} was replaced by another file: reading it anew"), st
        if self.fh is not None and st.st_size < self.offset:
            return self._restart(f"{path.name} was truncated: reading it anew"), st
        return None, st

    def _restart(self, why: str) -> Update:
        self.close()
        self._reset()
        return Update(restart=why)

    def _open(self, path: Path) -> None:
        self.fh = open(path, "rb")  # noqa: SIM115 (kept open while following)
        st = os.fstat(self.fh.fileno())
        self.identity = (st.st_dev, st.st_ino)

    def _read(self, budget: int) -> tuple[bytes, int]:
        """New bytes (at most ``budget``) and the size now."""
        st = os.fstat(self.fh.fileno())
        size, self.mtime = st.st_size, st.st_mtime
        if size <= self.offset:
            return b"", size
        self.fh.seek(self.offset)
        data = self.fh.read(min(budget, size - self.offset))
        self.offset += len(data)
        return data, size

    # --- .csv and .json ---

    def _poll_text(self, budget: int) -> Update:
        gone, st = self._changed(self.path)
        if gone is not None:
            return gone
        if st is None:
            return Update()  # not there yet
        if self.fh is None:
            self._open(self.path)
        if st.st_size <= self.offset:
            return Update(done=self.offset, size=st.st_size)
        data, size = self._read(budget)
        text = self.buf + data
        update = Update(done=self.offset, size=size, more=self.offset < size, mtime=self.mtime)
        if self.kind == "csv":
            self.buf = self._csv(text, update)
        else:
            self.buf = self._json(text, update)
        return update

    def _csv(self, text: bytes, update: Update) -> bytes:
        cut = text.rfind(b"\n") + 1  # whole lines only: the writer may be mid-row
        whole, rest = text[:cut], text[cut:]
        if not whole:
            return rest
        if self.head is None:
            lines = whole.split(b"\n", 2)
            if not lines[0].startswith(b"# walker-tui record"):
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
            self.fixed = 5 if "moved" in names[:5] else 4
            self.d = max(0, (len(names) - self.fixed) // self.head.k - 2)
        if whole:
            self._csv_rows(whole, update)
        return rest

    def _csv_rows(self, whole: bytes, update: Update) -> None:
        b = np.frombuffer(whole, np.uint8)
        ends = np.flatnonzero(b == NL)
        starts = np.concatenate([[0], ends[:-1] + 1])
        nonempty = ends > starts
        starts, ends = starts[nonempty], ends[nonempty]
        comment = b[starts] == HASH
        for s, e in zip(starts[comment], ends[comment], strict=True):
            self._csv_comment(whole[s:e], update)
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

        moved = fields[4] == 1 if fixed == 5 else np.ones(len(starts), dtype=bool)
        epoch = fields[0].astype(np.int64)
        winner = fields[1].astype(np.int64)
        update.rows = Rows(epoch, winner, fields[2], fields[3], moved, full)
        self.rows_read += len(epoch)

    def _csv_comment(self, line: bytes, update: Update) -> None:
        text = line.decode(errors="replace")
        try:
            if text.startswith(LOG_MARK):
                update.logs += _logs([json.loads(text[len(LOG_MARK) :])])
            elif text.startswith(END_MARK):
                update.end = as_end(json.loads(text[len(END_MARK) :]))
                self.ended = update.end is not None
        except ValueError:
            pass

    def _json(self, text: bytes, update: Update) -> bytes:
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
        self._json_rows(lines, update)
        return rest

    def _json_rows(self, lines: list[bytes], update: Update) -> None:
        assert self.head is not None
        light, bodies = [], []
        for raw in lines:
            line = raw.strip().lstrip(b",").strip().rstrip(b",")
            if not line:
                continue
            if line.startswith(b"]"):
                self._json_close(line, update)
                continue
            match = _JSON_LIGHT.match(line)
            if match is None or b'"logs": ' in line:
                try:
                    doc = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(doc, dict) or "epoch" not in doc:
                    continue
                update.logs += _logs(doc.get("logs") or [])
                winner = int(doc["winner"])
                loss = doc.get("loss", doc["losses"][winner])
                lr = doc.get("lr", doc["rates"][winner])
                light.append(
                    (int(doc["epoch"]), winner, float(lr), float(loss), doc.get("moved", True))
                )
            else:
                e, w, lr, loss, moved = match.groups()
                light.append(
                    (int(e), int(w), float(lr.strip(b'"')), float(loss.strip(b'"')), moved == b"t")
                )
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

        e, w, lr, loss, moved = (np.asarray(c) for c in zip(*light, strict=True))
        update.rows = Rows(
            e.astype(np.int64), w.astype(np.int64), lr.astype(float), loss.astype(float),
            moved.astype(bool), full,
        )  # fmt: skip
        self.rows_read += len(e)

    def _json_close(self, line: bytes, update: Update) -> None:
        """The closing line: ``]`` then the logs still held and the end record, then ``}``."""
        try:
            doc = json.loads(b"{" + line[1:].lstrip().lstrip(b","))
        except ValueError:
            return
        update.logs += _logs(doc.get("logs") or [])
        update.end = as_end(doc.get("end"))
        self.ended = update.end is not None

    # --- .npz: its .part while it runs, then the assembled file ---

    def _poll_npz(self, budget: int) -> Update:
        part = sidecar(self.base)
        if self.assembled:
            return Update()
        if self.fh is None and not part.exists():
            if self.base.exists():  # a finished run: read the .npz in pieces
                return self._npz_finished(budget)
            return Update()  # not there yet
        gone, st = self._changed(part) if self.fh is not None else (None, None)
        if gone is not None:
            if gone.problem is not None and self._newer_npz():
                # the .part went because the run assembled its .npz: read its end there
                self.deleted = False
                return self._npz_finished(budget)
            return gone
        if self.fh is None:
            try:
                self._open(part)
            except FileNotFoundError:
                return Update()
        update = Update()
        if self.head is None or self.dtype is None:
            if not self._npz_head(update):
                return update
        data, size = self._read(budget - budget % max(1, self.dtype.itemsize))
        update.done, update.size, update.mtime = self.offset, size, self.mtime
        update.more = self.offset < size
        self._logs_part(update)
        if data:
            data = self.buf + data
            whole = len(data) - len(data) % self.dtype.itemsize
            self.buf = data[whole:]
            if whole:
                records = np.frombuffer(data[:whole], self.dtype)
                update.rows = _record_rows(records)
                self.rows_read += len(records)
        return update

    def _newer_npz(self) -> bool:
        """An .npz at the path written since the .part was last seen (its run assembled it),
        not one an earlier run left."""
        try:
            return os.stat(self.base).st_mtime >= self.mtime - 1.0
        except OSError:
            return False

    def _npz_head(self, update: Update) -> bool:
        """Read the sidecar's head lines (magic, options, dims); False while incomplete."""
        self.fh.seek(0)
        magic = self.fh.readline()
        if magic != _MAGIC:
            if len(magic) >= len(_MAGIC) or not _MAGIC.startswith(magic):
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
        self.dtype = _stream_dtype(int(json.loads(dims)["d"]), self.head.k)
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
        update.logs += _logs(items)

    def _npz_finished(self, budget: int) -> Update:
        """The assembled .npz: the rows past those read from the .part, its logs not read yet
        and its end record; read in pieces of about ``budget`` bytes."""
        update = Update()
        if self._npz is None:
            self.close()
            self._npz = _NpzRows(self.base, self.rows_read)
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


# a .json row's small fields, as the writer puts them first: epoch, winner, lr, loss, moved
_JSON_LIGHT = re.compile(
    rb'\{"epoch": (-?\d+), "winner": (-?\d+), "lr": ("?[-+\w.]+"?), "loss": ("?[-+\w.]+"?), '
    rb'"moved": (t|f)'
)


def probe(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be watched (one line), or None: a recording, or not there yet."""
    try:
        tail = Tail(path)
    except ValueError as error:
        return str(error)
    if Path(path).is_dir():
        return f"{str(path)!r} is a folder"
    update = tail.poll(1 << 16)
    tail.close()
    return update.problem
