"""The loss surface over (w0, w1): log-spaced level sets, the paths, this epoch's walk."""

from __future__ import annotations

import re

import numpy as np

from walker_tui.core.surface import SurfaceData, contour_levels, contour_points
from walker_tui.ui.widgets import (
    WINNER_COLOR,
    WINNER_GLYPH,
    no_color,
    series_color,
    series_marker,
    snap,
    unsigned_zero_ticks,
)
from walker_tui.ui.widgets.painter import PaintedPlot, Plot
from walker_tui.viewmodel.frames import SurfaceFrame

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


CANDIDATE_GLYPH = "◦"
ARROWS = {(1, 0): "→", (-1, 0): "←", (0, 1): "↑", (0, -1): "↓",
          (1, 1): "↗", (-1, 1): "↖", (1, -1): "↘", (-1, -1): "↙"}  # fmt: skip


class SurfacePlot(PaintedPlot):
    """Contours come from the worker once per window; each frame only overlays the points. A path
    that leaves the window is drawn up to the edge, with an arrow where it leaves (a diverging
    walk is not followed to 1e19)."""

    def draw(self, plt: Plot, width: int, height: int, frame: SurfaceFrame) -> None:
        """The title and axes, then (once a surface is known) its level sets, the minimum, the
        paths, the start and this epoch's walk."""
        surface = frame.surface
        self._draw_title(plt, width, frame)
        if surface is None:
            return
        win = surface.window
        box = (win.x0, win.x1, win.y0, win.y1)
        cols, rows = max(width, 10), max(height, 5)
        contours = self._contours(surface, frame.path_losses)
        for i, (px, py) in enumerate(contours):
            px, py = snap(np.asarray(px), np.asarray(py), box, cols, rows)
            if len(px):
                color = LEVEL_COLORS[i * len(LEVEL_COLORS) // max(1, len(contours))]
                plt.scatter(list(px), list(py), marker="braille", color=color)
        if frame.minimum is not None:
            plt.scatter([frame.minimum[0]], [frame.minimum[1]], marker="+", color="green")
        self._draw_paths(plt, frame, box, cols, rows)
        if frame.start is not None:
            plt.scatter([frame.start[0]], [frame.start[1]], marker="o", color="foreground")
        if frame.walk is not None:
            wx, wy = np.asarray(frame.walk[0], float), np.asarray(frame.walk[1], float)
            inside = (wx >= win.x0) & (wx <= win.x1) & (wy >= win.y0) & (wy <= win.y1)
            if inside.any():
                plt.scatter(
                    list(wx[inside]), list(wy[inside]), marker=CANDIDATE_GLYPH, color="gray"
                )
        if frame.win is not None:
            wx, wy = frame.win
            if win.x0 <= wx <= win.x1 and win.y0 <= wy <= win.y1:
                plt.scatter([wx], [wy], marker=WINNER_GLYPH, color=WINNER_COLOR)
        plt.xlim(win.x0, win.x1)
        plt.ylim(win.y0, win.y1)
        if surface.z.size == 0 and _one_point(frame):
            # w0 alone (no step yet, or a file's first epoch): the window has no scale, and
            # its numbers would be a width chosen for the drawing (±0.000038), not the run's
            plt.xticks([])
            plt.yticks([])
        else:
            if (x := unsigned_zero_ticks(win.x0, win.x1, 5)) is not None:
                plt.xticks(*x)
            if (y := unsigned_zero_ticks(win.y0, win.y1, 7)) is not None:
                plt.yticks(*y)

    @staticmethod
    def _draw_title(plt: Plot, width: int, frame: SurfaceFrame) -> None:
        """A legend of only what this frame draws, shortened to fit; the axes' names, or the
        surface's note where the title has no room for it."""
        items = [("o start", "o start")]
        if frame.win is not None and frame.reused:  # (no winner: the step took a reused rate)
            items.append((f"{WINNER_GLYPH} step at the reused rate", f"{WINNER_GLYPH} step"))
        elif frame.win is not None:
            items.append((f"{WINNER_GLYPH} winner", f"{WINNER_GLYPH} win"))
        if frame.walk is not None:
            items.append((f"{CANDIDATE_GLYPH} candidates", f"{CANDIDATE_GLYPH} cand"))
        if frame.minimum is not None:
            items.append(("+ minimum", "+ min"))
        note = frame.surface.note if frame.surface is not None else ""
        title = (
            "loss surface (" + ", ".join(a for a, _ in items) + ")" + (f" {note}" if note else "")
        )
        in_title = True
        if len(title) > width - 10:  # plotext drops a title wider than the plot area
            title, in_title = "surface: " + " ".join(b for _, b in items), False
        if len(title) > width - 10:
            title = " ".join(b for _, b in items)
        if len(title) > width - 10:  # the glyphs alone, as the keys to what is drawn
            title = " ".join(b.split()[0] for _, b in items)
        if not in_title and note.startswith("no step yet"):
            # w0 alone (viewmodel.driver.NO_STEP): the title says it, as a short panel may
            # drop the bottom line that says the note
            fits = [t for t in ("o start: no step yet", "no step yet") if len(t) <= width - 10]
            title = fits[0] if fits else "no step"
        plt.title(title)
        # more than two weights: a plane through w0 (x: direction 1, y: direction 2)
        axes = "slice direction 1 (y: direction 2)" if frame.sliced else "w0 (y: w1)"
        # a note the title has no room for (coarse, refining, sampled, failed) takes the panel's
        # bottom line instead of the axes' names: it is never dropped, whatever the width
        plt.xlabel(axes if in_title or not note else fit_note(note, axes, width - 4))

    @staticmethod
    def _draw_paths(
        plt: Plot, frame: SurfaceFrame, box: tuple[float, ...], cols: int, rows: int
    ) -> None:
        """Each path (in its frame's style where given: watch draws a run's path in its loss
        curve's glyph and colour) up to the window's edge, an arrow where it leaves."""
        plain = no_color()
        for i, (name, (xs, ys)) in enumerate(frame.paths.items()):
            key = (frame.styles or {}).get(name, (name, i))
            marker, color = series_marker(*key), series_color(*key)
            if plain and marker == "braille":
                marker = "·"  # under NO_COLOR the walker's path: not a contour, not a racer
            inside, exits = clip_path(np.asarray(xs, float), np.asarray(ys, float), box)
            for run_x, run_y in inside:
                run_x, run_y = snap(run_x, run_y, box, cols, rows)
                if len(run_x) == 1:
                    plt.scatter(list(run_x), list(run_y), marker=marker, color=color)
                elif len(run_x):
                    plt.plot(list(run_x), list(run_y), marker=marker, color=color)
            for ex, ey, arrow in exits:
                plt.text(arrow, ex, ey, color=color, alignment="center")

    def _contours(self, surface: SurfaceData, focus: tuple[float, float] | None) -> list:
        """Level lines with most levels where the path walks (``focus``: its loss range), once
        per surface and quarter decade of that range; the surveyor's own levels without it."""
        key = _focus_key(focus)
        if key is None:
            return surface.contours
        cache_key = (surface.window, surface.note, surface.z.shape, key)
        cached = _cache.get(self.id or "surface")
        if cached is not None and cached[0] == cache_key:
            return cached[1]
        levels = contour_levels(surface.z, focus=(10 ** key[0], 10 ** key[1]))
        contours = contour_points(surface.xs, surface.ys, surface.z, levels)
        _cache[self.id or "surface"] = (cache_key, contours)
        return contours


_cache: dict[str, tuple[object, list]] = {}  # the painter thread's: the last levels drawn


def _one_point(frame: SurfaceFrame) -> bool:
    """Whether everything the frame draws sits at one point (or nothing is drawn)."""
    xs: list[float] = []
    ys: list[float] = []
    for pair in (frame.start, frame.minimum, frame.win, frame.walk, *frame.paths.values()):
        if pair is not None:
            xs.extend(np.ravel(np.asarray(pair[0], float)).tolist())
            ys.extend(np.ravel(np.asarray(pair[1], float)).tolist())
    pts = {(x, y) for x, y in zip(xs, ys, strict=True) if np.isfinite(x) and np.isfinite(y)}
    return len(pts) <= 1


def _focus_key(focus: tuple[float, float] | None) -> tuple[float, float] | None:
    """The path's loss range to a quarter decade: the levels change when it moves that much."""
    if focus is None or not all(np.isfinite(focus)) or min(focus) <= 0:
        return None
    low, high = (round(4 * float(np.log10(v))) / 4 for v in focus)
    return low, high


def fit_note(note: str, axes: str, room: int) -> str:
    """The surface's note for the panel's bottom line, with the axes' names when both fit, else
    the note alone, shortened to ``room`` with an ellipsis."""
    both = f"{note} · {axes}"
    if len(both) <= room:
        return both
    for short in _shorter(note):
        if len(short) <= room:
            return short
    return note[: max(1, room - 1)].rstrip() + "…"


def _shorter(note: str) -> list[str]:
    """The note, then shorter forms that keep what matters: that the view is coarse and
    refining, sampled, or failed (``no surface: <error>`` keeps its head when cut)."""
    forms = [note]
    if note.startswith("no surface"):
        return forms
    sampled = re.search(r"on ([\d,]+) of ([\d,]+) points", note)
    refining = "refining" in note
    tail = ", refining…" if refining else ""
    if sampled:
        forms += [f"{sampled[1]} of {sampled[2]} pts{tail}", f"sampled{tail}"]
    if note.startswith("coarse"):
        forms.append("coarse, refining…" if refining else "coarse")
    if refining:
        forms.append("refining…")
    return forms


def clip_path(
    xs: np.ndarray, ys: np.ndarray, box: tuple[float, float, float, float]
) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[tuple[float, float, str]]]:
    """The runs of a path inside the box, each ending where the path crosses the box's edge,
    and (x, y, arrow) where it leaves: the point on the edge and the way it went."""
    x0, x1, y0, y1 = box
    ok = np.isfinite(xs) & np.isfinite(ys)
    inside = ok & (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)
    runs: list[tuple[np.ndarray, np.ndarray]] = []
    exits: list[tuple[float, float, str]] = []
    i, n = 0, len(xs)
    while i < n:
        if not inside[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and inside[j + 1]:
            j += 1
        rx, ry = list(xs[i : j + 1]), list(ys[i : j + 1])
        if j + 1 < n:  # it leaves: end the run on the edge, and point the way it went
            ax, ay = xs[j], ys[j]
            bx, by = xs[j + 1], ys[j + 1]
            if not (np.isfinite(bx) and np.isfinite(by)):
                bx, by = ax + np.sign(bx - ax if np.isfinite(bx) else 1), ay
            t = 1.0
            for lo, hi, a, b in ((x0, x1, ax, bx), (y0, y1, ay, by)):
                if b > hi:
                    t = min(t, (hi - a) / (b - a))
                elif b < lo:
                    t = min(t, (lo - a) / (b - a))
            ex, ey = ax + t * (bx - ax), ay + t * (by - ay)
            rx.append(ex)
            ry.append(ey)
            dx, dy = bx - ax, by - ay
            norm = max(abs(dx), abs(dy)) or 1.0
            key = (int(round(dx / norm)), int(round(dy / norm)))
            exits.append((ex, ey, ARROWS.get(key, "→")))
        runs.append((np.asarray(rx), np.asarray(ry)))
        i = j + 1
    return runs, exits
