"""The loss curve: each trainer's winning loss per epoch on a log axis, with the target."""

from __future__ import annotations

import math

import numpy as np

from . import envelope, epoch_ticks, log_ticks, series_color
from .painter import PaintedPlot, Plot

POINTS = 4  # points kept a column when a long curve is thinned (min/max envelope)


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
    ) -> None:
        plt.title(f"loss (log scale) by {x_axis}")
        plt.xlabel({"seconds": "wall time (s)"}.get(x_axis, x_axis))
        lows, highs = [], []
        race = len(series) > 1
        for i, (name, (xs, ys)) in enumerate(series.items()):
            ys = np.asarray(ys, dtype=float)
            ok = np.isfinite(ys) & (ys > 0)
            if not ok.any():
                continue
            ly = np.log10(ys[ok])
            lows.append(ly.min())
            highs.append(ly.max())
            px, py = envelope(np.asarray(xs, dtype=float)[ok], ly, POINTS * max(width, 20))
            plt.plot(
                list(px),
                list(py),
                marker="braille",
                color=series_color(name, i),
                label=name if race else None,
            )
        if target > 0:
            lt = math.log10(target)
            lows.append(lt)
            highs.append(lt)
            plt.hline(lt, "gray")
        if view_epoch is not None:
            plt.vline(view_epoch, "yellow")
        last = max((float(np.max(xs)) for xs, _ in series.values() if len(xs)), default=1.0)
        most = max(2, width // 10)
        if x_axis != "seconds":  # whole-number ticks for counts
            ticks = epoch_ticks(last, most)
            plt.xticks(ticks, [str(t) for t in ticks])
        else:
            secs = [last * i / (most - 1) for i in range(most)]
            plt.xticks(secs, [f"{t:.3g}" for t in secs])
        if lows:
            lo, hi = min(lows), max(highs)
            pad = max(0.02, 0.04 * (hi - lo))
            lo, hi = lo - pad, hi + pad
            ticks, labels = log_ticks(lo, hi, most=max(2, height // 3))
            plt.yticks(ticks, labels)
            plt.ylim(lo, hi)
