"""The app of ``walker-tui watch PATH...``: recordings followed as they grow, side by side.

The panels are the app's (walker_tui.ui.app): one loss curve with a line per file, and the
candidates and path of the run picked with ``c`` (or 1-9). The view follows the newest epoch
until a key travels back; the status line then counts what came in, and ``end`` follows again.
What is read comes from walker_tui.viewmodel.watch's follower thread; nothing here reads a file.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from textual.message import Message

import walker_tui.viewmodel.source as sources
from walker_tui.core.grid import format_rate
from walker_tui.core.surface import SurfaceData, fit_window, grow
from walker_tui.numbers import format_loss, format_metric
from walker_tui.ui.base import PanelApp, status_budget
from walker_tui.ui.device_monitor import watch_probe
from walker_tui.ui.widgets.candidates import CandidateBars
from walker_tui.ui.widgets.loss_curve import LossCurve
from walker_tui.ui.widgets.surface_plot import SurfacePlot
from walker_tui.ui.widgets.watch_status import WATCH_STYLES, WatchStatus
from walker_tui.viewmodel.frames import (
    WALKER_STYLE,
    BarsFrame,
    CurveFrame,
    SurfaceFrame,
    WatchStatusFrame,
)
from walker_tui.viewmodel.series import WEIGHTS
from walker_tui.viewmodel.view import EpochView
from walker_tui.viewmodel.watch import POLL, Feed, Follower, Run, run_names

SMOOTHING = (None, *WEIGHTS)  # the smoothing key's steps
BULK_FRAMES = 0.5  # seconds between frames while a long file is being opened


class Fed(Message):
    """The follower read something (posted from its thread)."""

    def __init__(self, feed: Feed) -> None:
        super().__init__()
        self.feed = feed


class WatchApp(PanelApp):
    """Follow recordings as they grow: every key reads what is held, nothing trains. A sibling
    of the panels app on the same base (mode watch: its column of the key table)."""

    TITLE = "walker-tui watch"

    def __init__(self, paths: list[Path], poll: float = POLL) -> None:
        super().__init__("watch")
        self.view = EpochView()
        self.view.waiting = "still reading the recordings: their rows show in a moment"
        self.paths = [Path(p) for p in paths]
        names = run_names(self.paths)
        self.runs = [Run(i, p, n) for i, (p, n) in enumerate(zip(self.paths, names, strict=True))]
        self.selected = 0
        self.metric: str | None = None  # None: the loss panel shows the loss
        self.smooth: float | None = None  # the EMA's weight; None: raw
        self.poll = poll
        self._back_base: list[int] | None = None  # each run's rows when the view left the newest
        self._differ_said: str | None = None  # the runs-differ note last said
        self.feeds = 0  # feeds taken in (for tests and the benchmark)
        self._bulk_shown = 0.0
        self._undrawn = False  # rows taken in and not yet asked to be drawn
        self.fed_at = 0.0  # when the last feed with new rows was taken in (time.monotonic)

    # --- layout and start ---

    def status_line(self) -> WatchStatus:
        return WatchStatus(id="status")

    def on_mount(self) -> None:
        self.start_panels()
        self._set_sub_title()
        self.adopt(sources.watch(self.paths, self._post_feed, self.poll))
        self.set_interval(1.0, self._tick)  # the runs' ages ("no new step for 45 s")
        if self.colors_note:
            self.say(self.colors_note, seconds=15)

    @property
    def follower(self) -> Follower | None:
        """The source: the files' follower."""
        return self.source  # type: ignore[return-value]

    def device_probe(self):  # noqa: ANN201
        return watch_probe  # this machine's, which may not be the job's: the line says so

    def _set_sub_title(self) -> None:
        names = ", ".join(r.name for r in self.runs)
        title = names if len(self.runs) > 1 else str(self.paths[0])  # (the title says watch)
        if title != self.sub_title:
            self.sub_title = title

    def _post_feed(self, feed: Feed) -> None:
        self.post_message(Fed(feed))  # (the follower's thread: post_message is safe)

    def _tick(self) -> None:
        if self._undrawn:  # (held back while a long file was being read)
            self._undrawn = False
            self.dirty = True
        self.show_status()

    # --- what the follower read ---

    def on_fed(self, msg: Fed) -> None:
        feed = msg.feed
        run = self.runs[feed.index]
        try:
            problem_before = run.problem
            new = run.absorb(feed)
        finally:
            if self.follower is not None:
                self.follower.taken()
        self.feeds += 1
        self.view.waiting = "no rows written yet: watch shows them as the files grow"
        if feed.restart is not None:
            self.say(feed.restart, style="bold red", seconds=30, sticky=True)
        if run.problem is not None and problem_before is None:
            self.say(run.problem, style="bold red", seconds=30, sticky=True)
        self.view.histories = {r.name: r.history for r in self.runs if r.history is not None}
        now = time.monotonic()
        self._undrawn = self._undrawn or bool(new) or feed.restart is not None
        if feed.more and now - self._bulk_shown < BULK_FRAMES:
            return  # (a long file being opened: a frame and a status every half second)
        self._bulk_shown = now
        if self._undrawn:  # what this feed brought, and what the feeds held back brought
            self._undrawn = False
            self.fed_at = now
            self.dirty = True
        self._say_differ()
        self.show_status()

    def _say_differ(self) -> None:
        differ = self.differ
        if differ and differ != self._differ_said:  # (again when a run read later joins it)
            self._differ_said = differ
            self.say(f"{differ}: their curves overlay all the same", seconds=10)

    @property
    def differ(self) -> str | None:
        """How the runs differ where they do: their problems, or what a row is."""
        known = [r for r in self.runs if r.head is not None]
        if len({r.kind for r in known}) < 2 and len({r.unit for r in known}) < 2:
            return None
        parts = [f"{r.name} {r.kind} ({r.unit}s)" for r in known]
        return "runs differ: " + ", ".join(parts)

    def _rows(self) -> list[int]:
        return [r.rows for r in self.runs]

    @property
    def file_stem(self) -> str:
        """A screenshot's name: the run shown (not the app's default problem)."""
        return f"walker-tui-watch-{self.picked.name.replace('/', '-')}"

    # --- state ---

    @property
    def state(self) -> str:
        return "following" if self.view.view_epoch is None else "back"

    @property
    def picked(self) -> Run:
        """The run whose candidates and path are shown."""
        return self.runs[self.selected]

    @property
    def unit(self) -> str:
        units = {r.unit for r in self.runs if r.head is not None}
        return units.pop() if len(units) == 1 else "epoch/step" if units else "epoch"

    def _record(self, run: Run, epoch: int):  # noqa: ANN202
        """The record ``run`` holds nearest at or before ``epoch`` (its last past its end)."""
        history = run.history
        if history is None or history.latest is None:
            return None
        if epoch >= history.latest.epoch:
            return history.latest
        rec = history.at(epoch)
        if rec is None:
            near = history.nearest(epoch, -1)
            rec = history.at(near) if near is not None else None
        return rec

    # --- keys ---

    def travelled(self, before: int | None) -> None:
        self._left(before)

    def _left(self, before: int | None) -> None:
        """The view left the newest epoch (count what comes in from now) or came back."""
        if self.view.view_epoch is None:
            self._back_base = None
        elif before is None:
            self._back_base = self._rows()
        self.show_status()

    def _follow(self) -> None:
        """Follow the newest epoch again (what came in while back is on screen at once)."""
        self.view.unsay()
        self.view.view_epoch = None
        self._left(0)
        self.dirty = True
        self._next_redraw = 0.0

    def action_toggle_pause(self) -> None:
        if self.view.view_epoch is not None:  # follow again
            self._follow()
            return
        if not self.view.histories:
            self.say("no epoch read yet: nothing to stop at")
            return
        self.view.unsay()
        self.view.view_epoch = self.view.latest_epoch  # stop here; new epochs are counted
        self._left(None)
        self.dirty = True
        self._next_redraw = 0.0

    def action_newest(self) -> None:
        if self.view.view_epoch is None and self.view.histories:
            self.say(f"following the newest {self.unit} already: left, page up or space go back")
            return
        if self.view.view_epoch is not None:  # (stopped at the newest too: end follows again)
            self._follow()
            return
        self._travel(self.view.latest_epoch, 1)

    def action_step(self) -> None:
        if self.view.view_epoch is None:
            self.say("following the newest: n steps forth once back (left, page up, home)")
            return
        self.action_forth()

    def action_next_run(self) -> None:
        self._pick((self.selected + 1) % len(self.runs))

    def action_pick_run(self, number: int) -> None:
        if number > len(self.runs):
            self.say(f"run {number}: there are {len(self.runs)} (c goes through them)")
            return
        self._pick(number - 1)

    def _pick(self, index: int) -> None:
        if len(self.runs) == 1:
            self.say("one file watched: its candidates and path are shown (c picks another)")
            return
        self.view.unsay()
        self.selected = index
        self.say(f"candidates and path of {self.picked.name} ({index + 1} of {len(self.runs)})")
        self.dirty = True
        self._next_redraw = 0.0

    def _metric_names(self) -> list[str]:
        names: list[str] = []
        for r in self.runs:
            names += [n for n in r.metrics if n not in names]
        return names

    def action_metric(self) -> None:
        names = self._metric_names()
        if not names:
            self.say("no metrics logged: a script adds them with WalkerSGD's opt.log(name=value)")
            return
        self.view.unsay()
        cycle = [None, *names]
        at = cycle.index(self.metric) if self.metric in cycle else 0
        self.metric = cycle[(at + 1) % len(cycle)]
        self.dirty = True
        self._next_redraw = 0.0
        self.show_status()

    def action_smoothing(self) -> None:
        self.view.unsay()
        at = SMOOTHING.index(self.smooth)
        self.smooth = SMOOTHING[(at + 1) % len(SMOOTHING)]
        self.dirty = True
        self._next_redraw = 0.0
        self.show_status()

    def action_save_record(self) -> None:
        self.say(f"{self.picked.name} is on disk already: {self.picked.path}")

    # --- drawing ---

    def redraw(self) -> None:
        epoch = self.view.shown_epoch
        run = self.picked
        with self.batch_update():
            series, faint, styles = {}, {}, {}
            for i, r in enumerate(self.runs):
                src = r.loss if self.metric is None else r.metrics.get(self.metric)
                if src is None or src.count == 0:
                    continue
                styles[r.name] = self._style(i)
                series[r.name] = src.columns(self.smooth)
                if self.smooth is not None:
                    faint[r.name] = src.columns(None)
            target = float(run.options.get("min_loss") or 0.0) if self.metric is None else 0.0
            note = f", EMA {self.smooth:g} (raw faint)" if self.smooth is not None else ""
            marker = epoch if self.view.view_epoch is not None else None
            self.query_one(LossCurve).show(
                CurveFrame(
                    series, target, marker, "epoch", self.view.log_x, unit=self.unit,
                    label="loss" if self.metric is None else self.metric,
                    log_y=self.metric is None, faint=faint or None, styles=styles, note=note,
                )
            )  # fmt: skip
            rec = self._record(run, epoch)
            bars = self.query_one(CandidateBars)
            bars.unit = run.unit
            rates = list(run.head.lrs) if run.head is not None else []
            if rec is None:
                bars.show(BarsFrame(rates, None, -1, 0))
            elif rec.epoch == 1 and run.unit == "epoch":  # (the engine's epoch 1: the start)
                bars.show(BarsFrame(list(rec.rates), rec.losses, -1, 1, target))
            else:
                bars.show(
                    BarsFrame(
                        list(rec.rates), rec.losses, rec.winner, rec.epoch, target,
                        stayed=not rec.moved,
                    )
                )  # fmt: skip
            self._draw_path(run, rec, epoch)
            self._status_due = (rec, (epoch, self.view.latest_epoch))

    @staticmethod
    def _style(i: int) -> tuple[str, int]:
        """Run i's glyph and colour, in the loss curve and its path: the first run's braille in
        the walker's colour, the others the racers' glyphs."""
        return WALKER_STYLE if i == 0 else (f"run {i}", i)

    def _draw_path(self, run: Run, rec, epoch: int) -> None:  # noqa: ANN001
        """The picked run's path in its plane (watch draws no loss surface: its contours are
        replay's, for a problem rebuilt from the file)."""
        plot = self.query_one(SurfacePlot)
        sliced = (run.d or 2) > 2 or run.options.get("source") == "WalkerSGD"
        if run.options.get("source") == "WalkerSGD":
            note = "path only: a training loop's surface is unknown"
        else:
            note = "path only: replay FILE draws the surface"
        history = run.history
        if history is None or (run.plane is None and (run.d or 2) > 2):
            note = run.plane_note or note
            box = fit_window(np.array([-1.0, 1.0]), np.array([-1.0, 1.0]))
            plot.show(
                SurfaceFrame({}, sliced=sliced, surface=SurfaceData(box, *_empty(), note=note))
            )
            return

        def to_xy(w: np.ndarray) -> np.ndarray:
            if run.plane is None:
                return np.asarray(w, dtype=float)[:2]
            origin, proj = run.plane
            w = np.asarray(w, dtype=float)
            return proj @ (w - (origin if w.ndim == 1 else origin[:, None]))

        xs, ys = history.path.columns(upto=None if self.view.view_epoch is None else epoch)
        if run.options.get("source") == "WalkerSGD":
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
            cand = to_xy(rec.weights)
            walk = (cand[0], cand[1])
            at = to_xy(rec.position)
            win = (float(at[0]), float(at[1]))
        paths = {run.name: (xs, ys)} if len(xs) else {}
        styles = {run.name: self._style(self.selected)}
        surface = SurfaceData(window, *_empty(), note=note)
        plot.show(SurfaceFrame(paths, walk, win, sliced, None, surface, start, None, styles))

    # --- the status line ---

    def show_status(self, rec=None, look_up: bool = False, at=None) -> None:  # noqa: ANN001
        status = self.query(WatchStatus)
        if not status:
            return
        epoch, latest = at if at is not None else (self.view.shown_epoch, self.view.latest_epoch)
        run = self.picked
        if rec is None or look_up:
            rec = self._record(run, epoch)
        unit = run.unit
        now = time.time()
        first: list[tuple[str, str]] = []
        if self.view.view_epoch is None:
            first.append(("following", WATCH_STYLES["following"]))
        else:
            base = self._back_base or [0] * len(self.runs)
            grew = [max(0, n - b) for n, b in zip(self._rows(), base, strict=True)]
            new = sum(grew)
            files = sum(n > 0 for n in grew)  # only the runs that grew
            where = f" in {files} files" if files > 1 else ""
            if files == 1 and len(self.runs) > 1:
                where = f" in {self.runs[next(i for i, n in enumerate(grew) if n)].name}"
            words = f"back at {self.unit} {epoch}"
            words += f": {new} new {self.unit}{'s' * (new != 1)}{where} since, end follows"
            first.append((words, WATCH_STYLES["back"]))
        first.append((run.name, "bold"))
        run_latest = run.latest.epoch if run.latest is not None else 0
        shown = rec.epoch if rec is not None else 0
        first.append(
            (f"{unit} {shown}" if shown == run_latest else f"{unit} {shown}/{run_latest}", "")
        )
        if rec is not None:
            rates = list(rec.rates)
            if not rec.moved:
                first.append(("lr stay", ""))
            elif not rec.diverged:
                first.append((f"lr {format_rate(rec.lr, rates)}", ""))
            first.append((f"loss {format_loss(rec.loss)}", ""))
        for name, value in run.metric_at(shown if rec is not None else epoch).items():
            first.append((f"{name} {format_metric(name, value)}", ""))
        if self.metric is not None:
            first.append((f"panel: {self.metric}", ""))
        if self.smooth is not None:
            first.append((f"smoothing EMA {self.smooth:g}", ""))
        runs = []
        for i, r in enumerate(self.runs):
            word, words = r.state(now)
            text = f"{i + 1} {r.name}: {words}"
            if r.latest is not None:  # (an end record says its last epoch itself)
                text += f", {r.unit} {r.latest.epoch}" if word != "ended" else ""
                text += f", loss {format_loss(r.latest.loss)}"
            runs.append((text, WATCH_STYLES.get(word, "")))
        facts = [(f"watching {len(self.runs)} file{'s' * (len(self.runs) != 1)}", "")]
        if self.differ:
            facts.append((self.differ, ""))
        if self.monitor is not None and self.monitor.text:
            facts.append((self.monitor.text, ""))
        note = self.view.note if self.view.note_shows(epoch) else None
        status.first().show(
            WatchStatusFrame(first, runs, facts, note), max_lines=status_budget(self.size.height)
        )


def _empty() -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """A surface with no grid: the panel draws the path in its window, and no contours."""
    return np.zeros(0), np.zeros(0), np.zeros((0, 0)), []
