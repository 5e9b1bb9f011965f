"""The candidates: one bar per learning rate with this epoch's loss, the winner marked."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
from textual import events

from walker_tui.core.grid import format_rate
from walker_tui.numbers import format_loss
from walker_tui.ui.widgets import (
    WINNER_COLOR,
    WINNER_GLYPH,
    Say,
    bar_color,
    log_ticks,
    no_color,
    thin,
)
from walker_tui.ui.widgets.loss_curve import FAINT
from walker_tui.ui.widgets.painter import PaintedPlot, Plot
from walker_tui.viewmodel.frames import BarsFrame


class CandidateBars(PaintedPlot):
    """One bar per rate, standing on a floor just under the lowest loss, so the differences that
    decide the winner show: on a log axis when the losses span a decade or more, otherwise on a
    linear axis fitted to their spread, with tick labels carrying the digits that tell them
    apart. nan and inf candidates get a full-height hatched bar labelled as such; the winner a
    red bar of its own glyph, a star over it and a ``*`` on its rate."""

    # the last frame's (see BarsFrame): what a row is, losses on a batch, the walker's direction
    on_batch = False
    unit = "epoch"
    direction = "sgd"

    def draw(self, plt: Plot, width: int, height: int, frame: BarsFrame) -> None:
        """The bars of ``frame``; a stayed walk's best candidate is drawn as the best, not as a
        step taken (no star, no ``*``)."""
        self.unit, self.on_batch, self.direction = frame.unit, frame.on_batch, frame.direction
        if frame.losses is None or len(frame.losses) == 0:
            plt.title("candidates: waiting for the first epoch")
            return
        rates, winner, stayed = frame.rates, frame.winner, frame.stayed
        losses = np.asarray(frame.losses, dtype=float)
        finite = np.isfinite(losses)
        win_ok = 0 <= winner < len(rates) and bool(finite[winner])
        axis = _BarAxis.fit(self._scale(losses, finite), finite, height)
        # plotext's plot area: the panel less the y labels, the axis and the right border
        area = width - max(len(t) for t in axis.labels) - 2
        pos, half = bar_columns(len(rates), area)
        bad = [i for i in range(len(rates)) if not finite[i]]
        # a reused rate's epoch scored none: the bars are an earlier step's, all faint, and its
        # winner is not this epoch's (no star, no *: the rate taken is the title's)
        faint = frame.reused is not None
        star = winner if win_ok and not faint else -1
        self._draw_bars(plt, axis, pos, half, [i for i in range(len(rates)) if finite[i]], bad,
                        star, stayed, faint)  # fmt: skip
        for i in bad:
            word = "nan" if math.isnan(losses[i]) else "inf"
            plt.text(word, pos[i], axis.top + axis.above, color="gray", alignment="center")
        names = self._rate_ticks(plt, width, rates, star, stayed, pos)
        # where each bar is on the widget, for hover and click (the y labels, then the axis)
        left = max(len(t) for t in axis.labels) + 1
        self.hits = Hits(left, pos, half, [
            f"lr {names[i]}: loss {format_loss(losses[i], frame.target)}"
            + (f" {WINNER_GLYPH} winner" if i == star and not stayed else "")
            + (" (best, not taken: the walk stayed)" if i == star and stayed else "")
            + (f" (the winner of {_bars_from(frame)[0]})" if faint and i == winner else "")
            for i in range(len(rates))
        ])  # fmt: skip
        plt.yticks(axis.ticks, axis.labels)
        plt.ylim(axis.base, axis.y1)
        plt.xlim(0, area - 1)  # x counts the plot area's columns
        start = 10**axis.hi if axis.log else axis.hi
        if faint:
            plt.title(self.reused_title(frame, names, losses, winner if win_ok else -1, area))
            return
        plt.title(self.title(frame.epoch, names, losses, winner if win_ok else -1, len(bad),
                             axis.log, frame.target, stayed, area, start=start))  # fmt: skip

    @staticmethod
    def _draw_bars(
        plt: Plot,
        axis: _BarAxis,
        pos: list[int],
        half: tuple[int, int],
        finite: list[int],
        bad: list[int],
        winner: int,
        stayed: bool,
        faint: bool = False,
    ) -> None:
        """The finite bars, the nan/inf ones hatched, then the winner's (``winner``: -1 for
        none) with its star, or a stayed walk's best in grey; ``faint``: an earlier step's bars
        (a reused rate's epoch), all in a dim grey."""
        plain = no_color()

        def layer(keep: list[int], marker: str = "sd", **style: object) -> None:
            for i in keep:
                plt.rectangle(
                    [pos[i] - half[0], pos[i] + half[1]],
                    [axis.base, float(axis.heights[i])],
                    fill=True,
                    marker=marker,
                    **style,
                )

        layer([i for i in finite if i != winner], color=FAINT if faint else bar_color())
        layer(bad, color="gray", marker="░")
        if winner >= 0 and stayed:  # the best candidate, not taken: grey, no star
            layer([winner], color="gray", marker="▒" if plain else "sd")
        elif winner >= 0:
            layer([winner], color=WINNER_COLOR, marker="▓" if plain else "sd")
            plt.text(
                WINNER_GLYPH,
                pos[winner],
                axis.heights[winner] + axis.above,
                color=WINNER_COLOR,
                alignment="center",
            )

    @staticmethod
    def _rate_ticks(
        plt: Plot, width: int, rates: list[float], winner: int, stayed: bool, pos: list[int]
    ) -> list[str]:
        """The rates under the bars, thinned to fit; each rate's label (all of them)."""
        names = [rate_label(r, rates) for r in rates]
        widest = max(len(n) for n in names) + 1
        # labelled always: the winner, --stay's zero-rate candidate and the grid's top rate
        keep = [winner] if winner >= 0 else []
        keep += [i for i, r in enumerate(rates) if r == 0] + [int(np.argmax(rates))]
        shown = thin(list(range(len(rates))), width, keep, widest)
        taken = winner >= 0 and not stayed
        labels = [f"*{names[i]}" if i == winner and taken else names[i] for i in shown]
        plt.xticks([pos[i] for i in shown], labels)  # (ASCII *: its width is never in doubt)
        return names

    def title(
        self,
        epoch: int,
        names: list[str],
        losses: np.ndarray,
        winner: int,
        bad: int,
        log: bool,
        target: float | None,
        stayed: bool,
        area: int,
        start: float,
    ) -> str:
        """The longest title that fits the plot area (plotext drops a wider one): the epoch, what
        the bars are (on a batch), the axis, and what was taken: the winner's step, or the walk
        staying put with its best candidate named as such."""
        what = "last batch" if self.on_batch else "candidates"
        if self.direction != "sgd":
            what = f"{what} along {self.direction}"
        axis = "losses on a log axis" if log else "losses on a linear axis"
        if epoch == 1 and self.unit == "epoch" and np.isfinite(losses).any():
            shown = format_loss(start, target)
            forms = [
                f"epoch 1: every candidate is the start ({shown})",
                f"epoch 1: all the start ({shown})",
                f"ep 1: start {shown}",
                "start",
            ]
        elif winner >= 0:
            loss, lr = format_loss(losses[winner], target), names[winner]
            extra = [f" ({bad} not finite)", f" ({bad} inf)"] if bad else ["", ""]
            if stayed and all(n == "0" for n in names):  # (a scheduler's lr 0: WalkerSGD)
                forms = [
                    f"epoch {epoch} {what}, {axis}: every rate 0 (lr 0), nothing moved → {loss}",
                    f"epoch {epoch} {what}: every rate 0 (lr 0), nothing moved → {loss}",
                    f"epoch {epoch}: every rate 0 (lr 0) → {loss}",
                    f"ep {epoch}: lr 0 → {loss}",
                    f"lr 0 → {loss}",
                    "lr 0",
                ]
            elif stayed:
                forms = [
                    f"epoch {epoch} {what}, {axis}: stayed put, best lr {lr} → {loss}",
                    f"epoch {epoch} {what}: stayed put, best lr {lr} → {loss}",
                    f"epoch {epoch}: stayed put, best lr {lr} → {loss}",
                    f"ep {epoch}: stay, best {lr} → {loss}",
                    f"stay, best {lr} → {loss}",
                    "stayed put",
                ]
            else:
                forms = [
                    f"epoch {epoch} {what}, {axis}: {WINNER_GLYPH} lr {lr} → {loss}",
                    f"epoch {epoch} {what}: {WINNER_GLYPH} lr {lr} → {loss}",
                    f"ep {epoch}: {WINNER_GLYPH} {lr} → {loss}",
                    f"{WINNER_GLYPH} {lr} → {loss}",
                    f"{WINNER_GLYPH} {lr}",
                ]
            forms = [forms[0] + extra[0]] + [f + extra[1] for f in forms[1:-1]] + forms[1:]
        else:
            forms = [
                f"epoch {epoch} candidates: none finite",
                f"ep {epoch}: none finite",
                "none finite",
            ]
        return self._fit(forms, area)

    def reused_title(
        self, frame: BarsFrame, names: list[str], losses: np.ndarray, winner: int, area: int
    ) -> str:
        """A reused rate's epoch (no candidate scored): the rate it took, and which step the
        faint bars are (the last scored), whose winner is named as that step's. Which step the
        bars are is kept at every width (faint bars read as this epoch's without it); the rate
        goes only where both do not fit (the status line says it: ``lr 0.07812 (reused)``),
        the other words before it."""
        epoch, rate = frame.epoch, format_rate(frame.reused or 0.0, frame.rates)
        where, mid, short = _bars_from(frame)
        won = ""
        if winner >= 0 and frame.source is not None:
            loss = format_loss(losses[winner], frame.target)
            won = f" (won by lr {names[winner]} → {loss})"
        tail = "earlier" if frame.source is None else f"ep {frame.source}"
        n = frame.mean_of  # (core/schedule.py's reused rate: the mean of WINDOW winners)
        if n > 0:
            mean, mid_mean, short_mean = (
                f"mean of the last {n} winner{'s' * (n != 1)}",
                f"mean of {n} winner{'s' * (n != 1)}",
                f"{n}-winner mean",
            )
        else:  # WalkerSGD's flush() along a walk that reuses no rate: the last winner's
            mean, mid_mean, short_mean = "the last winner's rate", "last winner's", "last winner's"
        head = (
            f"epoch {epoch}: rate {rate} reused ({mean}), no candidates scored; bars from {where}"
        )
        forms = [
            head + won,
            head,
            f"epoch {epoch}: rate {rate} reused ({mean}); bars from {where}",
            f"ep {epoch}: {rate} reused ({mid_mean}); bars from {short}",
            f"ep {epoch}: {rate} reused ({short_mean}); bars from {short}",
            f"ep {epoch}: {rate} reused ({short_mean}); bars {tail}",
            f"epoch {epoch}: rate {rate} reused; bars from {where}",
            f"epoch {epoch}: {rate} reused; bars from {mid}",
            f"ep {epoch}: {rate} reused; bars from {short}",
        ]
        forms += [f"ep {epoch}: {rate} reused; bars {tail}", f"{rate} reused; bars {tail}"]
        return self._fit([*forms, f"reused; bars {tail}", f"bars {tail}"], area)

    def _fit(self, forms: list[str], area: int) -> str:
        """The first of ``forms`` that fits the plot area, in this panel's unit."""
        if self.unit != "epoch":
            forms = [re.sub(r"\b(epoch|ep)\b", self.unit, form) for form in forms]
        for form in forms:
            if len(form) <= area:
                return form
        return forms[-1][: max(1, area)]

    hits: Hits | None = None

    def bar_at(self, x: int) -> str | None:
        """What the bar under column ``x`` of the widget holds (None between bars)."""
        hits = self.hits
        if hits is None:
            return None
        col = x - hits.left
        for i, p in enumerate(hits.pos):
            if p - hits.half[0] - 1 <= col <= p + hits.half[1] + 1:
                return hits.texts[i]
        return None

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self.tooltip = self.bar_at(event.x)

    def on_click(self, event: events.Click) -> None:
        text = self.bar_at(event.x)
        if text is not None:
            self.post_message(Say(text))

    @staticmethod
    def _scale(losses: np.ndarray, finite: np.ndarray) -> tuple[np.ndarray, bool]:
        """The bar heights' axis: log10 of the losses when they are all positive and span a
        decade or more, else the losses themselves (a linear axis fitted to their spread)."""
        ok = finite & (losses > 0)
        if ok.any() and ok.sum() == finite.sum():
            lo, hi = losses[ok].min(), losses[ok].max()
            if hi >= 10 * lo:
                return np.where(ok, np.log10(np.where(ok, losses, 1.0)), np.nan), True
        return np.where(finite, losses, np.nan), False


def _bars_from(frame: BarsFrame) -> tuple[str, str, str]:
    """Which step a reused rate's faint bars are, long, shorter and shortest: an epoch's last,
    an earlier batch of it, or an earlier step not held."""
    if frame.source is None:
        return "an earlier step", "an earlier step", "earlier"
    if frame.earlier_batch:
        where = f"an earlier batch of epoch {frame.source}"
        return where, f"earlier in epoch {frame.source}", f"earlier in ep {frame.source}"
    return f"epoch {frame.source}", f"epoch {frame.source}", f"ep {frame.source}"


@dataclass(frozen=True)
class _BarAxis:
    """The bars' y axis: the floor just under the lowest loss, the top, each bar's height (nan
    and inf: full height), the row height above a bar (for its star or word), the ticks."""

    values: np.ndarray
    log: bool
    lo: float
    hi: float
    base: float
    top: float
    y1: float
    above: float
    heights: np.ndarray
    ticks: list[float]
    labels: list[str]

    @classmethod
    def fit(cls, scaled: tuple[np.ndarray, bool], finite: np.ndarray, height: int) -> _BarAxis:
        values, log = scaled
        if finite.any():
            lo, hi = float(values[finite].min()), float(values[finite].max())
        else:
            lo, hi = 0.0, 1.0
        spread = hi - lo
        if spread <= 0:  # all equal (epoch 1: every candidate is the start)
            spread = max(abs(hi), 1e-30) * (0.1 if log else 1e-3) if hi else 1.0
        base = lo - 0.25 * spread
        top = hi + 0.1 * spread
        heights = np.where(finite, values, top)
        # plotext's plot area has height - 4 rows (title, borders, tick labels); the star and the
        # nan/inf words go one row above their bar, so the axis reaches at least a row past top.
        rows = max(3, height - 4)
        y1 = max(top + 0.2 * (top - base), (top * (rows - 1) - base) / (rows - 2))
        above = (y1 - base) / (rows - 1)
        most = max(2, height // 3)
        if not finite.any():
            ticks, labels = [base], [""]  # no finite loss: no scale to show
        elif log:
            ticks, labels = log_ticks(base, top, most=most)
        else:
            ticks, labels = linear_ticks(lo, hi, most)
        return cls(values, log, lo, hi, base, top, y1, above, heights, ticks, labels)


@dataclass(frozen=True)
class Hits:
    """Where the bars of the last frame are: the plot area's first column on the widget, each
    bar's centre column in the area and its reach, and what each bar holds."""

    left: int
    pos: list[int]
    half: tuple[int, int]
    texts: list[str]


def rate_label(rate: float, rates: list[float]) -> str:
    """A rate as the bars label it: ``stay`` for the zero-rate candidate of --stay (every rate
    0 is a scheduler's lr 0 on WalkerSGD's grid, no --stay: ``0``)."""
    return "stay" if rate == 0 and any(r != 0 for r in rates) else format_rate(rate, rates)


def linear_ticks(lo: float, hi: float, most: int) -> tuple[list[float], list[str]]:
    """Up to ``most`` ticks from lo to hi, labelled with the fewest significant digits that
    tell them apart (near an optimum the losses differ in the fifth digit or later)."""
    count = max(2, min(4, most))
    if hi <= lo:
        return [lo], [f"{lo:.4g}"]
    ticks = [lo + (hi - lo) * i / (count - 1) for i in range(count)]
    # a tick within rounding of zero is zero (no "-1e-09" or "-0" beside 0.5)
    ticks = [0.0 if abs(t) < 1e-9 * (hi - lo) else t for t in ticks]
    for digits in range(3, 17):
        labels = [f"{t:.{digits}g}" for t in ticks]
        if len(set(labels)) == len(labels):
            return ticks, labels
    return ticks, [repr(t) for t in ticks]


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
