"""The loss surface over two weights: a window that holds the walk, a batched grid, contour levels.

Pure numpy/torch, no UI. The grid is computed in one batched evaluation per window (closed form for
least squares, chunked for other problems) and never per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .problems import Problem

GRID = 120  # points per side


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
    """A window holding ``window`` and the points, at least half as large again on each axis, so a
    path that keeps walking out regrows it (and recomputes the grid) only logarithmically often."""
    xs = np.concatenate([np.asarray(xs, float), [window.x0, window.x1]])
    ys = np.concatenate([np.asarray(ys, float), [window.y0, window.y1]])
    grown = fit_window(xs, ys, margin=0.25)
    cx, cy = (grown.x0 + grown.x1) / 2, (grown.y0 + grown.y1) / 2
    hx = max(grown.x1 - grown.x0, 1.5 * (window.x1 - window.x0)) / 2
    hy = max(grown.y1 - grown.y0, 1.5 * (window.y1 - window.y0)) / 2
    return Window(cx - hx, cx + hx, cy - hy, cy + hy)


def loss_grid(
    problem: Problem,
    window: Window,
    size: int = GRID,
    plane: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, ...]:
    """Losses on a size x size grid over the window: (xs, ys, Z) with Z[j, i] at (xs[i], ys[j]).
    With more than two weights the grid lies in ``plane`` (origin, basis: see Problem.plane)."""
    xs = np.linspace(window.x0, window.x1, size)
    ys = np.linspace(window.y0, window.y1, size)
    gx, gy = np.meshgrid(xs, ys)
    points = np.stack([gx.ravel(), gy.ravel()])
    if plane is not None:
        origin, basis = plane
        points = origin[:, None] + basis @ points
    z = problem.surface(torch.tensor(points, dtype=torch.float64)).reshape(size, size)
    return xs, ys, z


def contour_levels(z: np.ndarray, count: int = 9) -> np.ndarray:
    """Level values evenly spaced on a log scale between the grid's smallest and largest loss."""
    finite = z[np.isfinite(z) & (z > 0)]
    if finite.size == 0:
        return np.array([])
    lo, hi = np.log10(finite.min()), np.log10(finite.max())
    if hi - lo < 1e-9:
        return np.array([])
    return 10 ** np.linspace(lo, hi, count + 2)[1:-1]


def contour_points(
    xs: np.ndarray, ys: np.ndarray, z: np.ndarray, levels: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each level, the points where the surface crosses it (between grid neighbours)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lz = np.log10(np.where(z > 0, z, np.nan))
    out = []
    for level in np.log10(levels):
        above = lz > level
        px: list[np.ndarray] = []
        py: list[np.ndarray] = []
        # horizontal neighbours
        j, i = np.nonzero(above[:, 1:] != above[:, :-1])
        if i.size:
            t = (level - lz[j, i]) / (lz[j, i + 1] - lz[j, i])
            px.append(xs[i] + t * (xs[i + 1] - xs[i]))
            py.append(ys[j])
        # vertical neighbours
        j, i = np.nonzero(above[1:, :] != above[:-1, :])
        if i.size:
            t = (level - lz[j, i]) / (lz[j + 1, i] - lz[j, i])
            px.append(xs[i])
            py.append(ys[j] + t * (ys[j + 1] - ys[j]))
        if px:
            out.append((np.concatenate(px), np.concatenate(py)))
        else:
            out.append((np.array([]), np.array([])))
    return out


def to_plane(w: np.ndarray, origin: np.ndarray, proj: np.ndarray) -> np.ndarray:
    """Plane coordinates (2, or 2 x k) of weights (d, or d x k): proj @ (w - origin)."""
    w = np.asarray(w, dtype=float)
    return proj @ (w - (origin if w.ndim == 1 else origin[:, None]))
