"""The candidates: one bar per learning rate with this epoch's loss, the winner marked."""

from __future__ import annotations

import math

import numpy as np

from ..grids import format_rate
from . import WINNER_COLOR, WINNER_GLYPH, log_ticks, thin
from .painter import PaintedPlot, Plot


class CandidateBars(PaintedPlot):
    """Bars on a log scale from a floor below the smallest loss; nan and inf candidates get a
    full-height grey bar labelled as such, the winner a red bar and a star over it."""

    def draw(
        self,
        plt: Plot,
        width: int,
        height: int,
        rates: list[float],
        losses: np.ndarray | None,
        winner: int,
        epoch: int,
    ) -> None:
        if losses is None or len(losses) == 0:
            plt.title("candidates: waiting for the first epoch")
            return
        losses = np.asarray(losses, dtype=float)
        finite = np.isfinite(losses) & (losses > 0)
        logs = np.where(finite, np.log10(np.where(finite, losses, 1.0)), np.nan)
        if finite.any():
            lo, hi = float(np.nanmin(logs)), float(np.nanmax(logs))
        else:
            lo, hi = 0.0, 1.0
        # Bars stand on a floor a little under the smallest loss, so small differences show.
        base = lo - max(0.25 * (hi - lo), 0.05)
        top = hi + max(0.05, 0.1 * (hi - base))
        heights = np.where(finite, logs, top)
        # plotext's plot area has height - 4 rows (title, borders, tick labels); the star and the
        # nan/inf words go one row above their bar, so the axis reaches at least a row past top.
        rows = max(3, height - 4)
        y1 = max(top + 0.2 * (top - base), (top * (rows - 1) - base) / (rows - 2))
        above = (y1 - base) / (rows - 1)
        bad = [i for i in range(len(rates)) if not finite[i]]
        win_ok = 0 <= winner < len(rates) and bool(finite[winner])
        ticks, tlabels = log_ticks(base, top, most=max(2, height // 3))
        # plotext's plot area: the panel less the y labels, the axis and the right border
        area = width - max(len(t) for t in tlabels) - 2
        pos, half = bar_columns(len(rates), area)

        def layer(keep: list[int], marker: str = "sd", **style: object) -> None:
            for i in keep:
                plt.rectangle(
                    [pos[i] - half[0], pos[i] + half[1]],
                    [base, float(heights[i])],
                    fill=True,
                    marker=marker,
                    **style,
                )

        layer([i for i in range(len(rates)) if finite[i] and i != winner], color="blue")
        layer(bad, color="gray", marker="░")
        if win_ok:
            layer([winner], color=WINNER_COLOR)
            plt.text(
                WINNER_GLYPH,
                pos[winner],
                heights[winner] + above,
                color=WINNER_COLOR,
                alignment="center",
            )
        for i in bad:
            word = "nan" if math.isnan(losses[i]) else "inf"
            plt.text(word, pos[i], top + above, color="gray", alignment="center")
        widest = max(len(format_rate(r, rates)) for r in rates) + 1
        shown = thin(list(range(len(rates))), width, winner if win_ok else None, widest)
        labels = []
        for i in shown:
            text = format_rate(rates[i], rates)
            labels.append(
                f"*{text}" if i == winner and win_ok else text
            )  # ASCII: width never in doubt
        plt.xticks([pos[i] for i in shown], labels)
        plt.yticks(ticks, tlabels)
        plt.ylim(base, y1)
        plt.xlim(0, area - 1)  # x counts the plot area's columns
        if win_ok:
            title = (
                f"epoch {epoch} candidates: {WINNER_GLYPH} lr "
                f"{format_rate(rates[winner], rates)} → {losses[winner]:.4g}"
            )
        else:
            title = f"epoch {epoch} candidates: none finite"
        if bad:
            title += f" ({len(bad)} not finite)"
        if len(title) > width - 12 and win_ok:  # plotext drops a title that overflows
            rate = format_rate(rates[winner], rates)
            title = f"ep {epoch}: {WINNER_GLYPH} {rate} → {losses[winner]:.3g}"
            title += f" ({len(bad)} inf)" if bad else ""
        plt.title(title)


def bar_columns(k: int, area: int) -> tuple[list[int], tuple[int, int]]:
    """Bar centres, and how far each bar reaches left and right of its centre, in the columns of
    a plot area ``area`` wide (x = 0 is its first column).

    plotext draws bars from data coordinates rounded to columns, so bars of a fractional width
    came out uneven and, at three or four columns a bar, merged into blocks. Here every bar
    gets the same whole number of columns and at least one blank column from the next (none
    only when the rates outnumber half the columns)."""
    if k > area:  # more rates than columns: one-column bars, some sharing a column
        return [round(i * (area - 1) / max(1, k - 1)) for i in range(k)], (0, 0)
    slot = area // max(1, k)
    gap = 0 if slot == 1 else max(1, round(0.35 * slot))
    bar = slot - gap
    margin = (area - k * slot) // 2 + gap // 2
    left, right = (bar - 1) // 2, bar - 1 - (bar - 1) // 2
    return [margin + i * slot + left for i in range(k)], (left, right)
