"""The Textual app: panels, keys, and the training worker that drives a pure-engine Session."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

import walker_tui.core.devices as gpu
import walker_tui.parallel.sharded as distributed
import walker_tui.ui.keys as keys
from walker_tui.catalog import entry, walker_name
from walker_tui.config import Config
from walker_tui.core.devices import DeviceMonitor, app_probe
from walker_tui.core.grid import format_rate
from walker_tui.core.surface import SurfaceData, to_plane
from walker_tui.core.trainers.loop import HostEpoch
from walker_tui.numbers import describe_outcome, epochs, format_loss, format_metric
from walker_tui.recording.ends import describe_end, end_record, unit_of
from walker_tui.recording.reader import Recording
from walker_tui.recording.writer import RecordWriter, append_end, describe_os_error
from walker_tui.run.driver import Control, Driver, Event
from walker_tui.run.history import History
from walker_tui.run.replay import ReplaySession
from walker_tui.ui.help import HelpScreen
from walker_tui.ui.messages import Failed, Frames, Racers, Started, Surface, wrap
from walker_tui.ui.widgets import Say, TravelTo, series_color, series_marker
from walker_tui.ui.widgets.candidates import CandidateBars
from walker_tui.ui.widgets.loss_curve import LossCurve
from walker_tui.ui.widgets.painter import PaintedPlot, Painter
from walker_tui.ui.widgets.status import StatusLine
from walker_tui.ui.widgets.surface_plot import SurfacePlot

PACES = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 0.0]  # 0 = as fast as it goes
MIN_SIZE = (60, 20)
FRAME_INTERVAL = 0.05  # the worker posts and the screen redraws at most 20 times a second
EDGE_EPOCHS = 5  # a winner on the grid's edge this many epochs in a row gets a warning
RISE_EPOCHS = 3  # the walker's loss rising this many epochs in a row gets a warning
STATUS_LINES_MIN = 3  # the status line's rows at the smallest terminal (60x20)
NOTE_EPOCHS = 25  # a note about an epoch shows while the epoch shown is this near it
X_AXES = {"epoch": 0, "evaluations": 4, "seconds": 5}  # the loss curve's x: a History column


class DeviceSampled(Message):
    """The device monitor has a new line for the status (posted from its thread)."""


class WalkerApp(App[int]):
    """Watch and steer the walker; every key works whatever the worker is doing."""

    CSS_PATH = "app.tcss"
    TITLE = "walker-tui"
    ENABLE_COMMAND_PALETTE = True  # ctrl+p: the app's actions and Textual's themes
    BINDINGS = keys.bindings()  # (walker_tui.ui.keys: the one table)

    def __init__(
        self, cfg: Config, start_paused: bool = False, replay: Recording | None = None
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.replay = replay  # a recording to play instead of training
        self.seed = cfg.seed
        self.race = False
        self.gen = 0
        pace = cfg.pace if cfg.pace in PACES else min(PACES[:-1], key=lambda p: abs(p - cfg.pace))
        self.control = Control(paused=start_paused, pace=pace)
        self.driver: Driver | None = None  # the run on screen
        self._drivers: list[Driver] = []  # every run started, until its thread has ended
        self._keep = 2000  # epochs each History holds in full (fewer for big weight vectors)
        self.view_epoch: int | None = None  # None: follow the latest epoch
        self.x_axis = "epoch"  # or "evaluations" or "seconds": what the loss curve runs along
        self.log_x = False  # the loss curve's x on a log scale (long runs)
        self.edge_run = 0  # epochs in a row the walker's winner sat on its grid's edge
        self.edge_warned = False
        self.note: tuple[str, str] | None = None  # the status line's passing note
        self.note_sticky = False
        self._record_dir: str | None = None
        self._record_failed: tuple[int, str] | None = None  # (run, why): said once a run
        self._status_due: tuple | None = None  # (record, (epoch, latest)) of the frame building
        self.note_until = 0.0
        self._next_frame = 0.0
        self._last_redraw = 0.0
        self.painter = Painter()  # builds the plot panels off the UI thread
        self.recorder: RecordWriter | None = None  # the walker's epochs, for `w`
        self._switch_interval = sys.getswitchinterval()  # (on_mount shortens it, unmount restores)
        # what a row is: a WalkerSGD recording's is a step (a batch), not an epoch
        self.unit = unit_of(replay.options) if replay is not None else "epoch"
        self.monitor: DeviceMonitor | None = None  # the device's memory (walker_tui.core.devices)
        self._reset_view()

    # --- layout ---

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield LossCurve(id="loss", painter=self.painter)
                yield CandidateBars(id="bars", painter=self.painter)
            yield SurfacePlot(id="surface", painter=self.painter)
        yield Static(
            "terminal too small: walker-tui needs at least "
            f"{MIN_SIZE[0]}x{MIN_SIZE[1]}; enlarge it or press q",
            id="too-small",
        )
        yield StatusLine(id="status")
        yield Footer()

    def on_mount(self) -> None:
        # The UI, training and painter threads share the GIL; handing it over every 1 ms instead
        # of every 5 ms lets a key's handler take its turn sooner (benchmarks/app_redraw.py).
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(0.001)
        self._set_sub_title(None)
        self._check_size()
        for plot in self._plots():  # their frames go on screen together (panels_landed)
            plot.grouped = True
        bars = self.query_one(CandidateBars)
        bars.on_batch = bool(entry(self.cfg.problem).model and self.cfg.batch_size)
        bars.direction = self.cfg.direction
        bars.unit = self.unit
        self.set_interval(FRAME_INTERVAL, self._redraw_if_dirty)
        if gpu.enabled():
            self.monitor = DeviceMonitor(self.device_probe(), self._device_sampled).start()
        self._start()

    def device_probe(self):  # noqa: ANN201
        """What the status line's device figure reads (the tests hand the app a fake one)."""
        return app_probe(self.cfg.device)

    def _device_sampled(self) -> None:
        self.post_message(DeviceSampled())  # (the monitor's thread: post_message is safe)

    def on_device_sampled(self, msg: DeviceSampled) -> None:
        self.show_status(look_up=True)

    def _set_sub_title(self, rates: list[float] | None) -> None:
        """The header: the problem, the grid, and an adaptive grid's range at the epoch shown."""
        data = f" · {Path(self.cfg.data).name}" if self.cfg.data else ""
        grid = f"{len(self.cfg.lrs)} rates · {self.cfg.lrs_spec}"
        if self.cfg.grid == "adaptive":
            now = sorted(r for r in (rates or []) if r > 0)
            grid = f"{len(self.cfg.lrs)} rates · adaptive grid from {self.cfg.lrs_spec}"
            if now:
                grid += f", now {format_rate(now[0], now)}-{format_rate(now[-1], now)}"
        # along another direction than the gradient: the walker's name says which
        along = "" if self.cfg.direction == "sgd" else f" · {walker_name(self.cfg.direction)}"
        title = f"{self.cfg.problem}{data}{along} · {grid}"
        if self.cfg.grid == "adaptive" and len(title) > self.size.width - 30:
            # narrow: the grid's range now matters more than where it started
            now = sorted(r for r in (rates or []) if r > 0)
            span = f" {format_rate(now[0], now)}-{format_rate(now[-1], now)}" if now else ""
            title = f"{self.cfg.problem}{along} · adaptive grid{span}"
        title = f"replay · {title}" if self.replay is not None else title
        if title != self.sub_title:
            self.sub_title = title

    def on_resize(self, event: events.Resize) -> None:
        self._check_size(event.size.width, event.size.height)
        self.dirty = True

    def _check_size(self, width: int | None = None, height: int | None = None) -> None:
        w, h = (width, height) if width is not None and height is not None else self.size
        self.screen.set_class(w < MIN_SIZE[0] or h < MIN_SIZE[1], "too-small")
        for footer in self.query(Footer):  # a narrow terminal: the footer's keys packed closer
            footer.compact = w < 100

    # --- state ---

    def _reset_view(self) -> None:
        self.histories: dict[str, History] = {}
        self.outcomes: dict = {}
        self.edge_run, self.edge_warned, self.edge_side, self.edge_loss = 0, False, -1, np.inf
        # the divergence warning's: rises in a row, warned, the lowest and the last loss
        self.rises, self.rise_warned, self.low, self.rise_last = 0, False, np.inf, np.inf
        self.note, self.note_epoch = None, None  # a note belongs to its run (and its epoch)
        self.surface: SurfaceData | None = None
        if self.recorder is not None:
            self.recorder.close()
        self.recorder: RecordWriter | None = None  # the walker's epochs, for `w`
        self.device = "…"
        self.rates: list[float] = list(self.cfg.lrs)
        self.eps: float | None = None  # epochs a second lately (the driver's Rate); None: unknown
        self.behind: list[str] = []  # racers still catching up with the walker
        self.error = ""
        self.view_epoch = None
        self.target = self.cfg.min_loss if self.cfg.min_loss is not None else 0.0
        self.start_w: tuple[float, float] | None = None
        self.minimum: tuple[float, float] | None = None
        self.origin, self.proj = np.zeros(2), np.eye(2)
        self.dirty = True

    @property
    def latest_epoch(self) -> int:
        """The newest epoch of the run: in a race, of whichever trainer is still going."""
        return max((h.latest.epoch for h in self.histories.values() if h.latest), default=0)

    @property
    def shown_epoch(self) -> int:
        return self.latest_epoch if self.view_epoch is None else self.view_epoch

    @property
    def state(self) -> str:
        if self.error:
            return "error"
        walker = self.outcomes.get("walker")
        if walker is not None and walker.state == "diverged":
            return "diverged"
        if self.done:  # the walker's own ending: the target reached, or the epoch limit first
            if walker is not None and walker.state == "stopped":
                return "ended"  # a replayed recording that ends before either (a killed run)
            return "reached" if walker is not None and walker.state == "reached" else "limit"
        if not self.histories:
            return "starting"
        return "paused" if self.control.paused else "running"

    @property
    def done(self) -> bool:
        """Every trainer of the run has stopped (target, limit or divergence)."""
        return bool(self.outcomes) and all(o is not None for o in self.outcomes.values())

    @property
    def summary(self) -> list[str]:
        """Each trainer's outcome once it has one; a racer still going shows its current loss."""
        if self.error:
            return [f"error: {self.error} (r restarts, q quits)"]
        return [part for _, part in self._outcome_parts()]

    @property
    def summary_short(self) -> list[str]:
        """The outcomes for a small terminal: the walker's, the best racer's (lowest loss) and
        how many more there are."""
        if self.error:
            return self.summary
        parts = self._outcome_parts()
        if len(parts) <= 2:
            return [part for _, part in parts]

        def loss(name: str) -> float:
            latest = self.histories[name].latest if name in self.histories else None
            value = latest.loss if latest is not None else np.inf
            return value if np.isfinite(value) else np.inf

        walker = [p for n, p in parts if n == "walker"]
        racers = [(n, p) for n, p in parts if n != "walker"]
        best = min(racers, key=lambda item: loss(item[0]))[1]
        more = f"+{len(racers) - 1} more"
        # one line each, longest first: the status line takes the first that fits
        return [" · ".join([*walker, f"best racer {best}", more]),
                " · ".join([*walker, f"best {best}", more]),
                f"best racer {best} · {more}", f"best {best} · {more}",
                f"{len(racers)} racers (a wider terminal shows them)"]  # fmt: skip

    def _outcome_parts(self) -> list[tuple[str, str]]:
        target = self.target
        parts = []
        for name, outcome in self.outcomes.items():
            history = self.histories.get(name)
            latest = history.latest if history is not None else None
            if outcome is not None:
                shown = walker_name(self.cfg.direction) if name == "walker" else name
                part = describe_outcome(shown, outcome, target)
            elif name != "walker" and latest is not None:
                part = f"{name} racing: {format_loss(latest.loss, target)}"
            else:
                continue
            # a model's held-out accuracy, so a race compares what a user cares about too
            accuracy = (latest.metrics or {}).get("held-out accuracy") if latest else None
            if accuracy is not None and len(self.outcomes) > 1:
                part += f" ({format_metric('accuracy', accuracy)} held out)"
            parts.append((name, part))
        return parts

    def say(
        self,
        text: str,
        style: str = "bold yellow",
        seconds: float = 4.0,
        sticky: bool = False,
        epoch: int | None = None,
    ) -> None:
        """A note on the status line's last row for a few seconds: feedback for a key that
        changes nothing (gone at the next key that does something), or, ``sticky``, a warning
        or a saved file's name (gone when its time is up; toasts would cover the status line).
        A note goes with its run (a reseed clears it); one about ``epoch`` shows only while the
        epoch shown is within NOTE_EPOCHS of it."""
        self.note = (text, style)
        self.note_epoch = epoch
        self.note_sticky = sticky
        self.note_until = time.monotonic() + seconds
        self.set_timer(seconds + 0.05, self._expire_note)
        self.show_status(look_up=True)

    def _unsay(self) -> None:
        """A key did something: its predecessor's "nothing to do" note is no longer true."""
        if self.note is not None and not self.note_sticky:
            self.note = None

    def _expire_note(self) -> None:
        if self.note is not None and time.monotonic() >= self.note_until:
            self.note = None
            self.show_status(look_up=True)

    # --- the training driver ---

    def _start(self) -> None:
        self.gen += 1
        self._reset_view()
        self.control.set(steps=0)
        self._train(self.gen, self.seed)

    def _train(self, gen: int, seed: int) -> None:
        """Replace the run with a new one for this seed: the old driver stops (its surface too)
        and posts nothing more; the new one trains on a daemon thread (see walker_tui.run.driver)."""
        if self.driver is not None:
            self.driver.cancel()
        self.control.set(race=self.race)
        post = lambda event: self._post(gen, event)  # noqa: E731
        if self.replay is not None:
            recording = self.replay
            self.driver = Driver(
                self.cfg,
                seed,
                self.control,
                post,
                lambda cfg, _s, _r: ReplaySession(recording, cfg),
            )
        elif distributed.active():  # under torchrun: the other ranks follow (distributed.py)
            from walker_tui.parallel.leader import LeaderSession

            self.driver = Driver(self.cfg, seed, self.control, post, LeaderSession)
        else:
            self.driver = Driver(self.cfg, seed, self.control, post)
        self.driver.start()
        self._drivers = [d for d in self._drivers if d.busy] + [self.driver]

    def _post(self, gen: int, event: Event) -> None:
        """Called on the driver's threads: post_message is thread-safe and returns at once."""
        self.post_message(wrap(gen, event))

    @property
    def live_loops(self) -> int:
        """Training loops still running (a cancelled one ends within an epoch)."""
        return sum(d.alive for d in self._drivers)

    def still_busy(self, wait: float) -> bool:
        """After quitting: is a training or surface thread still inside its work ``wait`` seconds
        on? Cancelled, they end after the epoch or grid chunk they are in (an epoch at n = 10^7
        takes seconds); the caller must not tear the interpreter down under them (see cli)."""
        end = time.monotonic() + wait
        return not all(d.join(max(0.0, end - time.monotonic())) for d in self._drivers)

    # --- messages from the driver ---

    def on_started(self, msg: Started) -> None:
        if msg.gen != self.gen:
            return
        ev = msg.event
        self.device = ev.device
        self.rates = ev.rates
        self.origin, self.proj = ev.origin, ev.proj
        self._keep = 2000 if len(ev.origin) <= 16 else 200  # big weight vectors: fewer in full
        self.histories = {name: self._history() for name in ev.names}
        self.outcomes = {name: None for name in ev.names}
        self.start_w, self.minimum = ev.start, ev.minimum
        self.target = ev.target
        if ev.notice:
            self.say(ev.notice, seconds=10)
        self.dirty = True

    def _history(self) -> History:
        return History(keep=self._keep, project=self.to_plane)

    def on_racers(self, msg: Racers) -> None:
        """Racers joined (from epoch 0: their epochs up to the walker's follow in Frames) or
        left (the walker's run stays)."""
        if msg.gen != self.gen:
            return
        names = msg.event.names
        self.histories = {name: self.histories.get(name) or self._history() for name in names}
        self.outcomes = dict(msg.event.outcomes)
        self.dirty = True

    def on_surface(self, msg: Surface) -> None:
        if msg.gen == self.gen:
            self.surface = msg.event.surface  # (its .note says which view it is)
            self.dirty = True

    def on_frames(self, msg: Frames) -> None:
        if msg.gen != self.gen:
            return
        ev = msg.event
        for frame in ev.frames:
            for name, rec in frame.items():
                self.histories[name].add(rec)
        self.outcomes = ev.outcomes
        self.eps = ev.eps
        self.behind = ev.behind
        self._watch_edge(ev.frames)
        self._watch_rise(ev.frames)
        self._record(ev.frames)
        self.dirty = True

    def _watch_edge(self, frames: list[dict]) -> None:
        """Warn once a run when the winner keeps to the same edge of the grid while the loss
        still falls: the best rate may lie outside the grid. Epochs whose candidates tie (a
        converged run) or that did not lower the loss say nothing about the grid."""
        k = len(self.cfg.lrs)
        if self.cfg.grid == "adaptive" or k < 2:
            return
        for frame in frames:
            rec = frame.get("walker")
            if rec is None or rec.epoch < 2 or not rec.moved:
                continue
            if self.edge_warned:  # the warning stays true while the winner keeps to that edge
                if rec.winner == (0 if self.edge_side == 0 else k - 1) and self.note_epoch:
                    self.note_epoch = rec.epoch
                continue
            losses = np.asarray(rec.losses[:k], dtype=float)
            fell = rec.loss < self.edge_loss * (1 - 1e-6)
            spread = np.ptp(losses[np.isfinite(losses)]) if np.isfinite(losses).any() else 0.0
            tied = spread <= 1e-6 * abs(rec.loss)
            self.edge_loss = rec.loss
            side = 0 if rec.winner == 0 else k - 1 if rec.winner == k - 1 else -1
            if side < 0 or not fell or tied or (self.edge_run and side != self.edge_side):
                self.edge_run, self.edge_side = (1, side) if side >= 0 and fell else (0, -1)
                continue
            self.edge_run, self.edge_side = self.edge_run + 1, side
            if self.edge_run >= EDGE_EPOCHS:
                which = "smallest" if side == 0 else "largest"
                rate = format_rate(float(rec.rates[side]), list(rec.rates))
                self.say(
                    f"the {which} rate {rate} won epochs {rec.epoch - EDGE_EPOCHS + 1}-"
                    f"{rec.epoch} while the loss fell: the best rate may lie outside the grid "
                    "(widen --lrs or try --grid adaptive)",
                    seconds=12,
                    sticky=True,
                    epoch=rec.epoch,
                )
                self.edge_warned = True

    def _watch_rise(self, frames: list[dict]) -> None:
        """Warn once a run when the walker's loss has risen RISE_EPOCHS epochs in a row to at
        least twice its lowest: a grid of rates too large diverges, and said so only at the end.
        (An adaptive grid or --stay never lets the loss rise.)"""
        if self.rise_warned or self.cfg.grid == "adaptive" or self.cfg.stay:
            return
        for frame in frames:
            rec = frame.get("walker")
            if rec is None:
                continue
            rose = not rec.loss <= self.rise_last * (1 + 1e-6)  # (a nan or inf loss rose too)
            self.rises = self.rises + 1 if rose else 0
            self.rise_last = rec.loss
            self.low = min(self.low, rec.loss) if np.isfinite(rec.loss) else self.low
            if self.rises >= RISE_EPOCHS and not rec.loss < 2 * self.low:
                first = rec.epoch - self.rises + 1
                self.say(  # (about those epochs: true however far the loss goes on climbing)
                    f"the loss rose every epoch from {first - 1} to {rec.epoch}, to "
                    f"{format_loss(rec.loss)} (lowest {format_loss(self.low)}): the rates may be "
                    "too large: lower --lrs, add --stay, or try --grid adaptive",
                    style="bold red",
                    seconds=15,
                    sticky=True,
                )
                self.rise_warned = True
                return

    def on_failed(self, msg: Failed) -> None:
        if msg.gen != self.gen:
            return
        self.error = msg.event.text  # shown in full on the status line (summary), wrapped
        self.dirty = True
        self.show_status(look_up=True)

    # --- drawing ---

    def _redraw_if_dirty(self) -> None:
        """Redraw at most every FRAME_INTERVAL, one frame at a time, and leave the training
        worker most of the CPU: a frame whose builds cost 40 ms on the painter thread waits
        80 ms more before the next. The builds never block the UI thread, so keys answer
        mid-frame."""
        now = time.monotonic()
        plots = self._plots()
        if not plots:  # the screen is not composed yet, or is being torn down on quit
            return
        building = any(p.pending for p in plots)
        if not self.dirty or now < self._next_frame:
            return
        if building:  # the last frame is still being built
            return
        spent = self._last_redraw + sum(p.take_render_seconds() for p in plots)
        self.dirty = False
        self.redraw()
        self._last_redraw = time.monotonic() - now
        self._next_frame = now + max(FRAME_INTERVAL, 3.0 * spent)

    def on_painted_plot_landed(self, msg: PaintedPlot.Landed) -> None:
        self.panels_landed()

    def on_say(self, msg: Say) -> None:
        self.say(msg.text)

    def on_travel_to(self, msg: TravelTo) -> None:
        self.travel_to(msg.epoch)

    def panels_landed(self) -> None:
        """A panel's build is done; when the frame's last one is, all of them go on screen in one
        refresh with the frame's status line, so one screen shows one epoch (panels and status
        used to land one by one, the status first)."""
        plots = self._plots()
        if not plots or any(p.pending for p in plots):  # none: the app is quitting
            return
        with self.batch_update():
            for plot in plots:
                plot.commit()
            if self._status_due is not None:
                (rec, at), self._status_due = self._status_due, None
                self.show_status(rec, at=at)

    def _plots(self) -> list[PaintedPlot]:
        return list(self.query(PaintedPlot))

    @property
    def settled(self) -> bool:
        """Everything the app holds is on screen: no frame waiting to be drawn or built."""
        return (
            not self.dirty
            and self._status_due is None
            and not any(p.pending for p in self._plots())
        )

    def redraw(self) -> None:
        """Replot every panel from the data held on the app (at most 20 times a second)."""
        epoch = self.shown_epoch
        walker = self.histories.get("walker")
        rec = walker.at(epoch) if walker else None
        if rec is None and walker is not None and walker.latest is not None:
            rec = walker.latest if epoch > walker.latest.epoch else None  # the walker is done
        with self.batch_update():
            series = {}
            paths = {}
            column = X_AXES[self.x_axis]
            for name, hist in self.histories.items():
                cols = hist.curve.columns()
                if cols:
                    series[name] = (cols[column], cols[1])
                xs, ys = hist.path.columns(upto=None if self.view_epoch is None else epoch)
                if len(xs):
                    paths[name] = (xs, ys)
            marker = None
            if self.view_epoch is not None:
                # the epoch shown, of the trainer that reached it (a racer past the walker's end)
                there = [h.at(epoch) for h in self.histories.values()]
                shown = next((r for r in there if r is not None), rec)
                if shown is not None:
                    marker = {"epoch": epoch, "evaluations": shown.evals,
                              "seconds": shown.seconds}[self.x_axis]  # fmt: skip
            named, styles = self._named(series)  # (the walker along adam: walker:adam)
            self.query_one(LossCurve).show(
                named, self.target, marker, self.x_axis, self.log_x, unit=self.unit,
                styles=styles,
            )
            if rec is not None and rec.epoch == 1 and self.unit == "epoch":
                # epoch 1 is the start: every candidate is w0 with the same loss, no winner yet
                self.query_one(CandidateBars).show(
                    list(rec.rates), rec.losses, -1, rec.epoch, self.target
                )
                walk, win = None, None
            elif rec is not None:
                self.query_one(CandidateBars).show(
                    list(rec.rates), rec.losses, rec.winner, rec.epoch, self.target,
                    stayed=not rec.moved,
                )
                walk_xy = self.to_plane(rec.weights)
                walk = (walk_xy[0], walk_xy[1])
                at = self.to_plane(rec.position)  # (an adaptive walk may have stayed put)
                win = (float(at[0]), float(at[1]))
            else:
                self.query_one(CandidateBars).show(self.rates, None, -1, 0)
                walk, win = None, None
            self.query_one(SurfacePlot).show(
                self.surface,
                paths,
                walk,
                win,
                self.start_w,
                self.minimum,
                len(self.origin) > 2 or entry(self.cfg.problem).model,  # a plane's slice
                self._path_losses(series.get("walker")),
            )
            # shown with the panels, when their builds land
            self._status_due = (rec, (epoch, self.latest_epoch))
            if self.cfg.grid == "adaptive" and rec is not None:
                self._set_sub_title(list(rec.rates))

    def _named(self, series: dict) -> tuple[dict, dict | None]:
        """The curves as the legend names them (the walker along adam is ``walker:adam``, in
        the walker's own glyph and colour), and the styles that keeps."""
        me = walker_name(self.cfg.direction)
        if me == "walker" or "walker" not in series or me in series:
            return series, None
        named = {(me if name == "walker" else name): xy for name, xy in series.items()}
        return named, {me: (series_marker("walker", 0), series_color("walker", 0))}

    @staticmethod
    def _path_losses(series: tuple | None) -> tuple[float, float] | None:
        """The range of losses the walker's path has walked through (the surface puts most of
        its levels there)."""
        if series is None:
            return None
        ys = np.asarray(series[1], dtype=float)
        ys = ys[np.isfinite(ys) & (ys > 0)]
        return (float(ys.min()), float(ys.max())) if len(ys) else None

    def show_status(
        self,
        rec: HostEpoch | None = None,
        look_up: bool = False,
        at: tuple[int, int] | None = None,
    ) -> None:
        """The status line alone: cheap, so keys update it at once instead of at the next frame.
        ``at``: (epoch, latest) of the frame it joins, when not the app's state now."""
        epoch, latest = at if at is not None else (self.shown_epoch, self.latest_epoch)
        if look_up:
            walker = self.histories.get("walker")
            rec = walker.at(epoch) if walker else None
            if rec is None and walker is not None and walker.latest is not None:
                rec = walker.latest if epoch > walker.latest.epoch else None
        self.query_one(StatusLine).show(
            problem=self.cfg.problem,
            device=self.device,
            seed=self.seed,
            epoch=epoch,
            latest=latest,
            rate=rec.lr if rec is not None and not rec.diverged else None,
            step="start"
            if rec is not None and rec.epoch == 1 and self.unit == "epoch"
            else "stay"
            if rec is not None and not rec.moved
            else None,
            rates=list(rec.rates) if rec is not None else self.rates,
            loss=rec.loss if rec is not None else None,
            target=self.target,
            state=self.state,
            eps=self.eps if self.state == "running" else None,
            pace=self.pace_text,
            summary=self.summary,
            short=self.summary_short,
            # at most what leaves the loss curve its rows (and never fewer than 3)
            max_lines=max(STATUS_LINES_MIN, self.size.height - 16),
            note=self.note if self._note_shows(epoch) else None,
            data=Path(self.cfg.data).name if self.cfg.data else None,
            rec_epoch=rec.epoch if rec is not None else None,
            metrics=rec.metrics if rec is not None else None,
            batch=self.cfg.batch_size if entry(self.cfg.problem).model else None,
            unit=self.unit,
            device_use=self.monitor.text if self.monitor is not None else None,
            state_text=self._ended_text() if self.state == "ended" else None,
            direction=self.cfg.direction,
        )

    def _ended_text(self) -> str | None:
        """A replay that ran to the end of its file: how the recording ended (its end
        record), or that it has none."""
        if self.replay is None:
            return None
        return f"the recording ends here: {describe_end(self.replay.end, self.unit)}"

    def _note_shows(self, epoch: int) -> bool:
        if self.note is None or time.monotonic() >= self.note_until:
            return False
        return self.note_epoch is None or abs(epoch - self.note_epoch) <= NOTE_EPOCHS

    @property
    def _file_stem(self) -> str:
        """The problem's name as a file name: ``path/to/my_model.py:problem`` gives
        ``my_model-problem``, a module's ``pkg.mod:f`` gives ``pkg.mod-f``."""
        where, _, func = self.cfg.problem.rpartition(":")
        if not where:
            return self.cfg.problem
        stem = Path(where).stem if where.endswith(".py") else where
        return "".join(c if c.isalnum() or c in "._-" else "_" for c in f"{stem}-{func}")

    def to_plane(self, w: np.ndarray) -> np.ndarray:
        """Surface-plane coordinates of weights (d, or d x k)."""
        return to_plane(w, self.origin, self.proj)

    @property
    def pace_text(self) -> str:
        pace = self.control.pace
        return "max" if pace == 0 else f"{pace:g}/s"

    # --- keys ---

    def _finished_note(self) -> bool:
        """Say so when a key asks a finished run to go on; True if it was finished."""
        if self.error:
            self.say("training stopped on the error above: r restarts, q quits", style="bold red")
            return True
        if self.done:
            why = {"reached": "reached its target", "limit": "stopped at its epoch limit"}
            back = "left, page up or home go back"
            if self.view_epoch is not None:
                back = "n, right, page down or end go forth; " + back
            if self.replay is not None:
                self.say(
                    f"the recording ends at epoch {self.latest_epoch}: {back}, q quits"
                    if self.state == "ended"
                    else f"the replay has played all {epochs(self.latest_epoch)} (the run "
                    f"{why.get(self.state, self.state)}): {back}, q quits"
                )
                return True
            self.say(f"the run {why.get(self.state, self.state)}: r reseeds, s races, q quits")
            return True
        return False

    def action_toggle_pause(self) -> None:
        if self._finished_note():
            return
        self._unsay()
        self.control.set(paused=not self.control.paused, steps=0)
        if not self.control.paused:
            self.view_epoch = None
        self.dirty = True
        self.show_status(look_up=True)
        # let the status line reach the screen before the next (heavier) full frame
        self._next_frame = max(self._next_frame, time.monotonic() + 0.1)

    def action_step(self) -> None:
        if self.done and self.view_epoch is not None:  # back in a finished run: one epoch on
            self.action_forth()
            return
        if self._finished_note():
            return
        self._unsay()
        self.view_epoch = None
        with self.control.lock:
            self.control.paused = True
            self.control.steps += 1
        self.control.wake.set()
        self.dirty = True

    def _travel(self, to: float, direction: int) -> None:
        """Show the held epoch nearest ``to`` (at or before it going back, at or after it going
        forth), pausing a running walk first; say so when there is nowhere further to go."""
        held = [h for h in self.histories.values() if h.latest is not None]
        if not held:
            if direction != 0:
                self.say("no epochs yet to travel through: n steps one, space runs")
            return
        if not self.control.paused and self.state == "running":
            self.control.set(paused=True, steps=0)
        latest = self.latest_epoch
        # the history that reaches furthest: a racer that outlasts the walker has epochs of its
        # own past the walker's last (those snapped back to the newest before)
        longest = max(held, key=lambda h: h.latest.epoch)
        to = max(longest.first_held, min(latest, to))
        target = longest.nearest(to, direction) if to < latest else latest
        if target is None or target == self.shown_epoch:
            if direction == 0:  # (a click on the epoch shown)
                return
            self.say(
                "at the newest epoch: left, page up or home go back"
                if direction > 0
                else f"epoch {self.shown_epoch} is the first: right, page down or end go forth"
            )
            return
        self._unsay()
        self.view_epoch = None if target == latest else target
        self.dirty = True
        self._next_frame = 0.0

    def travel_to(self, epoch: int) -> None:
        """Show the held epoch nearest ``epoch`` (a click on the loss curve)."""
        self._travel(epoch, 0)

    def _page(self) -> int:
        """Epochs a page key moves: 10, or a twentieth of a run past 200 epochs."""
        return max(10, self.latest_epoch // 20)

    def action_back(self) -> None:
        self._travel(self.shown_epoch - 1, -1)

    def action_forth(self) -> None:
        self._travel(self.shown_epoch + 1, 1)

    def action_page_back(self) -> None:
        self._travel(self.shown_epoch - self._page(), -1)

    def action_page_forth(self) -> None:
        self._travel(self.shown_epoch + self._page(), 1)

    def action_first(self) -> None:
        self._travel(0, -1)

    def action_newest(self) -> None:
        self._travel(self.latest_epoch, 1)

    def action_log_x(self) -> None:
        self._unsay()
        self.log_x = not self.log_x
        self.dirty = True
        self._next_frame = 0.0

    def action_x_axis(self) -> None:
        self._unsay()
        names = list(X_AXES)
        self.x_axis = names[(names.index(self.x_axis) + 1) % len(names)]
        self.dirty = True
        self._next_frame = 0.0  # a view change shows at the next tick, not after the pacing

    def action_reseed(self) -> None:
        if self.replay is not None:
            self.say("a replay shows what was recorded: it has one seed (q quits)")
            return
        self.seed += 1
        self._start()

    def action_race(self) -> None:
        """Racers join the run under way (from w0, catching up to the walker's epoch) or leave
        it; the walker's run goes on either way."""
        if self.replay is not None:
            self.say("a replay holds the walker's recording alone: no racers to add")
            return
        if self.error:
            self.say("training stopped on the error above: r restarts, q quits", style="bold red")
            return
        self.race = not self.race
        self.control.set(race=self.race)
        if self.latest_epoch == 0:  # nothing on screen changes yet: say what will happen
            self.say(
                "the racers will start with the walker (s again: no racers)"
                if self.race
                else "no racers: the walker will run alone (s again: race)"
            )
        self.dirty = True

    def _pace_step(self, delta: int) -> None:
        i = PACES.index(self.control.pace) if self.control.pace in PACES else 3
        j = max(0, min(len(PACES) - 1, i + delta))
        if j == i:
            self.say(
                "already as fast as it goes" if delta > 0 else f"slowest pace: {self.pace_text}"
            )
            return
        self._unsay()
        self.control.set(pace=PACES[j])
        self.dirty = True
        self.show_status(look_up=True)
        # let the status line reach the screen before the next (heavier) full frame
        self._next_frame = max(self._next_frame, time.monotonic() + 0.1)

    def action_faster(self) -> None:
        self._pace_step(1)

    def action_slower(self) -> None:
        self._pace_step(-1)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(replay=self.replay is not None))

    def action_quit_app(self) -> None:
        if self.driver is not None:
            self.driver.cancel()  # (a daemon thread: the exit never waits for an epoch)
        self.exit(0)  # (on_unmount stops the painter)

    # --- saving: the walker's recording and a screenshot, never over an existing file ---

    def _record(self, frames: list[dict]) -> None:
        """Stream the walker's epochs to a temporary CSV recording as they arrive (bounded
        memory, whatever the run's length); ``w`` copies it out."""
        recs = [f["walker"] for f in frames if "walker" in f]
        if not recs:
            return
        if self.recorder is None:
            if self._record_failure() is not None:
                return  # (it could not start this run: said once)
            options = {
                **self.cfg.options(),
                "seed": self.seed,
                "min_loss": self.target,
                "optimizer": "walker",
            }
            try:
                if self._record_dir is None:
                    self._record_dir = tempfile.mkdtemp(prefix="walker-tui-")
                path = Path(self._record_dir) / f"run-{self.gen}.csv"
                self.recorder = RecordWriter(path, list(recs[0].rates), options, flush_every=None)
            except OSError as error:  # (a full disk where temporary files go)
                self._record_stopped(f"cannot record the run: {describe_os_error(error)}")
                return
        for rec in recs:
            self.recorder.add(rec)
        if self.recorder.failure is not None and self._record_failure() is None:
            self._record_stopped(self.recorder.failure)  # the training goes on without it

    def _record_failure(self) -> str | None:
        failed = self._record_failed
        return failed[1] if failed is not None and failed[0] == self.gen else None

    def _record_stopped(self, why: str) -> None:
        self._record_failed = (self.gen, why)
        self.say(f"{why}; training goes on", style="bold red", seconds=30, sticky=True)

    def _free_name(self, stem: str, suffix: str) -> Path:
        """``stem.suffix`` in the working folder, or ``stem-2.suffix``... if that exists."""
        folder = Path.cwd()
        for i in range(1, 10_000):
            path = folder / (f"{stem}{suffix}" if i == 1 else f"{stem}-{i}{suffix}")
            if not path.exists():
                return path
        raise FileExistsError(f"no free name for {stem}{suffix} in {folder}")

    def action_save_record(self) -> None:
        recorder = self.recorder
        if recorder is not None:
            recorder.flush()  # (never raises; sees a file another process deleted)
            if recorder.failure is not None and self._record_failure() is None:
                self._record_failed = (self.gen, recorder.failure)
        failed = self._record_failure()  # the recording stopped: w saves what it holds
        held = 0 if recorder is None else recorder.count
        if failed is not None:
            held = 0 if recorder is None or recorder.gone else (recorder.kept or 0)
            if not held:
                self.say(f"could not save the run: {failed}", style="bold red", sticky=True)
                return
        elif held == 0:
            self.say("nothing to save yet: the run has no epochs")
            return
        dest = None
        try:
            dest = self._free_name(f"walker-tui-{self._file_stem}-seed{self.seed}", ".csv")
            shutil.copyfile(recorder.path, dest)  # type: ignore[union-attr]
            # the copy's end record: how the run ended, or that it went on after the save
            state = self.state if self.state in ("reached", "limit", "diverged") else "saved"
            append_end(dest, end_record(state, held))
        except OSError as error:
            if dest is not None:
                dest.unlink(missing_ok=True)  # (a copy a full disk cut short)
            self.say(f"could not save the run: {error}", style="bold red", seconds=8, sticky=True)
            return
        note = "" if failed is None else f" ({failed})"
        self.say(
            f"saved {epochs(held)} to {dest} (walker-tui replay {dest.name}){note}",
            seconds=8,
            sticky=True,
        )

    def action_screenshot(self) -> None:
        dest = None
        try:
            dest = self._free_name(f"walker-tui-{self._file_stem}-seed{self.seed}", ".svg")
            self.save_screenshot(filename=dest.name, path=str(dest.parent))
        except OSError as error:
            if dest is not None:
                dest.unlink(missing_ok=True)  # (an SVG a full disk cut short)
            self.say(
                f"could not save the screenshot: {error}", style="bold red", seconds=8, sticky=True
            )
            return
        self.say(f"screenshot saved to {dest}", seconds=8, sticky=True)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The command palette (ctrl+p): Textual's own commands (themes, keys) and every action
        of the app, with its key."""
        for command in super().get_system_commands(screen):
            if command.title != "Quit":  # ours stops the training thread first
                yield command
        for title, key, action in keys.palette():
            yield SystemCommand(f"{title} ({key})", f"key {key}", getattr(self, f"action_{action}"))

    def on_unmount(self) -> None:
        if self.monitor is not None:
            self.monitor.stop()
        if self.driver is not None:
            self.driver.cancel()
        if self.recorder is not None:
            self.recorder.close()
        if self._record_dir is not None:
            shutil.rmtree(self._record_dir, ignore_errors=True)
        self.painter.stop()
        sys.setswitchinterval(self._switch_interval)


class ReplayApp(WalkerApp):
    """The app playing a recording: its footer names only keys that work there (r and s still
    answer, with a note that a replay has one seed and no racers)."""

    BINDINGS = keys.replay_bindings()


def make_app(cfg: Config, start_paused: bool = False, replay: Recording | None = None) -> WalkerApp:
    """The one factory for the CLI and the tests (``replay``: play this recording instead of
    training; ``cfg`` is then the one it was made with, see walker_tui.run.replay)."""
    if replay is not None:
        return ReplayApp(cfg, start_paused=start_paused, replay=replay)
    return WalkerApp(cfg, start_paused=start_paused, replay=replay)
