"""The one panels app, over a source: training (mode live), a recording played (replay) or
recordings followed as they grow (watch). Its mode is data (walker_tui.ui.modes.Mode): the key
table's column, the view, what the panels and the status line draw, and the source that feeds
the view. What the screen shows lives in the view (walker_tui.viewmodel.view.RunView, or
viewmodel.watch_view.WatchView for watch), fed with the source's events; the source runs on its
own threads (walker_tui.viewmodel.source); each panel builds on the painter thread."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from walker_tui.config import Config
from walker_tui.recording.reader import Recording
from walker_tui.ui.base import PanelApp
from walker_tui.ui.messages import Epochs, Failed, Fed, Racers, Started, Surface, wrap
from walker_tui.ui.modes import Mode, run_mode, watch_mode
from walker_tui.viewmodel.driver import Driver
from walker_tui.viewmodel.saved import RunRecord
from walker_tui.viewmodel.view import Note
from walker_tui.viewmodel.watch import POLL, Follower


class WalkerApp(PanelApp):
    """Watch and steer the walker, play its recording, or follow recordings; every key works
    whatever the source is doing."""

    def __init__(self, mode: Mode) -> None:
        super().__init__(mode)
        self.title = mode.title
        # the view, by its concrete type: a RunView or a WatchView (a mode's keys reach only
        # the methods its view has: the key table binds them in that mode alone)
        self.view: Any = mode.view
        self.control = mode.control
        self.gen = 0  # the run on screen (a reseed starts the next)
        self.record = RunRecord()  # the walker's epochs, for `w`

    def on_mount(self) -> None:
        self.start_panels()
        self.set_sub_title(None)
        self._start()
        if self.mode.tick:  # (watch: the runs' ages, "no new step for 45 s")
            self.set_interval(self.mode.tick, self._tick)
        if self.colors_note:
            self.say(self.colors_note, seconds=15)

    def training_flat_out(self) -> bool:
        return self.driver is not None and self.driver.flat_out

    # --- the source ---

    def _start(self, resume_at: int | None = None) -> None:
        """A new run: the old source stops (its surface too) and posts nothing more; the new one
        runs on a daemon thread (viewmodel.source)."""
        self.gen += 1
        self.view.reset()
        self.record.new_run()
        self.dirty = True
        self.control.set(steps=0)
        if self.source is not None:
            self.source.cancel()
        gen = self.gen
        self.adopt(self.mode.source(lambda event: self._post(gen, event), resume_at))

    def _post(self, gen: int, event: object) -> None:
        """Called on the source's threads: post_message is thread-safe and returns at once."""
        self.post_message(wrap(gen, event))

    @property
    def driver(self) -> Driver | None:
        """The source of the run on screen where it is a Driver (training or replay)."""
        return self.source if isinstance(self.source, Driver) else None

    @property
    def follower(self) -> Follower | None:
        """The source where it is the files' follower (watch)."""
        return self.source if isinstance(self.source, Follower) else None

    @property
    def live_loops(self) -> int:
        """Training loops still running (a cancelled one ends within an epoch)."""
        return sum(s.alive for s in self._sources if isinstance(s, Driver))

    # --- messages from the source (a replaced run's late ones are dropped) ---

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
        if self.view.on_disk() is None:  # (a replay's run is on disk already: no copy made,
            # which cost the UI thread 5 ms an epoch of mlp, 12 s for End on 2,000 epochs)
            self.tell(self.record.add(self.gen, msg.event.epochs, self._record_options))
        self.dirty = True

    def _record_options(self) -> dict:
        view = self.view
        return {**view.cfg.options(), "seed": view.seed, "min_loss": view.target,
                "optimizer": "walker"}  # fmt: skip

    def on_failed(self, msg: Failed) -> None:
        if msg.gen == self.gen:
            self.view.error = msg.event.text  # shown in full on the status line (summary)
            self.dirty = True
            self.show_status(look_up=True)

    def on_fed(self, msg: Fed) -> None:
        """What the follower read of one file."""
        try:
            taken = self.view.take(msg.event, time.monotonic())
        finally:
            if self.follower is not None:
                self.follower.taken()
        for note in taken.notes:
            self.tell(note)
        if taken.drawn:
            self.dirty = True
        if taken.shown:
            self.show_status(look_up=True)

    def _tick(self) -> None:
        if self.view.tick():  # (rows held back while a long file was being read)
            self.dirty = True
        self.show_status(look_up=True)

    # --- keys ---

    def _answer(self, answer: Note | bool | None, soon: float = 0.0) -> None:
        """What a view said to a key: a Note is said; True: the view moved (redraw now)."""
        if isinstance(answer, Note):
            self.tell(answer)
        elif answer:
            self._moved(soon)

    def action_toggle_pause(self, _tag: str = "") -> None:
        """(``_tag``: the binding's mode or still word, see ui.keys; the action ignores it)"""
        resume_at = self.view.resume_at()
        if resume_at is not None:  # back in a finished replay: play on from the epoch shown
            self.control.set(paused=False, to_end=False, steps=0)
            self._start(resume_at=resume_at)
            return
        if not self.tell(self.view.toggle_pause()):
            self._moved(soon=0.1)  # the status line reaches the screen before the next redraw

    def action_step(self, _tag: str = "") -> None:
        answer = self.view.step()
        if answer is None or answer is False:
            self.dirty = True  # (the driver steps: its epoch redraws)
        self._answer(answer)

    def action_newest(self, _tag: str = "") -> None:
        self._answer(self.view.newest())  # (a replay's newest epoch is its last recorded one)

    def action_x_axis(self) -> None:
        self.view.unsay()
        self.tell(self.view.toggle_x_axis())  # (a replay's: no training time to run along)
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

    def action_next_run(self) -> None:
        self.tell(self.view.next_run())
        self._moved()

    def action_pick_run(self, number: int) -> None:
        self.tell(self.view.pick_run(number))
        self._moved()

    def action_metric(self) -> None:
        self._answer(self.view.next_metric())

    def action_smoothing(self) -> None:
        self._answer(self.view.next_smoothing())

    def action_save_record(self) -> None:
        """The walker's recording so far, never over an existing file (watch's is on disk)."""
        if not self.tell(self.view.on_disk()):
            self.tell(self.record.save(self.gen, self.file_stem, self.view.state))

    def closed(self) -> None:
        self.record.close()


def make_app(cfg: Config, start_paused: bool = False, replay: Recording | None = None) -> WalkerApp:
    """The one factory for the CLI and the tests (``replay``: play this recording instead of
    training; ``cfg`` is then the one it was made with, see walker_tui.viewmodel.replay)."""
    return WalkerApp(run_mode(cfg, start_paused, replay))


def make_watch_app(paths: list[Path], poll: float = POLL) -> WalkerApp:
    """The app of ``walker-tui watch PATH...``: the recordings followed as they grow."""
    return WalkerApp(watch_mode(paths, poll))
