"""The panels app over a source: training (mode live) or a recording played (mode replay). What
the screen shows lives in a RunView (walker_tui.viewmodel.view) the app feeds with the source's
events; the source runs on its own thread (walker_tui.viewmodel.source); each panel builds on the
painter thread. walker-tui watch stands beside it on the same base (ui/watch_app.py)."""

from __future__ import annotations

from dataclasses import replace

import walker_tui.parallel.sharded as distributed
import walker_tui.viewmodel.source as sources
from walker_tui.catalog import entry
from walker_tui.config import Config
from walker_tui.recording.ends import unit_of
from walker_tui.recording.reader import Recording
from walker_tui.ui.base import PanelApp, status_budget
from walker_tui.ui.device_monitor import app_probe
from walker_tui.ui.messages import Epochs, Failed, Racers, Started, Surface, wrap
from walker_tui.ui.widgets.candidates import CandidateBars
from walker_tui.ui.widgets.loss_curve import LossCurve
from walker_tui.ui.widgets.status import StatusLine
from walker_tui.ui.widgets.surface_plot import SurfacePlot
from walker_tui.viewmodel.driver import Control, Driver, Event
from walker_tui.viewmodel.frames import panels, status_frame, subtitle
from walker_tui.viewmodel.saved import RunRecord
from walker_tui.viewmodel.session import Session
from walker_tui.viewmodel.view import PACES, Note, RunView


class WalkerApp(PanelApp):
    """Watch and steer the walker, or play its recording; every key works whatever the source
    is doing."""

    TITLE = "walker-tui"

    def __init__(
        self, cfg: Config, start_paused: bool = False, replay: Recording | None = None
    ) -> None:
        super().__init__("live" if replay is None else "replay")
        self.cfg = cfg
        self.replay = replay  # a recording to play instead of training
        self.gen = 0  # the run on screen (a reseed starts the next)
        pace = cfg.pace if cfg.pace in PACES else min(PACES[:-1], key=lambda p: abs(p - cfg.pace))
        self.control = Control(paused=start_paused, pace=pace)
        # what a row is: a WalkerSGD recording's is a step (a batch), not an epoch
        unit = unit_of(replay.options) if replay is not None else "epoch"
        self.view = RunView(cfg, self.control, replay, unit)
        self.record = RunRecord()  # the walker's epochs, for `w`

    # --- layout ---

    def status_line(self) -> StatusLine:
        return StatusLine(id="status")

    def on_mount(self) -> None:
        self.start_panels()
        self._set_sub_title(None)
        bars = self.query_one(CandidateBars)
        bars.on_batch = bool(entry(self.cfg.problem).model and self.cfg.batch_size)
        bars.direction = self.cfg.direction
        bars.unit = self.view.unit
        self._start()
        if self.colors_note:
            self.say(self.colors_note, seconds=15)

    def device_probe(self):  # noqa: ANN201
        return app_probe(self.cfg.device)

    def training_flat_out(self) -> bool:
        return self.driver is not None and self.driver.flat_out

    def _set_sub_title(self, rates: list[float] | None) -> None:
        title = subtitle(self.view, self.size.width, rates)
        if title != self.sub_title:
            self.sub_title = title

    # --- the training driver ---

    def _start(self, resume_at: int | None = None) -> None:
        self.gen += 1
        self.view.reset()
        self.record.new_run()
        self.dirty = True
        self.control.set(steps=0)
        self._train(self.gen, self.view.seed, resume_at)

    def _train(self, gen: int, seed: int, resume_at: int | None = None) -> None:
        """Replace the run with a new one for this seed: the old source stops (its surface too)
        and posts nothing more; the new one runs on a daemon thread (viewmodel.source)."""
        if self.source is not None:
            self.source.cancel()
        self.control.set(race=self.view.race)
        post = lambda event: self._post(gen, event)  # noqa: E731
        if self.replay is not None:
            self.adopt(sources.replay(self.replay, self.cfg, self.control, post, resume_at))
            return
        make = Session
        if distributed.active():  # under torchrun: the other ranks follow (parallel.leader)
            from walker_tui.parallel.leader import LeaderSession

            make = LeaderSession
        self.adopt(sources.training(self.cfg, seed, self.control, post, make))

    def _post(self, gen: int, event: Event) -> None:
        """Called on the source's threads: post_message is thread-safe and returns at once."""
        self.post_message(wrap(gen, event))

    @property
    def driver(self) -> Driver | None:
        """The source of the run on screen (training or replay: a Driver)."""
        return self.source  # type: ignore[return-value]

    @property
    def live_loops(self) -> int:
        """Training loops still running (a cancelled one ends within an epoch)."""
        return sum(d.alive for d in self._sources)  # type: ignore[attr-defined]

    # --- messages from the driver (a reseeded run's late ones are dropped) ---

    def on_started(self, msg: Started) -> None:
        if msg.gen == self.gen:
            self.tell(self.view.started(msg.event))
            self.dirty = True

    def on_racers(self, msg: Racers) -> None:
        if msg.gen == self.gen:
            self.view.racers(msg.event)
            self.dirty = True

    def on_surface(self, msg: Surface) -> None:
        if msg.gen == self.gen:
            self.view.surface = msg.event.surface  # (its .note says which view it is)
            self.dirty = True

    def on_epochs(self, msg: Epochs) -> None:
        if msg.gen != self.gen:
            return
        for note in self.view.epochs(msg.event):
            self.tell(note)
        self.tell(self.record.add(self.gen, msg.event.epochs, self._record_options))
        self.dirty = True

    def _record_options(self) -> dict:
        view = self.view
        return {**self.cfg.options(), "seed": view.seed, "min_loss": view.target,
                "optimizer": "walker"}  # fmt: skip

    def on_failed(self, msg: Failed) -> None:
        if msg.gen == self.gen:
            self.view.error = msg.event.text  # shown in full on the status line (summary)
            self.dirty = True
            self.show_status(look_up=True)

    # --- drawing ---

    def redraw(self) -> None:
        """Hand every panel the epoch shown's frame (at most 20 times a second)."""
        frame = panels(self.view)
        self._space_word()
        with self.batch_update():
            self.query_one(LossCurve).show(frame.curve)
            self.query_one(CandidateBars).show(frame.bars)
            self.query_one(SurfacePlot).show(frame.surface)
            # shown with the panels, when their builds land
            self._status_due = (frame.rec, (frame.epoch, frame.latest))
            if self.cfg.grid == "adaptive" and frame.rec is not None:
                self._set_sub_title(list(frame.rec.rates))

    def _space_word(self) -> None:
        """A replay's footer: space pause while it plays, space play while paused or played
        out (back in a finished replay, space plays on from the epoch shown)."""
        if self.replay is None:
            return
        view = self.view
        word = "pause" if not (self.control.paused or view.done or view.error) else "play"
        chain = self._bindings.key_to_bindings.get("space", [])
        if chain and chain[0].description != word:
            self._bindings.key_to_bindings["space"] = [replace(b, description=word) for b in chain]
            self.refresh_bindings()

    def show_status(self, rec=None, look_up: bool = False, at=None) -> None:  # noqa: ANN001
        """The status line alone: cheap, so keys update it at once instead of at the next redraw.
        ``at``: (epoch, latest) of the redraw it joins, when not the view's now."""
        view = self.view
        epoch, latest = at if at is not None else (view.shown_epoch, view.latest_epoch)
        rec = view.walker_at(epoch) if look_up else rec
        frame = status_frame(view, rec, epoch, latest)
        frame.device_use = self.monitor.text if self.monitor is not None else None
        # (the loss curve keeps its rows)
        self.query_one(StatusLine).show(frame, max_lines=status_budget(self.size.height))

    # --- keys ---

    def action_toggle_pause(self) -> None:
        view = self.view
        if self.replay is not None and view.done and not view.error and view.view_epoch:
            # back in a finished replay: play on from the epoch shown, to the end again
            self.control.set(paused=False, to_end=False, steps=0)
            self._start(resume_at=view.view_epoch)
            return
        if not self.tell(view.toggle_pause()):
            self._moved(soon=0.1)  # the status line reaches the screen before the next redraw

    def action_step(self) -> None:
        if self.view.done and self.view.view_epoch is not None:  # back in a finished run: on
            self.action_forth()
        elif not self.tell(self.view.step()):
            self.dirty = True

    def action_newest(self) -> None:
        moved = self.view.newest()  # (a replay's newest epoch is its last recorded one)
        if isinstance(moved, Note):
            self.tell(moved)
        elif moved:
            self._moved()

    def action_x_axis(self) -> None:
        self.view.unsay()
        self.view.toggle_x_axis()
        self._moved()  # a view change shows at the next tick, not after the pacing

    def action_reseed(self) -> None:
        self.view.seed += 1
        self._start()

    def action_race(self) -> None:
        self.tell(self.view.toggle_race())
        self.dirty = True

    def _pace_step(self, delta: int) -> None:
        if not self.tell(self.view.pace_step(delta)):
            self._moved(soon=0.1)

    def action_faster(self) -> None:
        self._pace_step(1)

    def action_slower(self) -> None:
        self._pace_step(-1)

    @property
    def file_stem(self) -> str:
        return f"walker-tui-{self.view.file_stem}-seed{self.view.seed}"

    def action_save_record(self) -> None:
        """The walker's recording so far, never over an existing file."""
        self.tell(self.record.save(self.gen, self.file_stem, self.view.state))

    def closed(self) -> None:
        self.record.close()


def make_app(cfg: Config, start_paused: bool = False, replay: Recording | None = None) -> WalkerApp:
    """The one factory for the CLI and the tests (``replay``: play this recording instead of
    training; ``cfg`` is then the one it was made with, see walker_tui.viewmodel.replay)."""
    return WalkerApp(cfg, start_paused=start_paused, replay=replay)
