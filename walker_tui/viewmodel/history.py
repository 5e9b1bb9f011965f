"""The app's memory of a run, bounded whatever its length: a :class:`Curve` keeps at most ``cap``
points of a long series by halving its resolution when it fills, :class:`Path2D` the walk in the
plane thinned by distance, and :class:`History` the epochs held in full for time travel.

No torch, no UI: plain numpy. The ``--record`` formats are walker_tui.recording's (writer,
reader).
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np


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
