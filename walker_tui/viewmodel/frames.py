"""What each panel draws for the epoch shown, as typed plain data taken from a RunView: the
loss curve's series, the candidates' bars, the surface's paths and marks, and the status line's
fields. The app hands these to its widgets; nothing here knows Textual."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from walker_tui.catalog import entry, walker_name
from walker_tui.core.grid import format_rate
from walker_tui.core.schedule import WINDOW, schedules
from walker_tui.core.surface import SurfaceData
from walker_tui.numbers import rates as count_rates
from walker_tui.recording.ends import describe_end
from walker_tui.viewmodel.view import X_AXES, RunView

if TYPE_CHECKING:
    from walker_tui.core.trainers.loop import HostEpoch
    from walker_tui.viewmodel.history import History

XY = tuple[Any, Any]
WALKER_STYLE = ("walker", 0)  # the walker's glyph and colour (series_marker/series_color args)


Style = tuple[str, int]  # a series' (name, index): its glyph and colour (ui.widgets.series_*)


@dataclass
class CurveFrame:
    """The loss curve: a curve per series, the target, the epoch shown."""

    series: dict[str, XY]  # by the legend's name (the walker along adam is walker:adam)
    target: float
    marker: float | None  # the epoch shown, in the x axis's unit, when it is not the newest
    x_axis: str = "epoch"
    log_x: bool = False
    unit: str = "epoch"  # what the epoch axis counts ("step" for WalkerSGD's recordings)
    walker_as: str | None = None  # the walker's legend name when it is not "walker"
    label: str = "loss"  # what the y axis is (a logged metric on a linear one)
    log_y: bool = True
    faint: dict[str, XY] | None = None  # curves drawn dim behind (the raw behind a smoothed one)
    styles: dict[str, Style] | None = None  # a series' glyph and colour where not its own
    note: str = ""  # said in the title (the smoothing)


@dataclass
class BarsFrame:
    """The candidates: one bar per rate with this epoch's loss, the winner marked."""

    rates: list[float]
    losses: Any  # one per rate, or None before the first epoch
    winner: int  # -1: no winner (the start, or nothing yet)
    epoch: int
    target: float | None = None
    stayed: bool = False  # an adaptive walk stayed put: the best candidate was not taken
    # the rate this epoch's step reused, scoring no candidate (core/schedule.py): the bars are
    # then an earlier step's, drawn faint; None: this epoch's step scored its candidates
    reused: float | None = None
    source: int | None = None  # the epoch the reused step's bars come from (None: not held)
    earlier_batch: bool = False  # they come from an earlier batch of that epoch, not its last
    unit: str = "epoch"  # what a row is: a WalkerSGD recording's is a step (its 1 is no start)
    on_batch: bool = False  # mini-batches: the losses on the epoch's last batch, not all the data
    direction: str = "sgd"  # what the walker walks along (named where it is not sgd)
    # the winners the reused rate averages: WINDOW (core/schedule.py); fewer, or 0 (the last
    # winner's rate), only where WalkerSGD's flush() took a step (see reused_basis)
    mean_of: int = WINDOW


@dataclass
class SurfaceFrame:
    """The loss surface's panel: the surface (None: not computed yet), the paths, the marks."""

    paths: dict[str, XY]
    walk: XY | None = None  # this epoch's candidates in the plane
    win: tuple[float, float] | None = None  # where the walk went
    sliced: bool = False  # a plane's slice through many weights
    path_losses: tuple[float, float] | None = None  # the levels' focus (see path_losses)
    surface: SurfaceData | None = None
    start: tuple[float, float] | None = None
    minimum: tuple[float, float] | None = None
    styles: dict[str, Style] | None = None  # a path's glyph and colour where not its own
    reused: bool = False  # ``win`` is where a step at a reused rate went: no winner, no candidates


@dataclass
class StatusFrame:
    """The status line of a run (training or replay) at the epoch shown."""

    problem: str
    device: str
    seed: int
    epoch: int
    latest: int
    rate: float | None  # the rate taken, None for none (diverged, or nothing yet)
    rates: list[float]
    loss: float | None
    target: float
    state: str
    eps: float | None  # epochs a second while running
    pace: str
    summary: list[str] | str = ()  # the outcomes, a line each
    short: list[str] | None = None  # the outcomes as one line, longest form first
    step: str | None = None  # "start" (epoch 1: no step yet) or "stay" (the walk kept its w)
    note: tuple[str, str] | None = None  # (text, style) of the note shown
    data: str | None = None  # the --data table's name
    rec_epoch: int | None = None  # the walker's epoch of the figures (past its end: its last)
    metrics: dict[str, float] | None = None
    batch: int | None = None  # a model's mini-batch size
    unit: str = "epoch"  # what a row is (a WalkerSGD recording's is a step)
    state_text: str | None = None  # the state's words where they say more (how a file ended)
    direction: str = "sgd"  # what the walker walks along
    device_use: str | None = None  # the device's memory (ui.device_monitor)
    reused: bool = False  # the rate is a reused one: the step scored no candidate


Item = tuple[str, str]  # a status item: (text, style)


@dataclass
class WatchStatusFrame:
    """walker-tui watch's status line: what is shown (following, or back and what came in)
    and the picked run at that epoch, every run's state, the facts, the note."""

    first: list[Item]
    runs: list[Item]
    facts: list[Item]
    note: tuple[str, str] | None = None


@dataclass
class Panels:
    """One epoch shown: the walker's record of it, and each panel's frame."""

    epoch: int
    latest: int
    rec: HostEpoch | None
    curve: CurveFrame
    bars: BarsFrame
    surface: SurfaceFrame


def panels(view: RunView) -> Panels:
    epoch = view.shown_epoch
    rec = view.walker_at(epoch)
    series, paths = {}, {}
    column = X_AXES[view.x_axis]
    for name, hist in view.histories.items():
        cols = hist.curve.columns()
        if cols:
            series[name] = (cols[column], cols[1])
        xs, ys = hist.path.columns(upto=None if view.view_epoch is None else epoch)
        if len(xs):
            paths[name] = (xs, ys)
    marker = None
    if view.view_epoch is not None:
        # the epoch shown, of the trainer that reached it (a racer past the walker's end)
        there = [h.at(epoch) for h in view.histories.values()]
        shown = next((r for r in there if r is not None), rec)
        if shown is not None:
            marker = {"epoch": epoch, "evaluations": shown.evals,
                      "seconds": shown.seconds}[view.x_axis]  # fmt: skip
    named, walker_as = _named(view, series)
    styles = {walker_as: WALKER_STYLE} if walker_as is not None else None
    curve = CurveFrame(
        named, view.target, marker, view.x_axis, view.log_x, view.unit, walker_as, styles=styles
    )
    walk = win = None
    cfg = view.cfg
    lazy = schedules(cfg.direction, cfg.grid == "adaptive", cfg.stay)
    bars = bars_frame(rec, view.rates, view.target, view.unit, view.histories.get("walker"), lazy)
    if rec is not None and not (rec.epoch == 1 and view.unit == "epoch"):  # (1: the start)
        if rec.scored:  # (a reused rate scored none: its record's are an earlier step's, not
            walk_xy = view.to_plane(rec.weights)  # this step's: the surface draws none)
            walk = (walk_xy[0], walk_xy[1])
        at = view.to_plane(rec.position)  # (an adaptive walk may have stayed put)
        win = (float(at[0]), float(at[1]))
    bars.direction = cfg.direction
    bars.on_batch = bool(entry(cfg.problem).model and cfg.batch_size)
    surface = SurfaceFrame(
        paths, walk, win, view.sliced, path_losses(series.get("walker")), view.surface,
        view.start_w, view.minimum, reused=win is not None and not rec.scored,
    )  # fmt: skip
    return Panels(epoch, view.latest_epoch, rec, curve, bars, surface)


def bars_frame(
    rec: HostEpoch | None,
    rates: list[float],
    target: float,
    unit: str,
    walker: History | None,
    lazy: bool = True,
) -> BarsFrame:
    """The candidates of the walker's record ``rec`` (None: nothing yet, ``rates`` the grid),
    live, replayed or watched alike: epoch 1 is the start (every candidate is w0 with the same
    loss, no winner yet); a step that reused a rate scored none, its bars an earlier step's
    (``walker``, the walker's History, tells which)."""
    if rec is None:
        bars = BarsFrame(list(rates), None, -1, 0, None)
    elif rec.epoch == 1 and unit == "epoch":
        bars = BarsFrame(list(rec.rates), rec.losses, -1, rec.epoch, target)
    else:
        bars = BarsFrame(list(rec.rates), rec.losses, rec.winner, rec.epoch, target, not rec.moved)
        if not rec.scored:
            bars.reused = rec.lr
            bars.source, bars.earlier_batch = bars_source(walker, rec)
            bars.mean_of = reused_basis(walker, rec, lazy, unit)
    bars.unit = unit
    return bars


def taken(rec: HostEpoch | None, unit: str) -> tuple[str | None, float | None, bool]:
    """What the walker's step of ``rec`` took, as the status line says it: (``"start"`` at epoch
    1, no step yet, or ``"stay"``, the walk kept its w, else None; the rate, None where none
    (diverged, or nothing yet); whether it was a reused one, no candidate scored)."""
    if rec is None:
        return None, None, False
    # every rate 0 (a scheduler's lr 0, WalkerSGD): nothing moved, and no walk stayed put
    zero = not np.any(np.asarray(rec.rates) != 0)
    stay = "stay" if not (rec.moved or zero) else None
    step = "start" if rec.epoch == 1 and unit == "epoch" else stay
    rate = None if rec.diverged else rec.lr
    return step, rate, not rec.scored and not rec.diverged


def rate_words(step: str | None, rate: float | None, rates: list[float], reused: bool) -> str:
    """The status line's rate (see :func:`taken`): ``lr start``, ``lr stay``, ``lr 0.05``,
    ``lr 0.05 (reused)``; empty for none."""
    if step is not None:
        return f"lr {step}"
    if rate is None:
        return ""
    return f"lr {format_rate(rate, rates)}{' (reused)' if reused else ''}"


def reused_basis(walker: History | None, rec: HostEpoch, lazy: bool, unit: str) -> int:
    """How many winners the rate of ``rec``, a step that scored nothing, averages. The rule's
    reused steps come after WINDOW winners (core/schedule.py); WalkerSGD's ``flush()`` takes an
    unscored step at any time (rows in steps): along a walk that reuses rates, at the mean of
    the winners so far (counted back here: the rows that scored, up to WINDOW), else at the
    last winner's rate (0). A row not held: WINDOW, as the rule."""
    if not lazy:
        return 0
    if unit != "step" or walker is None:
        return WINDOW
    count, epoch = 0, rec.epoch - 1
    while epoch >= 1 and count < WINDOW:
        before = walker.at(epoch)
        if before is None:
            return WINDOW
        count += bool(before.scored)
        epoch -= 1
    return count


def bars_source(walker: History | None, rec: HostEpoch) -> tuple[int | None, bool]:
    """Where a reused step's bars (the last scored step's candidates) come from: (the epoch,
    whether from an earlier batch of it rather than its last). Records before ``rec`` in
    ``walker`` (the walker's History) holding the same losses show the same step; the earliest
    of them is its epoch's last step if it scored, else a reused one after a scoring earlier in
    its epoch. None: a record not held."""
    first = rec
    while walker is not None and first.epoch > 1:
        before = walker.at(first.epoch - 1)
        if before is None:
            return None, False
        if not np.array_equal(before.losses, rec.losses, equal_nan=True):
            break
        first = before
    return first.epoch, not first.scored


def _named(view: RunView, series: dict) -> tuple[dict, str | None]:
    """The curves as the legend names them (the walker along adam is ``walker:adam``, drawn in
    the walker's own glyph and colour)."""
    me = walker_name(view.cfg.direction)
    if me == "walker" or "walker" not in series or me in series:
        return series, None
    return {(me if name == "walker" else name): xy for name, xy in series.items()}, me


def path_losses(series: tuple | None) -> tuple[float, float] | None:
    """The range of losses the walker's path has walked through (the surface puts most of its
    levels there)."""
    if series is None:
        return None
    ys = np.asarray(series[1], dtype=float)
    ys = ys[np.isfinite(ys) & (ys > 0)]
    return (float(ys.min()), float(ys.max())) if len(ys) else None


def status_frame(
    view: RunView, rec: HostEpoch | None, epoch: int, latest: int, device_use: str | None = None
) -> StatusFrame:
    """The status line for ``epoch`` (``rec``: the walker's record of it; ``device_use``: the
    device line)."""
    cfg = view.cfg
    state = view.state
    step, rate, reused = taken(rec, view.unit)
    return StatusFrame(
        problem=cfg.problem,
        device=view.device,
        seed=view.seed,
        epoch=epoch,
        latest=latest,
        rate=rate,
        step=step,
        rates=list(rec.rates) if rec is not None else view.rates,
        loss=rec.loss if rec is not None else None,
        target=view.target,
        state=state,
        eps=view.eps if state == "running" else None,
        pace=view.pace_text,
        summary=view.summary,
        short=view.summary_short,
        note=view.note if view.note_shows(epoch) else None,
        data=Path(cfg.data).name if cfg.data else None,
        rec_epoch=rec.epoch if rec is not None else None,
        metrics=rec.metrics if rec is not None else None,
        batch=cfg.batch_size if entry(cfg.problem).model else None,
        unit=view.unit,
        state_text=ended_text(view) if state == "ended" else None,
        direction=cfg.direction,
        reused=reused,
        device_use=device_use,
    )


def subtitle(view: RunView, width: int, rates: list[float] | None) -> str:
    """The header: the problem, the grid, and an adaptive grid's range at the epoch shown."""
    cfg = view.cfg
    data = f" · {Path(cfg.data).name}" if cfg.data else ""
    count = count_rates(len(cfg.lrs), cfg.stay)
    grid = f"{count} · {cfg.lrs_spec}"
    now = sorted(r for r in (rates or []) if r > 0)
    if cfg.grid == "adaptive":
        grid = f"{count} · adaptive grid from {cfg.lrs_spec}"
        if now:
            grid += f", now {format_rate(now[0], now)} to {format_rate(now[-1], now)}"
    # along another direction than the gradient: the walker's name says which
    along = "" if cfg.direction == "sgd" else f" · {walker_name(cfg.direction)}"
    # ("to", not "-": 8.812e-05-2.81 read as a minus sign)
    mode = "replay · " if view.replay is not None else ""
    title = f"{mode}{cfg.problem}{data}{along} · {grid}"
    if cfg.grid == "adaptive" and len(title) > width - 30:
        # narrow: the grid's range now matters more than where it started
        span = f" {format_rate(now[0], now)} to {format_rate(now[-1], now)}" if now else ""
        title = f"{mode}{cfg.problem}{along} · adaptive grid{span}"
        if len(title) > width - 20:  # (60 columns: the header's own words leave 40)
            title = title.replace("adaptive grid", "adaptive")
    return title


def ended_text(view: RunView) -> str | None:
    """A replay that ran to the end of its file: how the recording ended (its end
    record), or that it has none."""
    if view.replay is None:
        return None
    return f"the recording ends here: {describe_end(view.replay.end, view.unit)}"
