"""Recording epochs: a bounded history for the app and full recordings for ``--record``.

No torch, no UI: plain numpy. A :class:`Curve` keeps at most ``cap`` points of a long series by
halving its resolution when it fills, so memory stays bounded over millions of epochs. A
:class:`RecordWriter` streams a recording to disk epoch by epoch (``run --record``), so neither a
long run's memory nor a killed run's file depends on how many epochs there were.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import math
import os
import tempfile
import threading
import zipfile
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from walker_tui.catalog import RECORD_FORMATS
from walker_tui.recording.ends import as_end, check_metric, end_record, outcome_of_exit

FORMATS = RECORD_FORMATS  # (the one list: catalog.py, which the command line reads)


class Curve:
    """Rows (epoch, values...) of a long series kept at most ``cap`` long. The first ``head`` rows
    are always kept (a run's early epochs carry its story: on a log axis they are half the
    picture); past them, when full, every other row is dropped and from then on only every
    ``stride``-th new row is kept. The latest row is always known, so a thinned curve still ends
    where the run is. Rows live in one preallocated numpy array, so reading the columns for a
    frame costs no conversion."""

    def __init__(self, cap: int = 4096, head: int | None = None) -> None:
        self.cap = cap
        self.head = cap // 8 if head is None else min(head, cap // 2)
        self.stride = 1
        self._seen = 0
        self._n = 0
        self._rows: np.ndarray | None = None
        self.last: tuple[float, ...] | None = None

    def append(self, *row: float) -> None:
        self.last = row
        if self._rows is None:
            self._rows = np.empty((self.cap, len(row)))
        if self._seen < self.head or (self._seen - self.head) % self.stride == 0:
            self._rows[self._n] = row
            self._n += 1
            if self._n >= self.cap:
                kept = self._rows[self.head : self._n : 2].copy()
                self._n = self.head + len(kept)
                self._rows[self.head : self._n] = kept
                self.stride *= 2
        self._seen += 1

    def extend(self, rows: np.ndarray) -> None:
        """Append many rows at once (n x columns), keeping exactly the rows that as many
        :meth:`append` calls would keep, without a Python step per row."""
        rows = np.asarray(rows, dtype=float)
        n = len(rows)
        if n == 0:
            return
        self.last = tuple(float(v) for v in rows[-1])
        if self._rows is None:
            self._rows = np.empty((self.cap, rows.shape[1]))
        i = 0
        if self._seen < self.head:  # the head is kept whole (it is at most half the cap)
            take = min(self.head - self._seen, n)
            self._rows[self._n : self._n + take] = rows[:take]
            self._n += take
            self._seen += take
            i = take
        while i < n:
            first = i + (-(self._seen - self.head)) % self.stride
            idx = np.arange(first, n, self.stride)
            room = self.cap - self._n
            if len(idx) < room:
                self._rows[self._n : self._n + len(idx)] = rows[idx]
                self._n += len(idx)
                self._seen += n - i
                return
            take = idx[:room]  # fills it: halve, as append does, and go on past that row
            self._rows[self._n : self.cap] = rows[take]
            self._n = self.cap
            self._seen += int(take[-1]) + 1 - i
            i = int(take[-1]) + 1
            kept = self._rows[self.head : self._n : 2].copy()
            self._n = self.head + len(kept)
            self._rows[self.head : self._n] = kept
            self.stride *= 2

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


class Path2D:
    """A walk in the plane, (epoch, x, y), thinned by distance, not by epoch: a point is kept
    when it lies at least ``tol`` from the last kept one, so the early zigzag (large steps) stays
    whole while thousands of tiny steps near the end collapse. When more than ``cap`` points
    are kept, ``tol`` doubles (at least 1/4000 of the walk's extent) and the walk is thinned
    again; the latest point is always known."""

    def __init__(self, cap: int = 4096) -> None:
        self.cap, self.tol = cap, 0.0
        self._rows = np.empty((cap + 1, 3))
        self._n = 0
        self.last: tuple[float, float, float] | None = None

    def append(self, epoch: float, x: float, y: float) -> None:
        self.last = (epoch, x, y)
        if not (math.isfinite(x) and math.isfinite(y)):
            return  # (a diverged point is drawn from `last`, never stored in the shape)
        if self._n:
            px, py = self._rows[self._n - 1, 1:]
            if math.hypot(x - px, y - py) < self.tol:
                return
        self._rows[self._n] = (epoch, x, y)
        self._n += 1
        if self._n > self.cap:
            self._rethin()

    def _rethin(self) -> None:
        rows = self._rows[: self._n]
        extent = float(np.hypot(np.ptp(rows[:, 1]), np.ptp(rows[:, 2])))
        while self._n > self.cap // 2:
            self.tol = max(self.tol * 2, extent / 4000, 1e-300)
            keep = [0]
            for i in range(1, len(rows)):
                px, py = rows[keep[-1], 1:]
                if math.hypot(rows[i, 1] - px, rows[i, 2] - py) >= self.tol:
                    keep.append(i)
            kept = rows[keep].copy()
            self._n = len(kept)
            self._rows[: self._n] = kept
            rows = self._rows[: self._n]

    def __len__(self) -> int:
        return self._n

    def columns(self, upto: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """x and y of the kept points up to epoch ``upto`` (default: all, ending at the latest)."""
        rows = self._rows[: self._n].copy()
        if upto is not None:
            rows = rows[: int(np.searchsorted(rows[:, 0], upto, side="right"))]
        elif self.last is not None and (not len(rows) or rows[-1, 0] != self.last[0]):
            rows = np.vstack([rows, np.asarray(self.last, dtype=float)[None, :]])
        return rows[:, 1], rows[:, 2]


class History:
    """The app's memory of one trainer, bounded whatever the run's length: the recent epochs in
    full, the first ones in full, and records sampled across the rest (for time travel); the
    loss curve (epoch, loss, w[0], w[1], evaluations, seconds) at most ``cap`` rows; and the path
    in the plane thinned by distance (:class:`Path2D`)."""

    def __init__(
        self,
        keep: int = 2000,
        cap: int = 4096,
        project: Any = None,
        early: int | None = None,
        samples: int | None = None,
    ) -> None:
        self.recent: deque[Any] = deque(maxlen=keep)
        self.early: list[Any] = []
        self.early_cap = keep // 4 if early is None else early
        self.sampled: dict[int, Any] = {}  # every `stride`-th epoch past the early ones
        self.samples_cap = keep if samples is None else samples
        self.stride = 1
        self.curve = Curve(cap)
        self.path = Path2D(cap)
        self.project = project  # weights -> (x, y) on the surface's plane; None: w[0], w[1]

    def add(self, rec: Any) -> None:
        self.recent.append(rec)
        if len(self.early) < self.early_cap:
            self.early.append(rec)
        elif rec.epoch % self.stride == 0:
            self.sampled[rec.epoch] = rec
            if len(self.sampled) > self.samples_cap:
                self.stride *= 2
                self.sampled = {e: r for e, r in self.sampled.items() if e % self.stride == 0}
        w = rec.position
        if self.project is not None:
            w = self.project(w)
        x, y = float(w[0]), float(w[1])
        self.curve.append(
            rec.epoch,
            rec.loss,
            x,
            y,
            float(getattr(rec, "evals", 0)),
            float(getattr(rec, "seconds", 0.0)),
        )
        self.path.append(rec.epoch, x, y)

    def extend(
        self,
        epochs: np.ndarray,
        losses: np.ndarray,
        evals: np.ndarray,
        held: Sequence[tuple[int, Any]],
    ) -> None:
        """Many epochs at once, in order: their epoch, loss and evaluation columns (the loss
        curve takes every one), and ``held``, (index, record) of the rows given in full, in
        order. Those are what :meth:`add` would keep of them: the early ones, the sampled ones
        (an epoch a power-of-two stride divides), the recent ones; the path goes through them.
        The rows given in full from the batch's last ``keep`` on become the recent epochs
        (give all of a short batch, and the last ``keep`` of a file's last pieces); rows not
        given in full are on the curve only. Opening a long recording this way builds a record
        for thousands of its epochs, not for millions."""
        n = len(epochs)
        if n == 0:
            return
        keep = self.recent.maxlen or n
        tail = n - min(n, keep)  # the rows that become the recent ones
        xy = np.full((n, 2), np.nan)
        for i, rec in held:
            if i >= tail:
                if self.recent and rec.epoch != self.recent[-1].epoch + 1:
                    self.recent.clear()  # (held in full must be consecutive: a gap starts anew)
                self.recent.append(rec)
            if len(self.early) < self.early_cap:
                if self.early and rec.epoch != self.early[-1].epoch + 1:
                    self.early_cap = len(self.early)  # (a gap: the early run ends there)
                else:
                    self.early.append(rec)
                    w = rec.position if self.project is None else self.project(rec.position)
                    xy[i] = float(w[0]), float(w[1])
                    self.path.append(rec.epoch, *xy[i])
                    continue
            if rec.epoch % self.stride == 0:
                self.sampled[rec.epoch] = rec
                if len(self.sampled) > self.samples_cap:
                    self.stride *= 2
                    self.sampled = {e: r for e, r in self.sampled.items() if e % self.stride == 0}
            w = rec.position if self.project is None else self.project(rec.position)
            xy[i] = float(w[0]), float(w[1])
            self.path.append(rec.epoch, *xy[i])
        rows = np.column_stack(
            [
                np.asarray(epochs, dtype=float),
                np.asarray(losses, dtype=float),
                xy,
                np.asarray(evals, dtype=float),
                np.zeros(n),
            ]
        )
        self.curve.extend(rows)

    def at(self, epoch: int) -> Any | None:
        """The record of ``epoch`` if it is held."""
        if self.recent:
            i = epoch - self.recent[0].epoch
            if 0 <= i < len(self.recent):
                return self.recent[i]
        if self.early and epoch <= self.early[-1].epoch:
            i = epoch - self.early[0].epoch
            return self.early[i] if 0 <= i < len(self.early) else None
        return self.sampled.get(epoch)

    def held(self) -> list[int]:
        """Every epoch held in full, in order: where time travel can stop."""
        epochs = {r.epoch for r in self.early} | set(self.sampled)
        if self.recent:
            epochs |= set(range(self.recent[0].epoch, self.recent[-1].epoch + 1))
        return sorted(epochs)

    def nearest(self, epoch: float, direction: int = 0) -> int | None:
        """The held epoch nearest ``epoch``: at or before it (direction -1), at or after it
        (+1), or either (0)."""
        held = self.held()
        if not held:
            return None
        i = bisect.bisect_left(held, epoch)
        before = held[i - 1] if i > 0 and (i == len(held) or held[i] != epoch) else None
        at_or_after = held[i] if i < len(held) else None
        if at_or_after == epoch:
            return int(epoch)
        if direction < 0:
            return before if before is not None else held[0]
        if direction > 0:
            return at_or_after if at_or_after is not None else held[-1]
        options = [e for e in (before, at_or_after) if e is not None]
        return min(options, key=lambda e: abs(e - epoch))

    @property
    def latest(self) -> Any | None:
        return self.recent[-1] if self.recent else None

    @property
    def first_held(self) -> int:
        if self.early:
            return self.early[0].epoch
        return self.recent[0].epoch if self.recent else 0


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


def as_row(rec: Any, lrs: Sequence[float]) -> Row:
    """A :class:`Row` from an engine record (or a Row). Records without ``lr``/``loss`` (older
    callers) get the winner's rate and loss."""
    weights = np.asarray(rec.weights, dtype=np.float32)
    losses = np.asarray(rec.losses, dtype=np.float32)
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
    )


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


def _end_of(end: str | dict[str, Any] | None, epoch: int | None) -> dict[str, Any] | None:
    """An end record from an outcome's name (or a record as it is; None: none)."""
    if end is None or isinstance(end, dict):
        return end
    return end_record(end, epoch)


class RecordWriter:
    """Writes a recording epoch by epoch as it comes, in O(1) memory, and flushes what it wrote to
    the operating system within ``flush_every`` seconds (a timer thread: epochs that come in bursts,
    as the GPU path delivers them, or slowly, are on disk a second later all the same), so a killed
    run keeps all but its last second.

    ``.csv`` and ``.json`` stream straight to ``path``; a file cut anywhere (even mid-line) still
    loads. ``.npz`` cannot be appended: the epochs stream to :func:`sidecar` (``path.part``), and
    :meth:`close` assembles the ``.npz`` from it in bounded memory, atomically, then deletes it.
    ``atomic=True`` (used by :meth:`Recording.save`) gives all or nothing instead: ``.csv`` and
    ``.json`` go to a temporary file renamed into place at the end, and an error drops the write.
    Use as a context manager, or call :meth:`close`.

    A streamed recording never raises once it is open (opening it does, on a bad path or a full
    disk): when the file cannot be written (a full disk, a quota, an I/O error), or another
    process deletes or replaces it (seen at the next flush), the recording stops there, leaves
    what is on disk as it is (it loads: a half-written last row is dropped) and :attr:`failure`
    says in one line after which epoch and why; :meth:`add` then does nothing.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        lrs: Sequence[float],
        options: dict[str, Any] | None = None,
        flush_every: float | None = 1.0,
        atomic: bool = False,
    ) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in FORMATS:
            raise ValueError(f"unknown record format {suffix!r}; use {', '.join(FORMATS)}")
        self.lrs = [float(r) for r in lrs]
        self.options = dict(options or {})
        self.atomic = atomic
        self.count = 0
        self.closed = False
        self.failure: str | None = None  # why the recording stopped, in one line
        self.last_epoch: int | None = None  # the last epoch handed over (and written)
        self.kept: int | None = None  # after a failure: the last whole epoch left on disk
        self.gone = False  # after a failure: another process deleted or replaced the file
        self._tmp: Path | None = None
        target = self.path
        if atomic and suffix != ".npz":
            fd, tmp = _temp_beside(self.path)
            os.close(fd)
            self._tmp = target = Path(tmp)
        sink = {".csv": _CsvSink, ".json": _JsonSink, ".npz": _NpzSink}[suffix]
        self._sink = sink(target, self.lrs, self.options)
        self._identity = _identity(self._sink.fh)  # to see another process delete or replace it
        # add() and the timer take turns on the file: neither sees the other's half-done write
        self._lock = threading.Lock()
        self._unflushed = False
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        if flush_every is not None:
            self._timer = threading.Thread(
                target=self._flush_every, args=(flush_every,), name="record-flush", daemon=True
            )
            self._timer.start()

    def add(self, rec: Any) -> None:
        if self.failure is not None:
            return
        row = as_row(rec, self.lrs)
        with self._lock:
            if self.failure is not None:
                return
            try:
                self._sink.write(row)
            except OSError as error:
                self._fail(error)
                return
            self._unflushed = True
            self.last_epoch = row.epoch
        self.count += 1

    def log(self, epoch: int, values: dict[str, Any]) -> None:
        """Add named numbers (finite) to epoch ``epoch``'s row, one already written (a .csv
        writes them at once as a comment line; a .json with its next row or its end; an .npz
        to its ``.log.part`` beside the ``.part``). Never raises once open, as :meth:`add`."""
        clean = {str(k): check_metric(k, v) for k, v in values.items()}
        if self.failure is not None or not clean:
            return
        if self.last_epoch is None:
            raise ValueError("log: no epoch written yet; log adds to an epoch's row")
        with self._lock:
            if self.failure is not None or self.closed:
                return
            try:
                self._sink.log(int(epoch), clean)
            except OSError as error:
                self._fail(error)
                return
            self._unflushed = True

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        """(Holding the lock.) Hand what was written to the operating system, unless the file
        is no longer ours."""
        if self.failure is not None or self.closed:
            return
        gone = self._gone()
        if gone is not None:
            self._fail(gone=gone)
            return
        try:
            self._sink.flush()
        except OSError as error:
            self._fail(error)
            return
        self._unflushed = False

    def _flush_every(self, seconds: float) -> None:
        while not self._stop.wait(seconds):
            with self._lock:
                if self._unflushed and not self.closed:
                    try:
                        self._flush()
                    except OSError:  # an atomic write: close() says it
                        pass

    def _gone(self) -> str | None:
        """'deleted' or 'moved or replaced' when the file at the sink's path is no longer the
        one it opened (another process: rm, log rotation); None while it is."""
        if self._identity is None:
            return None
        try:
            now = os.stat(self._sink.file)
        except FileNotFoundError:
            return "deleted"
        except OSError:
            return None
        return None if (now.st_dev, now.st_ino) == self._identity else "moved or replaced"

    def _fail(self, error: OSError | None = None, gone: str | None = None) -> None:
        """(Holding the lock.) Stop recording: the file is closed as it is and :attr:`failure`
        says after which epoch and why. An atomic write raises instead (nothing is kept)."""
        if self.atomic and error is not None:
            self.failure = f"{describe_os_error(error)} ({self._sink.file})"
            raise error
        sink = self._sink
        sink.abandon()
        file = sink.file
        kept = self.last_epoch
        if gone is None:
            try:
                kept = sink.last_epoch()  # what is on disk: a cut last row does not count
            except (OSError, ValueError):
                pass
        at = "before its first epoch" if kept is None else f"after epoch {kept}"
        if gone is not None:
            why = f"{file} was {gone} by another process"
            if gone != "deleted":
                why += " (the file there now is left alone)"
        else:
            why = f"{describe_os_error(error)} ({file}"
            why += ": walker-tui replay opens it)" if file.suffix == ".part" else ")"
        self.failure = f"the recording stopped {at}: {why}"
        self.kept, self.gone = kept, gone is not None
        self._unflushed = False

    def _stop_timer(self) -> None:
        self._stop.set()
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.join()

    def close(self, end: str | dict[str, Any] | None = "closed") -> None:
        """End the file cleanly (idempotent), with its end record: ``end`` names the outcome
        (walker_tui.recording.ends.OUTCOMES: "reached", "limit", "diverged", "interrupted", "closed",
        "failed", "saved"), or is an end record, or None for none (a recording that was cut
        short, saved again as it was). A streamed recording that cannot be ended says why in
        :attr:`failure` (an .npz that cannot be assembled keeps its whole ``.part``)."""
        if self.closed:
            return
        ending = _end_of(end, self.last_epoch)
        self._stop_timer()
        with self._lock:
            self.closed = True
            if self.failure is not None:
                if self.atomic:
                    self._sink.discard()
                    self._discard()
                    raise OSError(self.failure)
                return  # (the file was left as it stood when it stopped)
            gone = None if self.atomic else self._gone()
            if gone is not None:
                self._fail(gone=gone)
                return
            try:
                self._sink.close(self.path, ending)
            except OSError as error:
                if self.atomic:
                    self._sink.discard()
                    self._discard()
                    raise
                self._fail(error)
                if isinstance(self._sink, _NpzSink):
                    upto = "no epochs" if self.kept is None else f"the epochs up to {self.kept}"
                    why = describe_os_error(error)
                    self.failure = (
                        f"could not assemble {self.path}: {why}; {self._sink.part} holds {upto} "
                        "(walker-tui replay opens it)"
                    )
                return
            except BaseException:
                self._discard()
                raise
        if self._tmp is not None:
            os.replace(self._tmp, self.path)

    def abort(self, end: str | dict[str, Any] | None = "failed") -> None:
        """Drop an ``atomic`` write (the target is left as it was); otherwise the same as
        close, with the end record ``end``."""
        if not self.atomic:
            self.close(end)
            return
        if self.closed:
            return
        self._stop_timer()
        with self._lock:
            self.closed = True
            self._sink.discard()
            self._discard()

    def _discard(self) -> None:
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, kind: Any, error: Any, tb: Any) -> None:
        if kind is not None:  # atomic: nothing written; streamed: the file ends cleanly
            outcome, how = outcome_of_exit(kind)
            self.abort(end_record(outcome, self.last_epoch, how))
        else:
            self.close()


def append_end(path: str | os.PathLike[str], end: dict[str, Any]) -> None:
    """End a ``.csv`` copy of a recording that is still being written (the app's ``w``) with
    an end record; a half-written last row (which the loaders drop) is cut off first."""
    with open(path, "r+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        at = max(0, size - (1 << 20))
        fh.seek(at)
        tail = fh.read()
        cut = tail.rfind(b"\n")
        fh.seek(at + cut + 1 if cut >= 0 else size)
        fh.truncate()
        fh.write(f"{END_MARK}{json.dumps(end)}\n".encode())


def _open(path: Path, mode: str, newline: str | None = None) -> Any:
    """Every file a recording streams to is opened here (the tests hand it a disk that fills)."""
    return open(path, mode, newline=newline)  # noqa: SIM115 (the sink closes it)


def _begin(path: Path, mode: str, head: Any, newline: str | None = None) -> Any:
    """A recording's file, opened with its head written and flushed; a head that does not fit
    (a full disk) takes the file it began with it."""
    fh = _open(path, mode, newline=newline)
    try:
        fh.write(head)
        fh.flush()
    except OSError:
        _close_quietly(fh)
        path.unlink(missing_ok=True)
        raise
    return fh


def _identity(fh: Any) -> tuple[int, int] | None:
    """(device, inode) of an open file, or None where the platform gives no inode."""
    try:
        st = os.fstat(fh.fileno())
    except (OSError, AttributeError, ValueError):
        return None
    return (st.st_dev, st.st_ino) if st.st_ino else None


def describe_os_error(error: OSError | None) -> str:
    """An OSError's words, as a sentence's clause: 'no space left on device'."""
    text = (getattr(error, "strerror", None) or str(error)).strip() or type(error).__name__
    return text[0].lower() + text[1:] if text[1:2].islower() else text


def _close_quietly(fh: Any) -> None:
    """Close a file whose writes failed: what its buffer still holds is dropped, the handle is
    closed all the same."""
    try:
        fh.close()
    except OSError:
        pass


def _tail_lines(path: Path, block: int = 1 << 16, lines: int = 2) -> list[bytes]:
    """A file's last lines as its loader sees them: the piece after the last newline (a cut row,
    or empty) last, and before it at least ``lines`` whole lines (or the file's start)."""
    with open(path, "rb") as fh:
        at = fh.seek(0, os.SEEK_END)
        blocks: list[bytes] = []
        newlines = 0
        while at > 0 and newlines < lines + 1:
            step = min(block, at)
            at -= step
            fh.seek(at)
            blocks.insert(0, fh.read(step))
            newlines += blocks[0].count(b"\n")
    lines = b"".join(blocks).split(b"\n")
    return lines[1:] if at > 0 else lines  # (the first piece may have been cut by the window)


LOG_MARK = "# log: "  # a .csv's comment line of logged metrics: {"epoch": N, "values": {...}}
END_MARK = "# end: "  # a .csv's last line: its end record (walker_tui.recording.ends)


class _CsvSink:
    """Two comment lines (options, lrs), a header row (written with the first epoch, when the
    number of weights is known), then one row an epoch; logged metrics and the end record as
    comment lines (``# log: {...}``, ``# end: {...}``), which today's loaders skip."""

    def __init__(self, path: Path, lrs: list[float], options: dict[str, Any]) -> None:
        self.k = len(lrs)
        self.file = path
        self.fh = _begin(
            path,
            "w",
            f"# walker-tui record; options: {json.dumps(options)}\n# lrs: {json.dumps(lrs)}\n",
            newline="",
        )
        self.d: int | None = None

    def _header(self, d: int) -> None:
        self.d = d
        head = ["epoch", "winner", "lr", "loss", "moved"]
        for j in range(self.k):
            head += [f"lr_{j}", f"loss_{j}"] + [f"w{i}_{j}" for i in range(d)]
        self.fh.write(",".join(head) + "\n")

    def write(self, row: Row) -> None:
        if self.d is None:
            self._header(row.weights.shape[0])
        per = np.empty((self.k, row.weights.shape[0] + 2))
        per[:, 0] = row.rates
        per[:, 1] = row.losses
        per[:, 2:] = row.weights.T
        # floats as repr: float32 values widened exactly, nan and inf as such; one write a row
        head = [row.epoch, row.winner, row.lr, row.loss, int(row.moved)]
        self.fh.write(",".join(map(repr, head + per.ravel().tolist())) + "\n")

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
        _close_quietly(self.fh)

    def abandon(self) -> None:
        _close_quietly(self.fh)

    def last_epoch(self) -> int | None:
        """The last whole row on disk (the loader drops a cut one; comment lines are skipped)."""
        lines = _tail_lines(self.file, lines=64)
        for whole in reversed(lines[:-1]):
            if whole.startswith(b"#"):
                continue
            first = whole.split(b",", 1)[0]
            return int(first) if first.isdigit() else None  # (a head line: no epochs yet)
        return None


class _JsonSink:
    """The head (options, lrs, ``"epochs": [``) on one line, one epoch object a line, ``]}`` at
    the end: a finished file is one JSON document; a cut one loads line by line."""

    def __init__(self, path: Path, lrs: list[float], options: dict[str, Any]) -> None:
        self.file = path
        head = json.dumps({"options": options, "lrs": lrs})
        self.fh = _begin(path, "w", head[:-1] + ', "epochs": [')
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
        _close_quietly(self.fh)

    def abandon(self) -> None:
        _close_quietly(self.fh)

    def last_epoch(self) -> int | None:
        """The last epoch line on disk that parses whole (as the loader reads a cut file)."""
        for line in reversed(_tail_lines(self.file)[-2:]):
            try:
                doc = json.loads(line.strip().strip(b","))
            except ValueError:
                continue
            if isinstance(doc, dict) and "epoch" in doc and "options" not in doc:
                return int(doc["epoch"])
        return None


# The .npz sidecar: a magic line, a JSON line {"options", "lrs"}, and with the first epoch a JSON
# line {"d", "k"}; then fixed-size little-endian records of _stream_dtype(d, k). A cut file loads
# its whole records.
_MAGIC = b"walker-tui record stream 1\n"
# npz members from the stream's fields (name, field, dtype in the .npz), then "lrs" and "options"
_MEMBERS = (
    ("epoch", "epoch", "<i8"),
    ("weights", "weights", "<f4"),
    ("losses", "losses", "<f4"),
    ("winner", "winner", "<i8"),
    ("rates", "rates", "<f8"),
    ("moved", "moved", "|b1"),
    ("lr", "lr", "<f8"),
    ("loss", "loss", "<f8"),
)


_WINDOW = 16 << 20  # bytes of the sidecar in memory at a time while assembling the .npz


def _stream_dtype(d: int, k: int) -> np.dtype:
    return np.dtype(
        [
            ("epoch", "<i8"),
            ("winner", "<i8"),
            ("lr", "<f8"),
            ("loss", "<f8"),
            ("moved", "u1"),
            ("rates", "<f8", (k,)),
            ("losses", "<f4", (k,)),
            ("weights", "<f4", (d, k)),  # last: the small fields of a record share a page
        ]
    )


class _NpzSink:
    def __init__(self, path: Path, lrs: list[float], options: dict[str, Any]) -> None:
        self.k = len(lrs)
        self.lrs = lrs
        self.options = options
        self.part = self.file = sidecar(path)
        self.logs_part = log_sidecar(path)
        self.logs_part.unlink(missing_ok=True)  # (an earlier run's)
        head = _MAGIC + json.dumps({"options": options, "lrs": lrs}).encode() + b"\n"
        self.fh = _begin(self.part, "wb", head)
        self.buf: np.ndarray | None = None
        self.logs_fh: Any = None

    def log(self, epoch: int, values: dict[str, float]) -> None:
        if self.logs_fh is None:
            self.logs_fh = _open(self.logs_part, "w")
        self.logs_fh.write(json.dumps({"epoch": epoch, "values": values}) + "\n")

    def _dims(self, d: int) -> None:
        self.fh.write(json.dumps({"d": d, "k": self.k}).encode() + b"\n")
        self.start = self.fh.tell()
        self.buf = np.zeros(1, _stream_dtype(d, self.k))

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
        _assemble(self.part, self.start, dtype, count, path, self.lrs, self.options, extras)
        self.part.unlink()
        self.logs_part.unlink(missing_ok=True)

    def discard(self) -> None:
        _close_quietly(self.fh)
        if self.logs_fh is not None:
            _close_quietly(self.logs_fh)
        self.part.unlink(missing_ok=True)
        self.logs_part.unlink(missing_ok=True)

    def abandon(self) -> None:
        _close_quietly(self.fh)
        if self.logs_fh is not None:
            _close_quietly(self.logs_fh)

    def last_epoch(self) -> int | None:
        """The last whole record of the sidecar on disk."""
        with open(self.part, "rb") as fh:
            head = [fh.readline() for _ in range(3)]
            if head[0] != _MAGIC or not head[2].endswith(b"\n"):
                return None
            dtype = _stream_dtype(json.loads(head[2])["d"], self.k)
            start = fh.tell()
            count = (os.fstat(fh.fileno()).st_size - start) // dtype.itemsize
            if count <= 0:
                return None
            fh.seek(start + (count - 1) * dtype.itemsize)
            return int(np.frombuffer(fh.read(8), "<i8")[0])


def _assemble(
    part: Path,
    start: int,
    dtype: np.dtype,
    count: int,
    path: Path,
    lrs: list[float],
    options: dict[str, Any],
    extras: dict[str, Any] | None = None,
) -> None:
    """Write the .npz of ``count`` streamed records, one member at a time from windows of the
    sidecar (at most ~16 MB in memory), to a temporary file renamed into place. ``extras``:
    members held as JSON text (``log``, ``end``), where not None."""
    chunk = max(1, _WINDOW // dtype.itemsize)
    fd, tmp = _temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED) as zf:
            for name, fieldname, kind in _MEMBERS:
                sub = dtype.fields[fieldname][0].shape  # type: ignore[index]
                with zf.open(name + ".npy", "w", force_zip64=True) as member:
                    header = {
                        "descr": np.lib.format.dtype_to_descr(np.dtype(kind)),
                        "fortran_order": False,
                        "shape": (count, *sub),
                    }
                    np.lib.format.write_array_header_1_0(member, header)
                    for at in range(0, count, chunk):
                        n = min(chunk, count - at)
                        window = np.memmap(
                            part, dtype, "r", offset=start + at * dtype.itemsize, shape=(n,)
                        )
                        member.write(np.ascontiguousarray(window[fieldname]).tobytes())
                        del window
            members = [
                ("lrs", np.asarray(lrs, dtype=np.float64)),
                ("options", np.asarray(json.dumps(options))),
            ]
            for name, value in (extras or {}).items():
                if value is not None:  # (today's loaders read the members they know)
                    members.append((name, np.asarray(json.dumps(value))))
            for name, value in members:
                with zf.open(name + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, value, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    end: dict[str, Any] | None = None  # the file's end record (walker_tui.recording.ends); None: none
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


Logs = list[tuple[int, dict[str, float]]]


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


def _logs(items: Any) -> Logs:
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


def _temp_beside(path: Path) -> tuple[int, str]:
    """A temporary file next to ``path`` (renamed onto it at the end), with the permissions a
    new file gets (mkstemp's are 0600)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)
    return fd, tmp


def _num(v: Any) -> float | str:
    """A float for JSON that round-trips float32 exactly; nan and inf as strings."""
    f = float(v)
    return f if math.isfinite(f) else str(f)


def _nums(values: list[float]) -> list[float | str]:
    return [v if math.isfinite(v) else str(v) for v in values]
