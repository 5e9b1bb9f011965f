"""What each panel draws for ``walker-tui watch`` (a WatchView), as typed plain data: one loss
curve with a line per file, and the picked run's candidates, path and status. No Textual here."""

from __future__ import annotations

import time

import numpy as np

from walker_tui.core.schedule import schedules
from walker_tui.core.surface import SurfaceData, fit_window, grow
from walker_tui.core.trainers.loop import HostEpoch
from walker_tui.numbers import format_loss, format_metric
from walker_tui.viewmodel.frames import (
    WALKER_STYLE,
    CurveFrame,
    Item,
    Panels,
    Style,
    SurfaceFrame,
    WatchStatusFrame,
    bars_frame,
    rate_words,
    taken,
)
from walker_tui.viewmodel.watch import Run
from walker_tui.viewmodel.watch_view import WatchView

STYLES = {  # the status line's words: following or back, and each run's state
    "following": "bold green",
    "back": "bold yellow",
    "growing": "green",
    "quiet": "yellow",
    "ended": "magenta",
    "error": "bold red",
    "waiting": "",
    "reading": "cyan",
}


def style(i: int) -> Style:
    """Run i's glyph and colour, in the loss curve and its path: the first run's braille in
    the walker's colour, the others the racers' glyphs."""
    return WALKER_STYLE if i == 0 else (f"run {i}", i)


def panels(view: WatchView) -> Panels:
    """The epoch shown: every run's curve, the picked run's candidates and path."""
    epoch = view.shown_epoch
    run = view.picked
    series, faint, styles = {}, {}, {}
    for i, r in enumerate(view.runs):
        src = r.loss if view.metric is None else r.metrics.get(view.metric)
        if src is None or src.count == 0:
            continue
        styles[r.name] = style(i)
        series[r.name] = src.columns(view.smooth)
        if view.smooth is not None:
            faint[r.name] = src.columns(None)
    target = float(run.options.get("min_loss") or 0.0) if view.metric is None else 0.0
    note = f", EMA {view.smooth:g} (raw faint)" if view.smooth is not None else ""
    marker = epoch if view.view_epoch is not None else None
    curve = CurveFrame(
        series, target, marker, "epoch", view.log_x, unit=view.unit,
        label="loss" if view.metric is None else view.metric,
        log_y=view.metric is None, faint=faint or None, styles=styles, note=note,
    )  # fmt: skip
    rec = view.walker_at(epoch)
    rates = list(run.head.lrs) if run.head is not None else []
    opts = run.options
    adaptive, stay = opts.get("grid") == "adaptive", bool(opts.get("stay"))
    lazy = schedules(opts.get("direction", "sgd"), adaptive, stay)
    bars = bars_frame(rec, rates, target, run.unit, run.history, lazy)  # (as replay's and live's)
    surface = path_frame(view, run, rec, epoch)
    return Panels(epoch, view.latest_epoch, rec, curve, bars, surface)


def path_frame(view: WatchView, run: Run, rec: HostEpoch | None, epoch: int) -> SurfaceFrame:
    """The picked run's path in its plane (watch draws no loss surface: its contours are
    replay's, for a problem rebuilt from the file)."""
    walker_sgd = run.options.get("source") == "WalkerSGD"
    sliced = run.sliced
    if walker_sgd:
        note = "path only: a training loop's surface is unknown"
    else:
        note = "path only: replay FILE draws the surface"
    history = run.history
    if history is None or (run.plane is None and (run.d or 2) > 2):
        note = run.plane_note or note
        box = fit_window(np.array([-1.0, 1.0]), np.array([-1.0, 1.0]))
        return SurfaceFrame({}, sliced=sliced, surface=SurfaceData(box, *_empty(), note=note))

    def to_xy(w: np.ndarray) -> np.ndarray:
        if run.plane is None:
            return np.asarray(w, dtype=float)[:2]
        origin, proj = run.plane
        w = np.asarray(w, dtype=float)
        return proj @ (w - (origin if w.ndim == 1 else origin[:, None]))

    xs, ys = history.path.columns(upto=None if view.view_epoch is None else epoch)
    if walker_sgd:
        start = (0.0, 0.0)  # (the plane's origin is the weights at the first step)
    elif history.early:
        first = to_xy(history.early[0].position)
        start = (float(first[0]), float(first[1]))
    else:
        start = None
    px = np.concatenate([xs, [start[0]] if start else []])
    py = np.concatenate([ys, [start[1]] if start else []])
    ok = np.isfinite(px) & np.isfinite(py)
    if ok.any():
        if run.window is None:
            run.window = fit_window(px[ok], py[ok])
        elif not run.window.contains(px[ok], py[ok]):
            run.window = grow(run.window, px[ok], py[ok])
    window = run.window or fit_window(np.array([-1.0, 1.0]), np.array([-1.0, 1.0]))
    walk = win = None
    if rec is not None and not (rec.epoch == 1 and run.unit == "epoch"):
        if rec.scored:  # (a reused rate scored none: its record's are an earlier step's)
            cand = to_xy(rec.weights)
            walk = (cand[0], cand[1])
        at = to_xy(rec.position)
        win = (float(at[0]), float(at[1]))
    paths = {run.name: (xs, ys)} if len(xs) else {}
    styles = {run.name: style(view.selected)}
    surface = SurfaceData(window, *_empty(), note=note)
    reused = win is not None and not rec.scored
    return SurfaceFrame(paths, walk, win, sliced, None, surface, start, None, styles, reused)


def _empty() -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """A surface with no grid: the panel draws the path in its window, and no contours."""
    return np.zeros(0), np.zeros(0), np.zeros((0, 0)), []


def subtitle(view: WatchView, width: int, rates: list[float] | None = None) -> str:
    """The header: the files' names (the title says watch)."""
    return ", ".join(r.name for r in view.runs) if len(view.runs) > 1 else str(view.paths[0])


def status_frame(
    view: WatchView, rec: HostEpoch | None, epoch: int, latest: int, device_use: str | None = None
) -> WatchStatusFrame:
    """What is shown (following, or back and what came in since), the picked run at that epoch,
    every run's state, the facts (``device_use``: this machine's device line) and the note."""
    run = view.picked
    first = [_where(view, epoch), (run.name, "bold")]
    run_latest = run.latest.epoch if run.latest is not None else 0
    shown = rec.epoch if rec is not None else 0
    unit = run.unit
    first.append((f"{unit} {shown}" if shown == run_latest else f"{unit} {shown}/{run_latest}", ""))
    if rec is not None:  # (the rate as replay's and live's status line say it)
        step, rate, reused = taken(rec, unit)
        words = rate_words(step, rate, list(rec.rates), reused)
        first += [(words, "")] if words else []
        direction = run.options.get("direction", "sgd")
        if direction != "sgd":  # (the rate is a step along that direction's u, as live says)
            first.append((f"along {direction}", ""))
        first.append((f"loss {format_loss(rec.loss)}", ""))
    for name, value in run.metric_at(shown if rec is not None else epoch).items():
        first.append((f"{name} {format_metric(name, value)}", ""))
    if view.metric is not None:
        first.append((f"panel: {view.metric}", ""))
    if view.smooth is not None:
        first.append((f"smoothing EMA {view.smooth:g}", ""))
    runs = []
    now = time.time()
    for i, r in enumerate(view.runs):
        word, words = r.state(now)
        text = f"{i + 1} {r.name}: {words}"
        if r.latest is not None:  # (an end record says its last epoch itself)
            text += f", {r.unit} {r.latest.epoch}" if word != "ended" else ""
            text += f", loss {format_loss(r.latest.loss)}"
        runs.append((text, STYLES.get(word, "")))
    facts = [(f"watching {len(view.runs)} file{'s' * (len(view.runs) != 1)}", "")]
    if view.differ:
        facts.append((view.differ, ""))
    if device_use:
        facts.append((device_use, ""))
    note = view.note if view.note_shows(epoch) else None
    return WatchStatusFrame(first, runs, facts, note)


def _where(view: WatchView, epoch: int) -> Item:
    """Following, or back at ``epoch`` and what came in since."""
    if view.view_epoch is None:
        return ("following", STYLES["following"])
    base = view.back_base or [0] * len(view.runs)
    grew = [max(0, n - b) for n, b in zip(view.rows(), base, strict=True)]
    new = sum(grew)
    files = sum(n > 0 for n in grew)  # only the runs that grew
    where = f" in {files} files" if files > 1 else ""
    if files == 1 and len(view.runs) > 1:
        where = f" in {view.runs[next(i for i, n in enumerate(grew) if n)].name}"
    if not new and all(r.ended for r in view.runs):
        return ("back", STYLES["back"])  # (nothing came, nor will: the files have ended)
    words = f"back at {view.unit} {epoch}"
    words += f": {new} new {view.unit}{'s' * (new != 1)}{where} since, end follows"
    return (words, STYLES["back"])
