"""The loss curve: each trainer's winning loss per epoch on a log axis, with the target."""

from __future__ import annotations

import math

import numpy as np
from textual import events

from walker_tui.numbers import format_loss
from walker_tui.ui.widgets import (
    Say,
    TravelTo,
    envelope,
    epoch_ticks,
    legend_glyph,
    log_ticks,
    no_negative_zero,
    series_color,
    series_marker,
)
from walker_tui.ui.widgets.painter import PaintedPlot, Plot
from walker_tui.viewmodel.frames import CurveFrame

POINTS = 4  # points kept a column when a long curve is thinned (min/max envelope)


MIN_ROWS = 7  # title, frame, x ticks and label take 5: fewer than 2 rows of curve draw nothing
FAINT = (110, 110, 110)  # the raw curve behind a smoothed one


def linear_ticks(lo: float, hi: float, most: int) -> tuple[list[float], list[str]]:
    """A few evenly spaced ticks on a linear axis, labelled with the digits that tell them
    apart."""
    count = max(2, min(5, most))
    ticks = [lo + (hi - lo) * i / (count - 1) for i in range(count)]
    for digits in range(3, 9):
        labels = [no_negative_zero(f"{t:.{digits}g}") for t in ticks]
        if len(set(labels)) == count:
            break
    return ticks, labels


def fit_legend(items: list[str], room: int) -> str:
    """As many legend items as fit in ``room`` columns, then ``+N more`` for the rest."""
    if len(" ".join(items)) <= room:
        return " ".join(items)
    for keep in range(len(items) - 1, -1, -1):
        more = f"+{len(items) - keep} more"
        text = " ".join(items[:keep] + [more])
        if len(text) <= room or keep == 0:
            return text if len(text) <= room else f"+{len(items) - keep}"[:room]
    return ""


class LossCurve(PaintedPlot):
    """Data lives on the widget; :meth:`show` replots it (log10 computed here, not by plotext)."""

    def draw(self, plt: Plot, width: int, height: int, frame: CurveFrame) -> None:
        """The curves on a log (or, for a metric, linear) y axis, the target, the epoch shown."""
        if height < MIN_ROWS or not any(len(ys) for _, ys in frame.series.values()):
            self._draw_empty(plt, height, frame)
            return
        self._draw_title(plt, width, frame)
        lows, highs, firsts, lasts = self._draw_series(plt, width, frame)
        x0 = min(firsts, default=0.0)
        x1 = max(lasts, default=1.0)
        if frame.target > 0 and frame.log_y:
            lt = math.log10(frame.target)
            lows.append(lt)
            highs.append(lt)
            plt.hline(lt, "gray")
            plt.text("target", x0, lt, color="gray", alignment="left")
        at, log_x = frame.marker, frame.log_x
        if at is not None:
            plt.vline(math.log10(at) if log_x and at > 0 else at, "yellow")
        self._x_ticks(plt, width, frame, x0, x1)
        if lows:
            self._y_axis(plt, width, height, frame, (min(lows), max(highs)), (x0, x1))

    def _draw_empty(self, plt: Plot, height: int, frame: CurveFrame) -> None:
        """No rows left for a curve (plotext would draw its labels inverted), or no epoch yet
        (no axis or target line to invent: its range would be made up)."""
        label, series = frame.label, frame.series
        if height < MIN_ROWS:
            last = [float(ys[-1]) for _, ys in series.values() if len(ys)]
            plt.title(f"{label} {format_loss(last[0])}: taller for the curve" if last else label)
        else:
            x_word = frame.unit if frame.x_axis == "epoch" else frame.x_axis
            along = "training time" if frame.x_axis == "seconds" else x_word
            plt.title(f"{label} by {along}: no {frame.unit} yet")
        plt.xticks([], [])
        plt.yticks([], [])
        self.axis = None

    @staticmethod
    def _style(frame: CurveFrame, name: str, i: int) -> tuple[str, object]:
        """A series' glyph and colour: its frame's style where given, else the trainer's."""
        key = (frame.styles or {}).get(name, (name, i))
        return series_marker(*key), series_color(*key)

    def _draw_title(self, plt: Plot, width: int, frame: CurveFrame) -> None:
        """The title, with the legend marker by marker (inside the plot it covered the curves),
        and the x axis's words."""
        series, note, x_axis, log_x = frame.series, frame.note, frame.x_axis, frame.log_x
        x_word = frame.unit if x_axis == "epoch" else x_axis
        keys = [(legend_glyph(self._style(frame, n, i)[0]), n) for i, n in enumerate(series)]
        along = "training time" if x_axis == "seconds" else x_word
        scale = " (log)" if frame.log_y else ""
        desc = f"{frame.label}{scale} by {along}{', log x' if log_x else ''}"
        title, below = f"{desc}{note}", ""  # below: the note, said under the x axis instead
        if len(series) > 1:
            # the legend matters more than the words (the axes say them): it goes first where the
            # panel is narrow; names that do not fit are counted (+2 more), never silently dropped
            legend = fit_legend([f"{glyph} {name}" for glyph, name in keys], width - 8)
            said = note.lstrip(", ")
            short = said.split(" (")[0]
            forms = [f"{desc}{note} {legend}", f"{desc}, {short} {legend}" if said else ""]
            fits = [f for f in forms if f and len(f) <= width - 8]  # (the plot area: no wider)
            if fits:
                title = fits[0]
            elif said and len(desc) + 1 + len(legend) <= width - 8:
                title, below = f"{desc} {legend}", said  # the note adds to the axis's words
            else:  # the legend, and the note where it fits (the smoothing is never unsaid)
                forms = [f"{legend} · {said}", f"{legend} · {short}"] if said else []
                title = next((f for f in forms if len(f) <= width - 8), legend)
                below = said if title == legend else ""
        plt.title(title)
        # "seconds" is the trainers' own compute time (the driver's clock stops while paused
        # and while the screen draws), not the wall clock
        axis_name = {"seconds": "training time (s)"}.get(x_axis, x_word)
        axis_name += ", log scale (l: linear)" if log_x else ""
        plt.xlabel(f"{axis_name} · {below}" if below else axis_name)

    def _draw_series(self, plt: Plot, width: int, frame: CurveFrame) -> tuple[list, ...]:
        """The faint curves, then the others; each one's y range and x range, as drawn."""
        series, log_x, log_y = frame.series, frame.log_x, frame.log_y
        lows, highs, firsts, lasts = [], [], [], []
        drawn = [(True, i, n, c) for i, (n, c) in enumerate((frame.faint or {}).items())]
        drawn += [(False, i, n, c) for i, (n, c) in enumerate(series.items())]
        for dim, i, name, (xs, ys) in drawn:
            xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
            ok = np.isfinite(ys) & ((ys > 0) if log_y else True) & (xs > 0 if log_x else True)
            if not ok.any():
                continue
            ly = np.log10(ys[ok]) if log_y else ys[ok]
            px = np.log10(xs[ok]) if log_x else xs[ok]
            lows.append(ly.min())
            highs.append(ly.max())
            firsts.append(px.min())
            lasts.append(px.max())
            px, py = envelope(px, ly, POINTS * max(width, 20))
            marker, color = self._style(
                frame, name, list(series).index(name) if name in series else i
            )
            if dim:  # behind: braille dots in a dim grey, whatever the series' own glyph
                marker, color = "braille", FAINT
            plt.plot(list(px), list(py), marker=marker, color=color)
        return lows, highs, firsts, lasts

    @staticmethod
    def _x_ticks(plt: Plot, width: int, frame: CurveFrame, x0: float, x1: float) -> None:
        most = max(2, width // 10)
        if frame.log_x:
            ticks, labels = log_ticks(x0, max(x1, x0 + 1e-9), most=most)
            plt.xticks(ticks, [lab.replace("1e0", "1").replace("1e1", "10") for lab in labels])
        elif frame.x_axis != "seconds":  # whole-number ticks for counts
            ticks = epoch_ticks(x1, most)
            plt.xticks(ticks, [str(t) for t in ticks])
        else:
            secs = [x1 * i / (most - 1) for i in range(most)]
            plt.xticks(secs, [f"{t:.2g}s" for t in secs])

    def _y_axis(
        self,
        plt: Plot,
        width: int,
        height: int,
        frame: CurveFrame,
        y_range: tuple[float, float],
        x_range: tuple[float, float],
    ) -> None:
        """The y axis's range and ticks, padded; the x range set, so a click maps to an epoch."""
        (lo, hi), (x0, x1) = y_range, x_range
        if frame.log_y:
            pad = max(0.02, 0.04 * (hi - lo))
        else:  # (a flat metric still gets an axis around its value)
            pad = max(0.04 * (hi - lo), 1e-9 + 0.02 * abs(hi), 1e-12)
        lo, hi = lo - pad, hi + pad
        most = max(2, height // 3)
        ticks, labels = log_ticks(lo, hi, most=most) if frame.log_y else linear_ticks(lo, hi, most)
        plt.yticks(ticks, labels)
        plt.ylim(lo, hi)
        if x1 > x0:
            plt.xlim(x0, x1)
            left = max(len(t) for t in labels) + 1
            self.axis = (left, width - left - 1, x0, x1, frame.log_x, frame.x_axis)

    axis: tuple | None = None  # (first column, columns, x0, x1, log x, x axis) of the last frame

    def x_at(self, col: int) -> float | None:
        """The x value (an epoch, on the epoch axis) under column ``col`` of the widget."""
        if self.axis is None:
            return None
        left, cols, x0, x1, log_x, _ = self.axis
        if not 0 <= col - left < cols:
            return None
        x = x0 + (col - left) / max(1, cols - 1) * (x1 - x0)
        return 10**x if log_x else x

    def on_click(self, event: events.Click) -> None:
        """A click travels to the epoch under it."""
        x = self.x_at(event.x)
        if x is None or self.axis is None:
            return
        if self.axis[5] != "epoch":
            self.post_message(Say("a click travels on the epoch axis: press x to show it"))
            return
        self.post_message(TravelTo(round(x)))
