"""The loss surface over (w0, w1): log-spaced level sets, the paths, this epoch's walk."""

from __future__ import annotations

import numpy as np

from ..session import SurfaceData
from . import WINNER_COLOR, WINNER_GLYPH, series_color, snap
from .painter import PaintedPlot, Plot

LEVEL_COLORS = [
    (68, 1, 84),
    (72, 40, 120),
    (62, 74, 137),
    (49, 104, 142),
    (38, 130, 142),
    (31, 158, 137),
    (53, 183, 121),
    (109, 205, 89),
    (180, 222, 44),
    (253, 231, 37),
]


class SurfacePlot(PaintedPlot):
    """Contours come from the worker once per window; each frame only overlays the points."""

    def draw(
        self,
        plt: Plot,
        width: int,
        height: int,
        surface: SurfaceData | None,
        paths: dict[str, tuple[np.ndarray, np.ndarray]],
        walk: tuple[np.ndarray, np.ndarray] | None,
        winner: tuple[float, float] | None,
        start: tuple[float, float] | None,
        minimum: tuple[float, float] | None,
        sliced: bool = False,
    ) -> None:
        title = f"loss surface (o start, {WINNER_GLYPH} winner, + minimum)"
        if len(title) > width - 10:  # plotext drops a title that overflows
            title = f"surface: o start {WINNER_GLYPH} winner + min"
        plt.title(title)
        # more than two weights: a plane through w0 (x: direction 1, y: direction 2)
        plt.xlabel("slice direction 1 (y: direction 2)" if sliced else "w0 (y: w1)")
        if surface is None:
            return
        win = surface.window
        box = (win.x0, win.x1, win.y0, win.y1)
        cols, rows = max(width, 10), max(height, 5)
        for i, (px, py) in enumerate(surface.contours):
            px, py = snap(np.asarray(px), np.asarray(py), box, cols, rows)
            if len(px):
                color = LEVEL_COLORS[i * len(LEVEL_COLORS) // max(1, len(surface.contours))]
                plt.scatter(list(px), list(py), marker="braille", color=color)
        if minimum is not None:
            plt.scatter([minimum[0]], [minimum[1]], marker="+", color="green")
        for i, (name, (xs, ys)) in enumerate(paths.items()):
            xs, ys = snap(np.asarray(xs, float), np.asarray(ys, float), box, cols, rows)
            if len(xs):
                plt.plot(list(xs), list(ys), marker="braille", color=series_color(name, i))
        if start is not None:
            plt.scatter([start[0]], [start[1]], marker="o", color="white")
        if walk is not None:
            wx, wy = np.asarray(walk[0], float), np.asarray(walk[1], float)
            inside = (wx >= win.x0) & (wx <= win.x1) & (wy >= win.y0) & (wy <= win.y1)
            if inside.any():
                plt.scatter(list(wx[inside]), list(wy[inside]), marker="•", color="orange")
        if winner is not None:
            plt.scatter([winner[0]], [winner[1]], marker=WINNER_GLYPH, color=WINNER_COLOR)
        plt.xlim(win.x0, win.x1)
        plt.ylim(win.y0, win.y1)
