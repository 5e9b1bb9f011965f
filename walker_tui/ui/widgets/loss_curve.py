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
    series_color,
    series_marker,
)
from walker_tui.ui.widgets.painter import PaintedPlot, Plot

POINTS = 4  # points kept a column when a long curve is thinned (min/max envelope)


MIN_ROWS = 7  # title, frame, x ticks and label take 5: fewer than 2 rows of curve draw nothing
FAINT = (110, 110, 110)  # the raw curve behind a smoothed one


def linear_ticks(lo: float, hi: float, most: int) -> tuple[list[float], list[str]]:
    """A few evenly spaced ticks on a linear axis, labelled with the digits that tell them
    apart."""
    count = max(2, min(5, most))
    ticks = [lo + (hi - lo) * i / (count - 1) for i in range(count)]
    for digits in range(3, 9):
        labels = [f"{t:.{digits}g}" for t in ticks]
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

    def draw(
        self,
        plt: Plot,
        width: int,
        height: int,
        series: dict[str, tuple[np.ndarray, np.ndarray]],
        target: float,
        view_epoch: float | None = None,
        x_axis: str = "epoch",
        log_x: bool = False,
        unit: str = "epoch",
        label: str = "loss",
        log_y: bool = True,
        faint: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
        styles: dict[str, tuple[str, object]] | None = None,
        note: str = "",
    ) -> None:
        """``unit``: what the epoch axis counts ("step" for WalkerSGD's recordings); ``label``
        and ``log_y``: what the y axis is (a logged metric on a linear one); ``faint``: curves
        drawn dim behind the others (the raw curve behind a smoothed one); ``styles``: a
        series' (marker, colour) where not the trainers' own; ``note``: said in the title (the
        smoothing)."""
        if height < MIN_ROWS:  # no rows left for a curve: plotext would draw its labels inverted
            last = [float(ys[-1]) for _, ys in series.values() if len(ys)]
            plt.title(f"{label} {format_loss(last[0])}: taller for the curve" if last else label)
            plt.xticks([], [])
            plt.yticks([], [])
            self.axis = None
            return
        x_word = unit if x_axis == "epoch" else x_axis
        if not any(len(ys) for _, ys in series.values()):
            # no epoch yet: no axis or target line to invent (its range would be made up)
            along = "training time" if x_axis == "seconds" else x_word
            plt.title(f"{label} by {along}: no {unit} yet")
            plt.xticks([], [])
            plt.yticks([], [])
            self.axis = None
            return

        def style(name: str, i: int) -> tuple[str, object]:
            if styles and name in styles:
                return styles[name]
            return series_marker(name, i), series_color(name, i)

        # The legend is in the title, marker by marker: inside the plot it covered the curves.
        keys = [(legend_glyph(style(n, i)[0]), n) for i, n in enumerate(series)]
        along = "training time" if x_axis == "seconds" else x_word
        scale = " (log)" if log_y else ""
        desc = f"{label}{scale} by {along}{', log x' if log_x else ''}"
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
        lows, highs, firsts, lasts = [], [], [], []
        drawn = [(True, i, n, c) for i, (n, c) in enumerate((faint or {}).items())]
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
            marker, color = style(name, list(series).index(name) if name in series else i)
            if dim:  # behind: braille dots in a dim grey, whatever the series' own glyph
                marker, color = "braille", FAINT
            plt.plot(list(px), list(py), marker=marker, color=color)
        x0 = min(firsts, default=0.0)
        x1 = max(lasts, default=1.0)
        if target > 0 and log_y:
            lt = math.log10(target)
            lows.append(lt)
            highs.append(lt)
            plt.hline(lt, "gray")
            plt.text("target", x0, lt, color="gray", alignment="left")
        if view_epoch is not None:
            plt.vline(math.log10(view_epoch) if log_x and view_epoch > 0 else view_epoch, "yellow")
        most = max(2, width // 10)
        if log_x:
            ticks, labels = log_ticks(x0, max(x1, x0 + 1e-9), most=most)
            plt.xticks(ticks, [lab.replace("1e0", "1").replace("1e1", "10") for lab in labels])
        elif x_axis != "seconds":  # whole-number ticks for counts
            ticks = epoch_ticks(10**x1 if log_x else x1, most)
            plt.xticks(ticks, [str(t) for t in ticks])
        else:
            secs = [x1 * i / (most - 1) for i in range(most)]
            plt.xticks(secs, [f"{t:.2g}s" for t in secs])
        if lows:
            lo, hi = min(lows), max(highs)
            if log_y:
                pad = max(0.02, 0.04 * (hi - lo))
            else:  # (a flat metric still gets an axis around its value)
                pad = max(0.04 * (hi - lo), 1e-9 + 0.02 * abs(hi), 1e-12)
            lo, hi = lo - pad, hi + pad
            most = max(2, height // 3)
            ticks, labels = log_ticks(lo, hi, most=most) if log_y else linear_ticks(lo, hi, most)
            plt.yticks(ticks, labels)
            plt.ylim(lo, hi)
            if x1 > x0:
                plt.xlim(x0, x1)  # (set, so a click maps to an epoch)
                left = max(len(t) for t in labels) + 1
                self.axis = (left, width - left - 1, x0, x1, log_x, x_axis)

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
