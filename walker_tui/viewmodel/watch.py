"""``walker-tui watch PATH...``: recordings followed as they grow, side by side. UI-free.

A :class:`Follower` thread polls every file (one ``os.stat`` each every POLL seconds while
nothing changes; its tail reads only the new bytes) and hands what it read to the app as
:class:`Feed` objects, one per file and poll. A feed holds every new row's epoch and loss (the
loss curve takes them all) and records in full only for the rows the app's History will hold:
every row of a live poll, and of a long file being opened its first rows, its last ``keep`` and
a sample across the rest, so a recording of a million epochs opens without a million records.
On the app's side a :class:`Run` takes the feeds of one file: its History, its loss and metric
series (with their moving averages) and what it knows of how the file ends.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from walker_tui.catalog import entry
from walker_tui.core.trainers.loop import HostEpoch
from walker_tui.recording.ends import NO_END, describe_end, unit_of
from walker_tui.recording.formats import open_tail, probe
from walker_tui.recording.rows import Head, Update
from walker_tui.recording.schema import counted_evals
from walker_tui.viewmodel.history import History
from walker_tui.viewmodel.series import Series

POLL = 0.25  # seconds between looks at a file while nothing changes
QUIET = 30.0  # seconds without a new epoch before a run reads as quiet
HEAD_FULL = 2048  # a file's first rows are held in full (they carry a run's story)
SAMPLES = 8192  # rows of a long file's middle built in full, about (History keeps fewer)
PIECE = 8 << 20  # bytes a file's poll reads at most (a long file is read in pieces)
IN_FLIGHT = 8  # feeds handed over and not yet taken by the app, at most (bounded memory)


def keep_for(d: int) -> int:
    """Epochs a run's History holds in full: as the app's (fewer for big weight vectors)."""
    return 2000 if d <= 16 else 200


@dataclass
class Feed:
    """What one poll of one file brought (see the module's docstring)."""

    index: int  # which run
    gen: int  # the file's generation: a truncated or replaced file starts the next one
    head: Head | None = None
    epochs: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    losses: np.ndarray = field(default_factory=lambda: np.zeros(0))
    evals: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # as they happened
    held: list[tuple[int, HostEpoch]] = field(default_factory=list)
    logs: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    end: dict[str, Any] | None = None
    ended: bool = False  # an end record came (end may still be None: an old file's close)
    problem: str | None = None
    restart: str | None = None
    done: int = 0
    size: int = 0
    more: bool = False
    mtime: float = 0.0
    d: int | None = None  # weights per candidate
    plane: tuple[np.ndarray, np.ndarray] | str | None = None  # (origin, proj), or why none


class Reader:
    """The follower's side of one file: its Tail, and what records need across polls."""

    def __init__(self, index: int, path: Path) -> None:
        self.index = index
        self.path = path
        self.tail = open_tail(path)
        self.gen = 0
        self._fresh()

    def _fresh(self) -> None:
        self.seen = 0  # rows handed over
        self.evals = 0  # loss evaluations up to them (schema.counted_evals)
        self.position: np.ndarray | None = None  # where the walk stands (an adaptive one stays)
        self.d: int | None = None
        self.plane_sent = False

    def poll(self, budget: int) -> Feed | None:
        self.budget = budget
        update = self.tail.poll(budget)
        if update.empty and not update.more:
            return None
        feed = Feed(self.index, self.gen)
        if update.restart is not None:
            self.gen += 1
            self._fresh()
            feed.gen, feed.restart = self.gen, update.restart
            return feed
        feed.head, feed.logs, feed.problem = update.head, update.logs, update.problem
        feed.end, feed.ended = update.end, self.tail.ended
        feed.done, feed.size, feed.more, feed.mtime = (
            update.done, update.size, update.more, update.mtime
        )  # fmt: skip
        if update.rows is not None and len(update.rows):
            self._rows(update, feed)
        return feed

    def _rows(self, update: Update, feed: Feed) -> None:
        rows = update.rows
        assert rows is not None and self.tail.head is not None
        n, k = len(rows), self.tail.head.k
        if self.d is None:
            self.d = int(rows.full(np.array([0]))[0].shape[1])
        feed.d = self.d
        if not self.plane_sent:
            self.plane_sent = True
            feed.plane = plane_for(self.tail.head, self.d, self.path)
        keep = keep_for(self.d)
        at = np.arange(n)
        if n <= keep:
            wanted = at
        else:  # a long piece: the first rows, the last keep, a power-of-two sample between
            per_row = max(1.0, update.done / max(1, self.tail.rows_read))
            expected = max(self.seen + n, update.size / per_row)
            stride = 1
            while (expected - HEAD_FULL) / stride > SAMPLES:
                stride *= 2
            pick = (self.seen + at < HEAD_FULL) | (rows.epoch % stride == 0)
            # the last keep in full, unless more pieces come that will hold newer ones (the
            # last two pieces of a long file: the very last may be shorter than keep)
            if not update.more or update.size - update.done < 2 * self.budget:
                pick |= at >= n - keep
            wanted = at[pick]
        moved = rows.moved
        last_moved = np.maximum.accumulate(np.where(moved, at, -1))
        needs = np.unique(
            np.concatenate(
                [wanted, last_moved[wanted][last_moved[wanted] >= 0], last_moved[-1:].clip(0)]
            )
        )
        evals = counted_evals(rows.evals, rows.scored, k, self.evals)
        weights, losses, rates = rows.full(needs)
        where = {int(i): j for j, i in enumerate(needs)}
        positions: dict[int, np.ndarray] = {}
        for i in needs:
            j = where[int(i)]
            if moved[i]:
                positions[int(i)] = weights[j][:, int(rows.winner[i])].astype(np.float64)
        carry = self.position
        held = []
        for i in wanted:
            i = int(i)
            j = where[i]
            lm = int(last_moved[i])
            if lm >= 0:
                pos = positions[lm]
            elif carry is not None:
                pos = carry
            else:  # (a walk that stayed from its first row: its winner, as replay has it)
                pos = weights[j][:, int(rows.winner[i])].astype(np.float64)
            epoch = int(rows.epoch[i])
            loss = float(rows.loss[i])
            rec = HostEpoch(
                epoch,
                weights[j],
                losses[j],
                int(rows.winner[i]),
                float(rows.lr[i]),
                loss,
                not math.isfinite(loss),
                rates[j],
                bool(moved[i]),
                np.array(pos),
                evals=int(evals[i]),
                scored=bool(rows.scored[i]),  # (False: a reused rate, its last scoring's bars)
            )
            held.append((i, rec))
        if last_moved[-1] >= 0:
            self.position = positions[int(last_moved[-1])]
        elif self.position is None and held:
            self.position = held[-1][1].position
        feed.epochs, feed.losses, feed.evals, feed.held = rows.epoch, rows.loss, evals, held
        self.seen += n
        self.evals = int(evals[-1])


def plane_for(head: Head, d: int, path: Path) -> tuple[np.ndarray, np.ndarray] | str | None:
    """How a run's weights map to its surface plane: None for two (the plane is theirs: a
    two-weight problem's, or a WalkerSGD recording's coordinates), else (origin, proj) of the
    problem's own plane, rebuilt from the recording's options; a line saying why not."""
    if d <= 2:
        return None
    try:
        import torch

        from walker_tui.viewmodel.replay import RECORDED, recorded_config
        from walker_tui.viewmodel.session import build_problem

        cfg = recorded_config(head.options, head.lrs, path)
        if cfg.problem == RECORDED:
            return None
        problem = build_problem(cfg, cfg.seed, torch.device("cpu"))
        origin, basis = problem.plane()
        return np.asarray(origin, dtype=np.float64), np.linalg.pinv(np.asarray(basis))
    except Exception as error:  # noqa: BLE001 (a model not here, data moved: no path, one line)
        return f"no plane for its {d} weights: {type(error).__name__}: {error}"[:160]


class Follower:
    """Polls every file on one daemon thread and hands each :class:`Feed` to ``post`` (which
    must be thread-safe: the app's post_message). At most IN_FLIGHT feeds wait for the app's
    :meth:`taken` at a time, so a long file is read no faster than the app takes it in."""

    def __init__(self, paths: list[Path], post: Callable[[Feed], None], poll: float = POLL) -> None:
        self.readers = [Reader(i, p) for i, p in enumerate(paths)]
        self.post = post
        self.interval = poll
        self.budget = PIECE
        self.polls = 0
        self._stop = threading.Event()
        self._room = threading.Semaphore(IN_FLIGHT)
        self._thread = threading.Thread(target=self._run, name="watch-follower", daemon=True)

    def start(self) -> Follower:
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Read nothing more; the files are closed."""
        self._stop.set()
        self._room.release()
        for reader in self.readers:
            reader.tail.close()

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the reading thread to end; True if it has."""
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def busy(self) -> bool:
        return self._thread.is_alive()

    def taken(self) -> None:
        """The app has taken a feed in."""
        self._room.release()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.polls += 1
            more = False
            for reader in self.readers:
                if self._stop.is_set():
                    return
                try:
                    feed = reader.poll(self.budget)
                except Exception as error:  # noqa: BLE001 (one file's fault: one line, go on)
                    reader.tail.stopped = f"{reader.path.name}: {type(error).__name__}: {error}"
                    feed = Feed(reader.index, reader.gen, problem=reader.tail.stopped)
                if feed is None:
                    continue
                while not self._room.acquire(timeout=0.5):
                    if self._stop.is_set():
                        return
                if self._stop.is_set():
                    return
                try:
                    self.post(feed)
                except RuntimeError:  # the app's loop has closed
                    return
                more = more or feed.more
            if not more:
                self._stop.wait(self.interval)


class Run:
    """One watched file, as the app holds it (UI thread)."""

    def __init__(self, index: int, path: Path, name: str) -> None:
        self.index, self.path, self.name = index, path, name
        self.started = time.time()
        self._fresh()

    def _fresh(self) -> None:
        self.gen = getattr(self, "gen", 0)
        self.head: Head | None = None
        self.history: History | None = None
        self.loss = Series()
        self.metrics: dict[str, Series] = {}
        self.end: dict[str, Any] | None = None
        self.ended = False
        self.problem: str | None = None
        self.last_new: float | None = None  # when its newest rows were written (wall clock)
        self.rows = 0
        self.reading: tuple[int, int] | None = None  # (bytes read, bytes) while opening
        self.d: int | None = None
        self.plane: tuple[np.ndarray, np.ndarray] | None = None
        self.plane_note: str | None = None
        self.window: Any = None  # the surface panel's window round its path

    # --- what it is ---

    @property
    def options(self) -> dict[str, Any]:
        return self.head.options if self.head is not None else {}

    @property
    def unit(self) -> str:
        return unit_of(self.options)

    @property
    def kind(self) -> str:
        """What made it: a WalkerSGD loop, or the problem of run --record / the app."""
        if self.head is None:
            return "?"
        if self.options.get("source") == "WalkerSGD":
            return "a WalkerSGD loop"
        return str(self.options.get("problem", "?"))

    @property
    def sliced(self) -> bool:
        """Its plane is a slice through many weights, as replay says: more than two weights, a
        WalkerSGD loop, or a model (whose recording keeps the path in its plane, two numbers)."""
        problem = self.options.get("problem")
        model = isinstance(problem, str) and entry(problem).model
        return (self.d or 2) > 2 or self.options.get("source") == "WalkerSGD" or model

    @property
    def latest(self) -> HostEpoch | None:
        return self.history.latest if self.history is not None else None

    def state(self, now: float) -> tuple[str, str]:
        """(word, words): "growing", "quiet", "ended", "error", "waiting", "reading"."""
        if self.problem is not None:
            return "error", self.problem
        if self.ended:
            return "ended", f"ended: {describe_end(self.end, self.unit)}"
        if self.reading is not None:
            done, size = self.reading
            return "reading", f"reading {100 * done / max(1, size):.0f}%"
        if self.head is None:
            try:
                size = self.path.stat().st_size
            except OSError:
                return "waiting", "waiting for the file"
            return "waiting", "empty: waiting for its first line" if size == 0 else "no header yet"
        if self.history is None:
            return "waiting", f"no {self.unit} yet"
        quiet = now - (self.last_new or self.started)
        if quiet < QUIET:
            return "growing", "growing"
        return "quiet", f"no new {self.unit} for {_age(quiet)} ({NO_END})"

    # --- taking a feed in ---

    def absorb(self, feed: Feed) -> int:
        """Take a feed in; returns how many new rows it brought."""
        if feed.restart is not None:
            self.gen = feed.gen
            self._fresh()
            return 0
        if feed.gen != self.gen:
            return 0  # (a feed of the file before it was replaced)
        if feed.head is not None:
            self.head = feed.head
        if feed.problem is not None:
            self.problem = feed.problem
        self.reading = (feed.done, feed.size) if feed.more else None
        if isinstance(feed.plane, str):
            self.plane_note = feed.plane
        elif feed.plane is not None:
            self.plane = feed.plane
        n = len(feed.epochs)
        if n:
            if self.history is None:
                d = feed.d or 2
                self.d = d
                plane = self.plane
                to_xy = None
                if plane is not None:
                    origin, proj = plane
                    to_xy = lambda w: proj @ (np.asarray(w, float) - origin)  # noqa: E731
                self.history = History(keep=keep_for(d), project=to_xy)
            self.history.extend(feed.epochs, feed.losses, feed.evals, feed.held)
            self.loss.extend(feed.epochs, feed.losses)
            self.rows += n
            self.last_new = feed.mtime or time.time()
        for epoch, values in feed.logs:
            for name, value in values.items():
                self.metrics.setdefault(name, Series()).extend(
                    np.array([epoch], float), np.array([value])
                )
        if feed.ended:
            self.ended, self.end = True, feed.end
        return n

    def metric_at(self, epoch: float) -> dict[str, float]:
        """The latest logged value of each metric at or before ``epoch``."""
        out = {}
        for name, series in self.metrics.items():
            value = series.at(epoch)
            if value is not None:
                out[name] = value
        return out


def _age(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3.5 h``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def run_names(paths: list[Path]) -> list[str]:
    """The legend's names: each file's stem, with its folder where two stems are the same."""
    stems = [p.name[: -len(".npz.part")] if p.name.endswith(".npz.part") else p.stem for p in paths]
    names = []
    for p, stem in zip(paths, stems, strict=True):
        if stems.count(stem) > 1:
            stem = f"{p.parent.name or '.'}/{stem}"
        names.append(stem)
    for i, name in enumerate(names):  # (the same folder and stem, another suffix)
        if names.count(name) > 1:
            names[i] = paths[i].name
    return names


def watchable(path: Path) -> str | None:
    """Why ``path`` cannot be watched (one line), or None (a recording, or not there yet in a
    folder that exists)."""
    folder = path.parent if str(path.parent) else Path(".")
    if any(c in str(path) for c in "*?[") and not path.exists():  # a glob the shell left as is
        return f"{str(path)!r} matched no file: nothing to watch"
    if not folder.is_dir():
        return f"{str(path)!r}: folder {str(folder)!r} does not exist"
    if path.exists() and not os.access(path, os.R_OK):
        return f"{str(path)!r} cannot be read"
    return probe(path)
