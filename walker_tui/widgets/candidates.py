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
        pos = list(range(1, len(rates) + 1))
        bad = [i for i in range(len(rates)) if not finite[i]]
        win_ok = 0 <= winner < len(rates) and bool(finite[winner])

        # plotext scales a call's bar width by the mean gap between its x values, so each
        # colour group passes the width that makes its bars 0.6 wide in data units.
        def layer(keep: list[int], **style: object) -> None:
            if not keep:
                return
            gap = (pos[keep[-1]] - pos[keep[0]]) / (len(keep) - 1) if len(keep) > 1 else 1.0
            plt.bar(
                [pos[i] for i in keep],
                [float(heights[i]) for i in keep],
                minimum=base,
                width=0.6 / gap,
                **style,
            )

        layer([i for i in range(len(rates)) if finite[i] and i != winner], color="blue")
        layer(bad, color="gray", marker="░")
        if win_ok:
            layer([winner], color=WINNER_COLOR)
            plt.text(
                WINNER_GLYPH,
                pos[winner],
                heights[winner] + 0.08 * (top - base),
                color=WINNER_COLOR,
                alignment="center",
            )
        for i in bad:
            word = "nan" if math.isnan(losses[i]) else "inf"
            plt.text(word, pos[i], top + 0.08 * (top - base), color="gray", alignment="center")
        widest = max(len(format_rate(r, rates)) for r in rates) + 1
        shown = thin(list(range(len(rates))), width, winner if win_ok else None, widest)
        labels = []
        for i in shown:
            text = format_rate(rates[i], rates)
            labels.append(
                f"*{text}" if i == winner and win_ok else text
            )  # ASCII: width never in doubt
        plt.xticks([pos[i] for i in shown], labels)
        ticks, tlabels = log_ticks(base, top, most=max(2, height // 3))
        plt.yticks(ticks, tlabels)
        plt.ylim(base, top + 0.2 * (top - base))
        plt.xlim(0.3, len(rates) + 0.7)
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
