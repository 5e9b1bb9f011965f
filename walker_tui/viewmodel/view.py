"""What the screen shows, as plain data: the run's histories and outcomes, the state word, the
summary, time travel, the status line's note and the run's warnings. No Textual here: the app
hands each driver event and key to a view and draws what it holds, and the tests drive a view
alone (tests/unit/test_view.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from walker_tui.catalog import entry
from walker_tui.config import Config
from walker_tui.core.grid import format_rate, racer_label
from walker_tui.core.surface import SurfaceData, to_plane
from walker_tui.numbers import format_loss
from walker_tui.viewmodel import outcomes
from walker_tui.viewmodel.driver import Control, Epochs, Racers, Started
from walker_tui.viewmodel.history import History

if TYPE_CHECKING:
    from walker_tui.core.trainers.loop import HostEpoch

PACES = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 0.0]  # 0 = as fast as it goes
EDGE_EPOCHS = 5  # a winner on the grid's edge this many epochs in a row gets a warning
RISE_EPOCHS = 3  # the walker's loss rising this many epochs in a row gets a warning
NOTE_EPOCHS = 25  # a note about an epoch shows while the epoch shown is this near it
X_AXES = {"epoch": 0, "evaluations": 4, "seconds": 5}  # the loss curve's x: a History column
ENDED = {"reached": "reached its target", "limit": "stopped at its epoch limit"}  # (state: words)


@dataclass
class Note:
    """A line for the status line's last row: feedback for a key, a warning, a saved file."""

    text: str
    style: str = "bold yellow"
    seconds: float = 4.0
    sticky: bool = False  # kept past the next key that does something
    epoch: int | None = None  # about this epoch: shown only while the epoch shown is near it
    near: int = NOTE_EPOCHS  # how near (0: only at that epoch, e.g. what epoch 0 will bring)


class EpochView:
    """Histories by name, the epoch shown (None: follow the newest), travel through the held
    epochs, and the status line's note: what the app and ``watch`` share."""

    def __init__(self) -> None:
        self.histories: dict[str, History] = {}
        self.view_epoch: int | None = None
        self.note: tuple[str, str] | None = None
        self.note_epoch: int | None = None
        self.note_near = NOTE_EPOCHS
        self.note_sticky = False
        self.note_until = 0.0
        self.log_x = False  # the loss curve's x on a log scale (long runs)
        # what a travel key hears before the first epoch: a replay or watch says it is reading
        self.waiting = "no epochs yet to travel through: n steps one, space runs"

    still = False  # paused or played out (a key's still word shows in the footer)

    def reset(self) -> None:
        """A new run: RunView's forgets the old one (a follower's runs go on)."""

    def resume_at(self) -> int | None:
        return None  # the epoch space plays on from, where it does (ReplayView.resume_at)

    def on_disk(self) -> Note | None:
        """What w says where the run is a file already (None: w saves it)."""
        return None

    @property
    def latest_epoch(self) -> int:
        """The newest epoch of the run: in a race, of whichever trainer is still going."""
        return max((h.latest.epoch for h in self.histories.values() if h.latest), default=0)

    @property
    def shown_epoch(self) -> int:
        return self.latest_epoch if self.view_epoch is None else self.view_epoch

    # --- the note ---

    def set_note(self, note: Note, now: float | None = None) -> None:
        self.note = (note.text, note.style)
        self.note_epoch = note.epoch
        self.note_near = note.near
        self.note_sticky = note.sticky
        self.note_until = (time.monotonic() if now is None else now) + note.seconds

    def unsay(self) -> None:
        """A key did something: its predecessor's "nothing to do" note is no longer true."""
        if self.note is not None and not self.note_sticky:
            self.note = None

    def expire(self, now: float | None = None) -> bool:
        """Drop the note once its time is up; True if it went."""
        if self.note is not None and (time.monotonic() if now is None else now) >= self.note_until:
            self.note = None
            return True
        return False

    def note_shows(self, epoch: int, now: float | None = None) -> bool:
        if self.note is None or (time.monotonic() if now is None else now) >= self.note_until:
            return False
        return self.note_epoch is None or abs(epoch - self.note_epoch) <= self.note_near

    # --- time travel ---

    def travel(self, to: float, direction: int) -> Note | bool:
        """Show the held epoch nearest ``to`` (at or before it going back, at or after it going
        forth). True: the view moved; False: nothing to do (a click on the epoch shown); a Note:
        there is nowhere further to go."""
        held = [h for h in self.histories.values() if h.latest is not None]
        if not held:
            if direction != 0:
                return Note(self.waiting)
            return False
        latest = self.latest_epoch
        # the history that reaches furthest: a racer that outlasts the walker has epochs of its
        # own past the walker's last (those snapped back to the newest before)
        longest = max(held, key=lambda h: h.latest.epoch)
        to = max(longest.first_held, min(latest, to))
        target = longest.nearest(to, direction) if to < latest else latest
        if target is None or target == self.shown_epoch:
            if direction == 0:  # (a click on the epoch shown)
                return False
            unit = getattr(self, "unit", "epoch")  # (a WalkerSGD recording counts steps)
            unit = unit if unit in ("epoch", "step") else "epoch"
            return Note(
                f"at the newest {unit}: left, page up or home go back"
                if direction > 0
                else f"{unit} {self.shown_epoch} is the first: right, page down or end go forth"
            )
        self.unsay()
        self.view_epoch = None if target == latest else target
        return True

    def page(self) -> int:
        """Epochs a page key moves: 10, or a twentieth of a run past 200 epochs."""
        return max(10, self.latest_epoch // 20)


class RunView(EpochView):
    """One seed's run as the app shows it: fed the driver's events, asked by the keys."""

    def __init__(self, cfg: Config, control: Control, unit: str = "epoch"):
        super().__init__()
        self.cfg = cfg
        self.control = control
        self.replay: Any = None  # the Recording played instead of training (a ReplayView's)
        self.unit = unit  # what a row is: a WalkerSGD recording's is a step (a batch)
        self.seed = cfg.seed
        self.race = False  # racers on (s)
        self.x_axis = "epoch"  # or "evaluations" or "seconds": what the loss curve runs along
        self.reset()

    def reset(self) -> None:
        """A new run (a reseed): nothing of the old one stays, its note neither."""
        self.histories = {}
        self.outcomes: dict[str, Any] = {}
        self.edge_run, self.edge_warned, self.edge_side, self.edge_loss = 0, False, -1, np.inf
        self.edge_from = 0  # the epoch the edge's run of wins began
        # the divergence warning's: rises in a row, warned, the lowest and the last loss
        self.rises, self.rise_warned, self.low, self.rise_last = 0, False, np.inf, np.inf
        self.note, self.note_epoch = None, None  # a note belongs to its run (and its epoch)
        self.surface: SurfaceData | None = None
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
        self.keep = 2000  # epochs each History holds in full (fewer for big weight vectors)

    # --- what the run is ---

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
        """Each trainer's outcome once it has one; a racer still going shows its loss at the
        epoch shown (viewmodel.outcomes)."""
        if self.error:
            return [f"error: {self.error} (r restarts, q quits)"]
        return [part for _, part in outcomes.parts(self)]

    @property
    def summary_short(self) -> list[str]:
        """The outcomes for a small terminal: the walker's, the best racer's (lowest loss) and
        how many more there are, a line each, longest first."""
        return self.summary if self.error else outcomes.short(self)

    def walker_at(self, epoch: int) -> HostEpoch | None:
        """The walker's record of ``epoch``; past the walker's end (a racer goes on), its last."""
        walker = self.histories.get("walker")
        rec = walker.at(epoch) if walker else None
        if rec is None and walker is not None and walker.latest is not None:
            rec = walker.latest if epoch > walker.latest.epoch else None  # the walker is done
        return rec

    # --- the driver's events ---

    def started(self, ev: Started) -> Note | None:
        self.device = ev.device
        self.rates = ev.rates
        self.origin, self.proj = ev.origin, ev.proj
        self.keep = 2000 if len(ev.origin) <= 16 else 200  # big weight vectors: fewer in full
        self.histories = {name: self._history() for name in ev.names}
        self.outcomes = {name: None for name in ev.names}
        self.start_w, self.minimum = ev.start, ev.minimum
        self.target = ev.target
        return Note(ev.notice, seconds=10) if ev.notice else None

    def _history(self) -> History:
        return History(keep=self.keep, project=self.to_plane)

    def racers(self, ev: Racers) -> None:
        """Racers joined (from epoch 0: their epochs up to the walker's follow in Epochs) or
        left (the walker's run stays)."""
        names = ev.names
        self.histories = {name: self.histories.get(name) or self._history() for name in names}
        self.outcomes = dict(ev.outcomes)

    def epochs(self, ev: Epochs) -> list[Note]:
        """Take in the epochs since the last Epochs event; the warnings they raise, to say."""
        for epoch in ev.epochs:
            for name, rec in epoch.items():
                self.histories[name].add(rec)
        self.outcomes = ev.outcomes
        self.eps = ev.eps
        self.behind = ev.behind
        notes = [self._watch_edge(ev.epochs), self._watch_rise(ev.epochs)]
        return [n for n in notes if n is not None]

    def _watch_edge(self, epochs: list[dict]) -> Note | None:
        """Warn once a run when the winner keeps to the same edge of the grid while the loss
        still falls: the best rate may lie outside the grid. Epochs whose candidates tie (a
        converged run), that did not lower the loss, or whose step took a reused rate (it
        scored no candidate: walker_tui.core.schedule) say nothing about the grid."""
        k = len(self.cfg.lrs)
        if self.cfg.grid == "adaptive" or k < 2:
            return None
        note = None
        for epoch in epochs:
            rec = epoch.get("walker")
            if rec is None or rec.epoch < 2 or not rec.moved or not rec.scored:
                continue
            if self.edge_warned:  # the warning stays true while the winner keeps to that edge
                if rec.winner == (0 if self.edge_side == 0 else k - 1):
                    if note is not None:  # (warned in these epochs: the app says it next)
                        note.epoch = rec.epoch
                    elif self.note_epoch:
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
                self.edge_from = rec.epoch
                continue
            self.edge_run, self.edge_side = self.edge_run + 1, side
            if self.edge_run == 1:
                self.edge_from = rec.epoch
            if self.edge_run >= EDGE_EPOCHS:
                which = "smallest" if side == 0 else "largest"
                rate = format_rate(float(rec.rates[side]), list(rec.rates))
                span = f"epochs {self.edge_from}-{rec.epoch}"
                if rec.epoch - self.edge_from + 1 > self.edge_run:  # reused epochs between
                    span = f"the {self.edge_run} scored epochs of {span}"
                note = Note(
                    f"the {which} rate {rate} won {span} while the loss fell: the best rate "
                    "may lie outside the grid (widen --lrs or try --grid adaptive)",
                    seconds=12,
                    sticky=True,
                    epoch=rec.epoch,
                )
                self.edge_warned = True
        return note

    def _watch_rise(self, epochs: list[dict]) -> Note | None:
        """Warn once a run when the walker's loss has risen RISE_EPOCHS epochs in a row to at
        least twice its lowest: a grid of rates too large diverges, and said so only at the end.
        (An adaptive grid or --stay never lets the loss rise.) Not on a WalkerSGD recording
        (rows are steps): its loss is each step's batch's, which rises a few steps in a row to
        twice its lowest by the batches' noise alone, and its options are no command line's."""
        if self.rise_warned or self.cfg.grid == "adaptive" or self.cfg.stay or self.unit == "step":
            return None
        for epoch in epochs:
            rec = epoch.get("walker")
            if rec is None:
                continue
            rose = not rec.loss <= self.rise_last * (1 + 1e-6)  # (a nan or inf loss rose too)
            self.rises = self.rises + 1 if rose else 0
            self.rise_last = rec.loss
            self.low = min(self.low, rec.loss) if np.isfinite(rec.loss) else self.low
            if self.rises >= RISE_EPOCHS and not rec.loss < 2 * self.low:
                first = rec.epoch - self.rises + 1
                self.rise_warned = True
                return Note(  # (about those epochs: true however far the loss goes on climbing)
                    f"the loss rose every epoch from {first - 1} to {rec.epoch}, to "
                    f"{format_loss(rec.loss)} (lowest {format_loss(self.low)}): the rates may be "
                    "too large: lower --lrs, add --stay, or try --grid adaptive",
                    style="bold red",
                    seconds=15,
                    sticky=True,
                )
        return None

    # --- keys ---

    def travel(self, to: float, direction: int) -> Note | bool:
        """As EpochView's; a running walk with epochs to travel through pauses first."""
        held = any(h.latest is not None for h in self.histories.values())
        if held and not self.control.paused and self.state == "running":
            self.control.set(paused=True, steps=0)
        return super().travel(to, direction)

    def newest(self) -> Note | bool:
        """End: the newest epoch."""
        return self.travel(self.latest_epoch, 1)

    def finished(self) -> Note | None:
        """What a key that asks a finished run to go on hears; None while the run goes on."""
        if self.error:
            return Note("training stopped on the error above: r restarts, q quits", "bold red")
        if not self.done:
            return None
        return Note(f"the run {ENDED.get(self.state, self.state)}: r reseeds, s races, q quits")

    @property
    def still(self) -> bool:
        """Paused or played out: space's footer word in a replay is play, not pause."""
        return bool(self.control.paused or self.done or self.error)

    def toggle_pause(self) -> Note | None:
        """Space: pause or run on (following the newest epoch again); a Note if finished."""
        note = self.finished()
        if note is None:
            self.unsay()
            self.control.set(paused=not self.control.paused, steps=0)
            if not self.control.paused:
                self.view_epoch = None
        return note

    def step(self) -> Note | bool | None:
        """n: one epoch more, paused; a Note if finished. Back in a finished run: one epoch
        forth (as travel answers)."""
        if self.done and self.view_epoch is not None:
            return self.travel(self.shown_epoch + 1, 1)
        note = self.finished()
        if note is None:
            self.unsay()
            self.view_epoch = None
            with self.control.lock:
                self.control.paused = True
                self.control.steps += 1
            self.control.wake.set()
        return note

    def toggle_race(self) -> Note | None:
        """s: racers join the run under way (from w0, catching up to the walker's epoch) or
        leave it; the walker's run goes on either way (a replay's s: its note in ui.keys)."""
        if self.error:
            return Note("training stopped on the error above: r restarts, q quits", "bold red")
        self.race = not self.race
        self.control.set(race=self.race)
        if self.latest_epoch == 0:  # nothing on screen changes yet: say what will happen
            names = ", ".join(racer_label(name, rate) for name, rate in self.cfg.race)
            return Note(
                f"{names} will start with the walker (s again: no racers)"
                if self.race
                else "no racers: the walker will run alone (s again: race)",
                epoch=0,
                near=0,  # gone with the first epoch: by then it has happened
            )
        return None

    def toggle_x_axis(self, axes: tuple[str, ...] = tuple(X_AXES)) -> Note | None:
        """x: the loss curve along the next of ``axes`` (epochs, loss evaluations or training
        time)."""
        at = axes.index(self.x_axis) if self.x_axis in axes else 0
        self.x_axis = axes[(at + 1) % len(axes)]
        return None

    def pace_step(self, delta: int) -> Note | None:
        """One pace faster (delta 1) or slower (-1); a Note when there is no further."""
        i = PACES.index(self.control.pace) if self.control.pace in PACES else 3
        j = max(0, min(len(PACES) - 1, i + delta))
        if j == i:
            return Note(
                "already as fast as it goes" if delta > 0 else f"slowest pace: {self.pace_text}"
            )
        self.unsay()
        self.control.set(pace=PACES[j])
        return None

    @property
    def pace_text(self) -> str:
        pace = self.control.pace
        return "max" if pace == 0 else f"{pace:g}/s"

    # --- words and coordinates ---

    @property
    def file_stem(self) -> str:
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
    def sliced(self) -> bool:
        """The surface is a plane's slice through many weights (not the weights themselves)."""
        return len(self.origin) > 2 or entry(self.cfg.problem).model
