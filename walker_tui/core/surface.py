"""The loss surface over two weights: a window that holds the walk, batched grids, contour levels,
and the surveyor thread that computes them without holding up training or quitting.

Pure numpy/torch, no UI. A grid is computed once per window, never per redraw, in chunks of tens of
milliseconds with a cancel check between them; a large problem's first view is coarse (and on a
sample of its data), and the full grid follows (see :class:`Surveyor`).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from walker_tui.core.problems.base import Problem
from walker_tui.core.threads import run_in_background

GRID = 120  # points per side of the full grid
COARSE = 30  # points per side of a first view
FIRST_WORK = 4e7  # floats a first view may touch (~0.1-0.2 s on a 2-core CPU)
FULL_SECONDS = 20.0  # the longest a full grid may take, estimated from the first view; beyond
# it the last view is the full grid on as many points of a sample as fit
BUSY_SHARE = 0.05  # while training runs flat out, the surface takes at most this share of
# the wall clock (it idles between chunks and views), since a grid beside the training slows it
# (measured: docs/design/performance.md)


class Cancelled(Exception):
    """A grid was cancelled between chunks: its window is no longer wanted."""


@dataclass(frozen=True)
class Window:
    """A rectangle in weight space: x is w[0], y is w[1]."""

    x0: float
    x1: float
    y0: float
    y1: float

    def contains(self, xs: np.ndarray, ys: np.ndarray) -> bool:
        return bool(np.all((xs >= self.x0) & (xs <= self.x1) & (ys >= self.y0) & (ys <= self.y1)))


def fit_window(xs: np.ndarray, ys: np.ndarray, margin: float = 0.15) -> Window:
    """The smallest window holding the points, with a margin on every side (never degenerate)."""
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    ok = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[ok], ys[ok]
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    span = max(x1 - x0, y1 - y0, 1e-3)
    mx = max(x1 - x0, span * 0.25) * margin + 1e-9
    my = max(y1 - y0, span * 0.25) * margin + 1e-9
    return Window(float(x0 - mx), float(x1 + mx), float(y0 - my), float(y1 + my))


def grow(window: Window, xs: np.ndarray, ys: np.ndarray) -> Window:
    """A window holding ``window`` and the points. An axis the points leave grows to at least half
    as large again, so a path that keeps walking out regrows it (and recomputes the grid) only
    logarithmically often; an axis they stay within keeps its range (growing both squeezed a
    valley the path walks along into strips)."""
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    ok = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[ok], ys[ok]

    def axis(lo: float, hi: float, values: np.ndarray) -> tuple[float, float]:
        if values.size == 0 or (values.min() >= lo and values.max() <= hi):
            return lo, hi
        a, b = min(lo, float(values.min())), max(hi, float(values.max()))
        a, b = a - 0.25 * 0.15 * (b - a), b + 0.25 * 0.15 * (b - a)  # fit_window's margin
        centre, half = (a + b) / 2, max(b - a, 1.5 * (hi - lo)) / 2
        return centre - half, centre + half

    x0, x1 = axis(window.x0, window.x1, xs)
    y0, y1 = axis(window.y0, window.y1, ys)
    return Window(x0, x1, y0, y1)


def loss_grid(
    problem: Problem,
    window: Window,
    size: int = GRID,
    plane: tuple[np.ndarray, np.ndarray] | None = None,
    cancel: threading.Event | None = None,
    throttle: Callable[[float], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Losses on a size x size grid over the window: (xs, ys, Z) with Z[j, i] at (xs[i], ys[j]).
    With more than two weights the grid lies in ``plane`` (origin, basis: see Problem.plane).
    Evaluated in chunks of ``problem.surface_chunk`` points; raises :class:`Cancelled` at the
    first chunk boundary after ``cancel`` is set. ``throttle`` is called after each chunk with
    the seconds it took (the surveyor sleeps there while training runs flat out)."""
    xs = np.linspace(window.x0, window.x1, size)
    ys = np.linspace(window.y0, window.y1, size)
    gx, gy = np.meshgrid(xs, ys)
    points = np.stack([gx.ravel(), gy.ravel()])
    if plane is not None:
        origin, basis = plane
        points = origin[:, None] + basis @ points
    weights = torch.tensor(points, dtype=torch.float64)
    chunk = problem.surface_chunk
    parts = []
    for s in range(0, weights.shape[1], chunk):
        if cancel is not None and cancel.is_set():
            raise Cancelled
        t0 = time.perf_counter()
        parts.append(problem.surface(weights[:, s : s + chunk]))
        if throttle is not None:
            throttle(time.perf_counter() - t0)
    return xs, ys, np.concatenate(parts).reshape(size, size)


@dataclass
class SurfaceData:
    """A loss grid over a window, ready to draw. ``note`` says what the view is when it is not
    the full grid on all the data ("coarse 30x30 on 1,157 of 1,000,000 points, refining…"); it
    is empty for the full grid."""

    window: Window
    xs: np.ndarray
    ys: np.ndarray
    z: np.ndarray
    contours: list[tuple[np.ndarray, np.ndarray]]
    note: str = ""
    seconds: float = 0.0  # what computing it took


def survey(
    problem: Problem,
    window: Window,
    size: int = GRID,
    plane: tuple[np.ndarray, np.ndarray] | None = None,
    cancel: threading.Event | None = None,
    note: str = "",
    throttle: Callable[[float], None] | None = None,
) -> SurfaceData:
    """One view: the grid, its contour levels and points (raises :class:`Cancelled`);
    ``seconds`` is its computing time, without the throttle's sleeps."""
    spent = [0.0]

    def counted(seconds: float) -> None:
        spent[0] += seconds
        if throttle is not None:
            throttle(seconds)

    xs, ys, z = loss_grid(problem, window, size, plane, cancel, counted)
    t0 = time.perf_counter()
    contours = contour_points(xs, ys, z, contour_levels(z))
    seconds = spent[0] + time.perf_counter() - t0
    return SurfaceData(window, xs, ys, z, contours, note, seconds)


def views(
    problem: Problem,
    window: Window,
    plane: tuple[np.ndarray, np.ndarray] | None = None,
    cancel: threading.Event | None = None,
    models: dict[object, Problem | None] | None = None,
    throttle: Callable[[float], None] | None = None,
) -> Iterator[SurfaceData]:
    """The views of a window, first to last: the full grid at once where it is cheap; else a
    coarse first view (on a sample of the data where even that is dear), then the full grid,
    on a binned summary of the data where the problem has one, on all of it where that fits in
    FULL_SECONDS (estimated from the first view's speed), else on a sample that fits. ``models``
    keeps samples and summaries from one window to the next. ``throttle`` is called after each
    chunk of every view with its seconds (see :func:`loss_grid`)."""
    models = {} if models is None else models
    per_point = problem.surface_cost / max(1, problem.data_points)  # floats per data point
    n = problem.data_points
    if GRID * GRID * problem.surface_cost <= FIRST_WORK:
        yield survey(problem, window, GRID, plane, cancel, throttle=throttle)
        return
    m = n if COARSE * COARSE * problem.surface_cost <= FIRST_WORK else None
    if m is None:
        m = max(100, int(FIRST_WORK / (COARSE * COARSE * per_point)))
        first = _sample(problem, m, models)
        note = f"coarse {COARSE}x{COARSE} on {m:,} of {n:,} points, refining…"
    else:
        first, note = problem, f"coarse {COARSE}x{COARSE}, refining…"
    view = survey(first, window, COARSE, plane, cancel, note, throttle)
    yield view
    if "summary" not in models:
        models["summary"] = problem.summary(cancel)
        if cancel is not None and cancel.is_set():
            del models["summary"]
            raise Cancelled
    summary = models["summary"]
    if summary is not None:
        yield survey(summary, window, GRID, plane, cancel, throttle=throttle)
        return
    rate = view.seconds / (COARSE * COARSE * first.surface_cost)  # seconds a float
    if GRID * GRID * problem.surface_cost * rate <= FULL_SECONDS:
        yield survey(problem, window, GRID, plane, cancel, throttle=throttle)
        return
    m = max(m, int(FULL_SECONDS / rate / (GRID * GRID * per_point)))
    part = _sample(problem, m, models)
    note = f"{GRID}x{GRID} on {m:,} of {n:,} points"
    yield survey(part, window, GRID, plane, cancel, note, throttle)


def _sample(problem: Problem, m: int, models: dict[object, Problem | None]) -> Problem:
    """The problem on a sample of m points, drawn once per surveyor."""
    part = models.get(("sample", m))
    if part is None:
        part = models[("sample", m)] = problem.sample(m)
    return part


class Surveyor:
    """Computes the surface of the newest window asked for on its own daemon thread, view by
    view (see :func:`views`), and hands each to ``on_view``. A newer window, or ``close``,
    cancels the grid in progress at its next chunk, so neither training (another thread) nor
    quitting (the thread is a daemon) ever waits for a surface. While ``training()`` says the
    training runs flat out, the surface keeps to BUSY_SHARE of the time: a refining view sleeps
    after each chunk, and a window's first view (small by design, FIRST_WORK) runs at once but
    waits for the last one's share to pass (_wait_quiet)."""

    def __init__(
        self,
        problem: Problem,
        plane: tuple[np.ndarray, np.ndarray] | None,
        on_view: Callable[[SurfaceData], None],
        training: Callable[[], bool] = lambda: False,
    ) -> None:
        self.problem: Problem | None = problem  # (None once closed: its data may go)
        self.plane, self.on_view = plane, on_view
        self.training = training
        self._cond = threading.Condition()
        self._window: Window | None = None
        self._cancel = threading.Event()  # the grid in progress's
        self._closed = False
        self._busy = False
        self._thread: threading.Thread | None = None
        self._models: dict[object, Problem | None] = {}
        self._refining = False  # the view in progress is not its window's first
        self._quiet_at = 0.0  # a window's first view waits for this while training flat out

    def request(self, window: Window) -> None:
        """Compute this window's views, dropping any older window's: a refining view stops at
        its next chunk; a window's first view is finished (so a path that keeps leaving its
        window still gets a surface now and then), and the newest window asked for goes next."""
        with self._cond:
            if self._closed:
                return
            self._window = window
            if self._refining:
                self._cancel.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="surface", daemon=True)
                self._thread.start()
            self._cond.notify()

    def close(self) -> None:
        """Compute nothing more; the grid in progress stops at its next chunk."""
        with self._cond:
            self._closed = True
            self._cancel.set()
            self._cond.notify()
            if self._thread is None:
                self._release()

    def _release(self) -> None:
        """Closed and idle: let go of the problem and its samples (a reseed's old run)."""
        self.problem = None
        self._models.clear()

    @property
    def busy(self) -> bool:
        """A window is waiting or being computed."""
        with self._cond:
            return self._busy or self._window is not None

    @property
    def thread(self) -> threading.Thread | None:
        """The surveyor's thread, once a window has been asked for."""
        return self._thread

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @staticmethod
    def _owed(seconds: float) -> float:
        """The idle time that makes ``seconds`` of compute BUSY_SHARE of the whole."""
        return seconds * (1.0 - BUSY_SHARE) / BUSY_SHARE

    def _idle_until(self, deadline: float, cancel: threading.Event) -> None:
        """While training runs flat out, wait until ``deadline`` (monotonic), in slices of at
        most 0.1 s, so a pause or a cancel ends the wait."""
        while self.training() and not cancel.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            cancel.wait(min(left, 0.1))

    def _yield_cpu(self, seconds: float, cancel: threading.Event) -> None:
        """After a chunk of ``seconds`` of a refining view: idle until the chunk is BUSY_SHARE
        of the time. A window's first view is not held here: first views are spaced instead
        (see _wait_quiet)."""
        if self._refining:
            self._idle_until(time.monotonic() + self._owed(seconds), cancel)

    def _wait_quiet(self, cancel: threading.Event) -> None:
        """Before a window's first view: idle until the last first view's compute is
        BUSY_SHARE of the time since it began. A window that changes now and then gets its
        first view at once; a path that leaves its window every few epochs (early on, mlp) gets
        one every ~20x a first view's cost, not back to back."""
        self._idle_until(self._quiet_at, cancel)

    def _run(self) -> None:
        run_in_background()  # the training's threads come first (walker_tui.core.threads)
        while True:
            with self._cond:
                while self._window is None and not self._closed:
                    self._cond.wait()
                if self._closed or self.problem is None:
                    self._release()
                    return
                problem = self.problem
                window, self._window = self._window, None
                self._cancel = cancel = threading.Event()
                self._busy, self._refining = True, False
            try:
                self._wait_quiet(cancel)
                with self._cond:  # a newer window asked for in the meantime goes instead
                    if self._window is not None:
                        window, self._window = self._window, None
                throttle = functools.partial(self._yield_cpu, cancel=cancel)
                found = views(problem, window, self.plane, cancel, self._models, throttle)
                for view in found:
                    if cancel.is_set():
                        break
                    self.on_view(view)
                    if not self._refining:
                        self._quiet_at = time.monotonic() + self._owed(view.seconds)
                    with self._cond:
                        if self._window is not None:  # a newer window waits: it goes first
                            break
                        self._refining = True
            except Cancelled:
                pass
            except (Exception, MemoryError) as error:  # training goes on without a surface
                text = str(error).strip().splitlines()[0][:120] if str(error).strip() else ""
                xs = np.linspace(window.x0, window.x1, 2)
                ys = np.linspace(window.y0, window.y1, 2)
                z = np.full((2, 2), np.nan)
                note = f"no surface: {type(error).__name__}: {text}"
                self.on_view(SurfaceData(window, xs, ys, z, [], note))
            finally:
                with self._cond:
                    self._busy = self._refining = False


def contour_levels(
    z: np.ndarray, count: int = 9, focus: tuple[float, float] | None = None
) -> np.ndarray:
    """Level values on a log scale: evenly spaced between the grid's smallest and largest loss,
    and, given ``focus`` (the losses the path walks through), most of them between those, so
    the valley the path follows shows its shape instead of falling between two levels."""
    finite = z[np.isfinite(z) & (z > 0)]
    if finite.size == 0:
        return np.array([])
    lo, hi = np.log10(finite.min()), np.log10(finite.max())
    if hi - lo < 1e-9:
        return np.array([])
    if focus is None:
        return 10 ** np.linspace(lo, hi, count + 2)[1:-1]
    f0, f1 = (np.log10(max(v, 1e-300)) for v in focus)
    f0, f1 = max(min(f0, f1), lo), min(max(f0, f1), hi)
    if f1 - f0 < 1e-9:
        return 10 ** np.linspace(lo, hi, count + 2)[1:-1]
    near = count - count // 3  # two thirds of the levels where the path walks
    inner = np.linspace(f0, f1, near + 2)[1:-1]
    outer = np.linspace(lo, hi, count - near + 2)[1:-1]
    return 10 ** np.unique(np.round(np.concatenate([inner, outer]), 9))


def contour_points(
    xs: np.ndarray, ys: np.ndarray, z: np.ndarray, levels: np.ndarray, per_cell: int = 4
) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each level, points along its level lines, joined: marching squares on the log of the
    grid finds the segment each level cuts through each cell, and every segment is drawn as
    ``per_cell`` + 1 points, so a line stays a line however finely the panel is drawn (crossing
    points alone broke into dots on a large terminal)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lz = np.log10(np.where(z > 0, z, np.nan))
    t = np.linspace(0.0, 1.0, per_cell + 1)
    out = []
    for level in np.log10(levels):
        px, py = _level_segments(xs, ys, lz, level)
        if len(px):
            ax, bx = px
            ay, by = py
            lx = (ax[:, None] + (bx - ax)[:, None] * t[None, :]).ravel()
            ly = (ay[:, None] + (by - ay)[:, None] * t[None, :]).ravel()
            out.append((lx, ly))
        else:
            out.append((np.array([]), np.array([])))
    return out


def _level_segments(
    xs: np.ndarray, ys: np.ndarray, lz: np.ndarray, level: float
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | tuple[list, list]:
    """Marching squares for one level: the segments' ends ((x_a, x_b), (y_a, y_b))."""
    c00, c10 = lz[:-1, :-1], lz[:-1, 1:]  # corners of each cell: (row j, column i)
    c01, c11 = lz[1:, :-1], lz[1:, 1:]
    x0, x1 = xs[:-1][None, :], xs[1:][None, :]
    y0, y1 = ys[:-1][:, None], ys[1:][:, None]

    def cross(a, b, pa, pb):
        """Where the level crosses the edge from corner a to corner b (nan where it does not)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            f = (level - a) / (b - a)
        hit = ((a > level) != (b > level)) & np.isfinite(a) & np.isfinite(b)
        return np.where(hit, pa + f * (pb - pa), np.nan)

    shape = c00.shape
    # the four edges: bottom (y0), top (y1), left (x0), right (x1); each a crossing's x and y
    ex = [
        cross(c00, c10, x0, x1),
        cross(c01, c11, x0, x1),
        np.broadcast_to(x0, shape),
        np.broadcast_to(x1, shape),
    ]
    ey = [
        np.broadcast_to(y0, shape),
        np.broadcast_to(y1, shape),
        cross(c00, c01, y0, y1),
        cross(c10, c11, y0, y1),
    ]
    hits = [~np.isnan(ex[0]), ~np.isnan(ex[1]), ~np.isnan(ey[2]), ~np.isnan(ey[3])]
    count = sum(h.astype(int) for h in hits)
    ax, ay, bx, by = [], [], [], []
    # two crossings: one segment between them; four (a saddle): bottom-left and top-right
    pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    for a, b in pairs:
        sel = (count == 2) & hits[a] & hits[b]
        if sel.any():
            (
                ax.append(ex[a][sel]),
                ay.append(ey[a][sel]),
                bx.append(ex[b][sel]),
                by.append(ey[b][sel]),
            )
    saddle = count == 4
    if saddle.any():
        for a, b in ((0, 2), (1, 3)):
            ax.append(ex[a][saddle])
            ay.append(ey[a][saddle])
            bx.append(ex[b][saddle])
            by.append(ey[b][saddle])
    if not ax:
        return [], []
    return (np.concatenate(ax), np.concatenate(bx)), (np.concatenate(ay), np.concatenate(by))


def to_plane(w: np.ndarray, origin: np.ndarray, proj: np.ndarray) -> np.ndarray:
    """Plane coordinates (2, or 2 x k) of weights (d, or d x k): proj @ (w - origin)."""
    w = np.asarray(w, dtype=float)
    return proj @ (w - (origin if w.ndim == 1 else origin[:, None]))
