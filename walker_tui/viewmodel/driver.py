"""The training loop the app runs, without the app: pacing, paused steps, racers catching up,
coalescing epochs into events, the epochs-per-second figure, surface requests and cancellation.

Attributes down, events up: the UI sets what it wants on a :class:`Control` (pause, steps, pace,
race) and the driver reads it; the driver hands plain events (dataclasses of floats, numpy
arrays and records, never tensors) to a callback, which the app turns into Textual messages.
No Textual here: the tests drive it on a thread of their own.

The loop runs on a daemon thread, not a Textual thread worker: asyncio joins its executor's
threads at exit, and one epoch at n = 10^7 takes seconds, so ``q`` would wait for it. The
surface is computed on a second daemon thread (surface.Surveyor), so training never waits for a
grid either.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from walker_tui.config import Config
from walker_tui.core.surface import SurfaceData, Surveyor, Window
from walker_tui.core.trainers.loop import Outcome
from walker_tui.viewmodel.session import Epoch, Session, is_out_of_memory, memory_message

POST_INTERVAL = 0.05  # events posted at most 20 times a second, each Epochs with every epoch since
# a problem with no known minimum (a model) before its first step: the window around w0 alone
# has no scale (fit_window's floor, a window of noise), so its surface waits for that step
NO_STEP = "no step yet: the surface comes with the first step"
CATCH_UP_SECONDS = 0.05  # racers catching up take the walker's epochs in chunks of about this


class Control:
    """What the UI asks of the driver, behind a lock; ``wake`` cuts the driver's waits short."""

    def __init__(self, paused: bool, pace: float, race: bool = False) -> None:
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.paused: bool = paused
        self.steps: int = 0  # epochs asked for while paused (key n)
        self.pace: float = pace  # epochs a second; 0 = as fast as it goes
        self.race: bool = race  # racers on
        self.to_end: bool = False  # a replay: play every epoch left at once (End), then stop

    def set(
        self,
        *,
        paused: bool | None = None,
        steps: int | None = None,
        pace: float | None = None,
        race: bool | None = None,
        to_end: bool | None = None,
    ) -> None:
        """Change what is given (a misspelt name is a TypeError, not a new attribute)."""
        with self.lock:
            if paused is not None:
                self.paused = bool(paused)
            if steps is not None:
                self.steps = int(steps)
            if pace is not None:
                self.pace = float(pace)
            if race is not None:
                self.race = bool(race)
            if to_end is not None:
                self.to_end = bool(to_end)
        self.wake.set()


# --- events: what the driver tells the UI ---


@dataclass
class Started:
    """A session is built: its device, trainers, start and view."""

    device: str
    names: list[str]
    rates: list[float]
    start: tuple[float, float]
    minimum: tuple[float, float] | None
    origin: np.ndarray
    proj: np.ndarray  # weights w -> plane: proj @ (w - origin)
    target: float  # the run's --min-loss, resolved for this seed
    notice: str | None = None  # a one-line notice (a model whose candidates go one at a time)


@dataclass
class Epochs:
    """Every epoch since the last Epochs (coalesced), oldest first; each
    Epoch holds one epoch of every trainer that took it (one epoch per screen)."""

    epochs: list[Epoch]
    outcomes: dict[str, Outcome | None]
    eps: float | None  # epochs a second lately, None while paused or not yet known
    behind: list[str]  # racers still catching up with the walker


@dataclass
class Racers:
    """The race changed: these are the trainers now (racers that joined start at epoch 0)."""

    names: list[str]
    outcomes: dict[str, Outcome | None]


@dataclass
class Surface:
    """A view of the surface (see SurfaceData.note for which)."""

    surface: SurfaceData


@dataclass
class Failed:
    """Training stopped on an error: the text says what."""

    text: str


Event = Started | Epochs | Racers | Surface | Failed


def describe_error(error: BaseException, cfg: Config) -> str:
    """A one-line account of a failure; out-of-memory names the size that failed."""
    if is_out_of_memory(error):
        return memory_message(cfg, error)
    if ":" in cfg.problem:  # the user's own model: their line, not a wall of traceback
        from walker_tui.core.problems.user_model import spec_files, user_error

        return user_error(error, cfg.problem, spec_files(cfg.problem))
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}"[:200]


class Rate:
    """Epochs a second over the last few epochs: over a window of at least a second and three
    epochs at the set pace, and never fewer than the last two epochs, so a slow pace (0.5/s) or
    slow epochs (n = 10^7) read as what they are."""

    def __init__(self) -> None:
        self.stamps: deque[tuple[float, int]] = deque(maxlen=4096)  # (time, epochs then)

    def add(self, when: float, epochs: int) -> None:
        total = self.stamps[-1][1] + epochs if self.stamps else epochs
        self.stamps.append((when, total))

    def clear(self) -> None:
        self.stamps.clear()

    def value(self, now: float, pace: float) -> float | None:
        window = max(1.0, 3.0 / pace) if pace > 0 else 1.0
        while len(self.stamps) > 2 and self.stamps[0][0] < now - window:
            self.stamps.popleft()
        if len(self.stamps) < 2:
            return None
        (t0, e0), (t1, e1) = self.stamps[0], self.stamps[-1]
        return (e1 - e0) / (t1 - t0) if t1 > t0 else None


class Driver:
    """One seed's run: builds its Session, steps it as the Control says and reports events.

    ``run`` is the loop (call it on a thread of your own, or use ``start``); ``cancel`` stops it
    at its next check (within one epoch) and the surface at its next chunk; a cancelled driver
    reports nothing more.
    """

    def __init__(
        self,
        cfg: Config,
        seed: int,
        control: Control,
        emit: Callable[[Event], object],
        make_session: Callable[[Config, int, bool], Session] = Session,
    ) -> None:
        self.cfg, self.seed, self.control, self.emit = cfg, seed, control, emit
        self.make_session = make_session  # (a replay.Playback plays a recording instead)
        self.stop = threading.Event()
        self.session: Session | None = None
        self.surveyor: Surveyor | None = None
        self.rate = Rate()
        self.thread: threading.Thread | None = None
        self._chunk = 1  # catch-up epochs per call, grown to about CATCH_UP_SECONDS
        self._last_post = 0.0  # when epochs were last posted
        self._next_due = 0.0  # when the next epoch is due at the set pace
        # Training back to back, never waiting (full pace, or a pace its epochs cannot keep):
        # the painter and the surface then hold back to a share of the CPU (ui.base, Surveyor).
        self._flat_out = threading.Event()
        self._no_step = True  # no trainer has left w0 yet (see NO_STEP)

    @property
    def flat_out(self) -> bool:
        return self._flat_out.is_set()

    @flat_out.setter
    def flat_out(self, value: bool) -> None:
        if value:
            self._flat_out.set()
        else:
            self._flat_out.clear()

    # --- the UI's side ---

    def start(self) -> threading.Thread:
        """Run the loop on a daemon thread (quitting never waits for it)."""
        self.thread = threading.Thread(target=self.run, name=f"train-{self.seed}", daemon=True)
        self.thread.start()
        return self.thread

    def cancel(self) -> None:
        """Stop training and any surface in progress; report nothing more."""
        self.stop.set()
        if self.surveyor is not None:
            self.surveyor.close()
        self.control.wake.set()

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    @property
    def busy(self) -> bool:
        """Its training or surface thread is still running."""
        surveying = self.surveyor is not None and self.surveyor.thread is not None
        return self.alive or (surveying and self.surveyor.thread.is_alive())

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the training and surface threads to end; True if
        they have (a cancelled thread ends after the epoch or grid chunk it is in)."""
        end = time.monotonic() + timeout
        for thread in (self.thread, self.surveyor and self.surveyor.thread):
            if thread is not None:
                thread.join(max(0.0, end - time.monotonic()))
                if thread.is_alive():
                    return False
        return True

    # --- the loop ---

    def _report(self, event: Event) -> None:
        if not self.stop.is_set():  # a cancelled run posts nothing more
            self.emit(event)

    def run(self) -> None:
        pending: list[Epoch] = []
        try:
            self._loop(pending)
        except (Exception, MemoryError) as error:  # reported; the UI stays usable
            if pending:  # nothing lost: the epochs before the fault
                self._post(pending, paused=True)
            self._report(Failed(describe_error(error, self.cfg)))
        finally:
            self.flat_out = False
            if self.surveyor is not None:
                self.surveyor.close()
            if self.stop.is_set():  # a reseed's old run: its data goes now, not at the next
                self.session = None  # reseed (the app keeps this driver while it is busy)

    def _loop(self, pending: list[Epoch]) -> None:
        """Build the session, then, until cancelled: follow the race key, let late racers catch
        up, or take the epochs the Control asks for; ``pending`` holds those not yet posted."""
        session = self._begin()
        if session is None:
            return
        ctl = self.control
        self._watch_window([])
        self._last_post = self._next_due = time.monotonic()
        while not self.stop.is_set():
            with ctl.lock:
                race = ctl.race
            if race != session.race:
                self._post(pending, paused=True)
                pending.clear()
                session.set_race(race)
                self.rate.clear()
                self._report(Racers(list(session.trainers), dict(session.outcomes)))
            elif session.behind:  # racers that joined late take the walker's epochs first
                self._catch_up(session, pending)
            else:
                self._step(session, pending)

    def _begin(self) -> Session | None:
        """The session built and announced (Started), and its surveyor; None if cancelled."""
        with self.control.lock:
            race = self.control.race
        session = self.session = self.make_session(self.cfg, self.seed, race)
        if self.stop.is_set():
            return None
        best = session.minimum
        self._report(
            Started(
                session.device_name,
                list(session.trainers),
                list(session.trainers["walker"].rates),
                (float(session.start[0]), float(session.start[1])),
                None if best is None else (float(best[0]), float(best[1])),
                session.origin,
                session.proj,
                session.min_loss,
                session.notice,
            )
        )
        if session.problem is None:  # a recording with no problem to rebuild: the path alone
            return session
        # (the surveyor's callbacks hold no reference to the driver: no cycle keeps an old
        # run's data alive until the garbage collector's next full pass)
        self.surveyor = Surveyor(
            session.problem, session.plane, _surface_reporter(self.stop, self.emit),
            self._flat_out.is_set,
        )  # fmt: skip
        if self.stop.is_set():  # (cancel may have run before the surveyor existed)
            self.surveyor.close()
            return None
        return session

    def _catch_up(self, session: Session, pending: list[Epoch]) -> None:
        """A chunk of the late racers' epochs, grown to about CATCH_UP_SECONDS a call."""
        self.flat_out = True
        t0 = time.monotonic()
        pending.extend(session.catch_up(self._chunk))
        spent = time.monotonic() - t0
        grow = CATCH_UP_SECONDS / max(spent, 1e-4)
        self._chunk = max(1, min(4096, int(self._chunk * min(grow, 4.0))))
        if not session.behind or time.monotonic() - self._last_post >= POST_INTERVAL:
            self._post(pending, paused=True)
            pending.clear()
            self._last_post = time.monotonic()

    def _step(self, session: Session, pending: list[Epoch]) -> None:
        """What the Control asks for now: wait for the pace or for a key, or take epochs."""
        ctl = self.control
        with ctl.lock:
            paused, pace = ctl.paused, ctl.pace
            if ctl.to_end:  # (as fast as it goes, paused or not)
                paused, pace = False, 0.0
            go = not session.finished and (not paused or ctl.steps > 0)
            if go and paused:
                ctl.steps -= 1
        now = time.monotonic()
        if go and not paused and pace > 0:
            if now < self._next_due:
                self._post(pending, paused)
                pending.clear()
                self.flat_out = False
                ctl.wake.wait(min(self._next_due - now, 0.1))
                ctl.wake.clear()
                return
            self._next_due = max(self._next_due, now - 0.25) + 1.0 / pace
        if not go:
            self.flat_out = False
            if pending:
                self._post(pending, paused)
                pending.clear()
            self.rate.clear()  # the next epochs start a new count
            ctl.wake.wait(0.1)
            ctl.wake.clear()
            return
        # Paused steps and paced runs go one epoch at a time; at full pace a GPU runs a
        # batch between host transfers.
        count = session.batch if (not paused and pace == 0) else 1
        self.flat_out = not paused
        epochs = session.advance(count)
        pending.extend(epochs)
        if not paused:
            self.rate.add(time.monotonic(), len(epochs))
        now = time.monotonic()
        if paused or session.finished or now - self._last_post >= POST_INTERVAL:
            self._post(pending, paused)
            pending.clear()
            self._last_post = now

    def _post(self, pending: list[Epoch], paused: bool) -> None:
        """Report the pending epochs (and ask for a wider surface if they left the window)."""
        if not pending or self.session is None:
            return
        self._watch_window(pending)
        with self.control.lock:
            pace = self.control.pace
        eps = None if paused else self.rate.value(time.monotonic(), pace)
        session = self.session
        self._report(Epochs(list(pending), dict(session.outcomes), eps, session.behind))

    def _watch_window(self, epochs: list[Epoch]) -> None:
        """Ask for the surface of a wider window when the epochs leave the window (a session
        with no problem gets a window with no surface, for its path)."""
        session = self.session
        if session is None or (self.surveyor is None and session.problem is not None):
            return
        points = [session.to_plane(rec.position) for epoch in epochs for rec in epoch.values()]
        xs = np.array([float(p[0]) for p in points])
        ys = np.array([float(p[1]) for p in points])
        window = session.window_for(xs, ys)
        if self.surveyor is not None and self._no_step:
            if not stepped(session, xs, ys):
                if window is not None:  # (w0 alone: a window with no scale, see NO_STEP)
                    self._report(Surface(path_only(window, NO_STEP)))
                return
            self._no_step = False
            window = window or session.window  # (a first step within it: its surface now)
        if window is None:
            return
        if self.surveyor is not None:
            self.surveyor.request(window)
        else:
            self._report(Surface(path_only(window)))


def path_only(window: Window, note: str = "") -> SurfaceData:
    """A window with no loss grid: the surface panel draws the path in it, and no contours."""
    return SurfaceData(window, np.zeros(0), np.zeros(0), np.zeros((0, 0)), [], note)


def stepped(session: Session, xs: np.ndarray, ys: np.ndarray) -> bool:
    """Whether the window has a scale: the problem's minimum is known, or a point (of these)
    has left w0."""
    if session.minimum is not None:
        return True
    start = np.asarray(session.start, dtype=float)
    tol = 1e-9 * (1.0 + float(np.abs(start[:2]).max()))
    moved = (np.abs(xs - start[0]) > tol) | (np.abs(ys - start[1]) > tol)
    return bool(np.any(moved & np.isfinite(xs) & np.isfinite(ys)))


def _surface_reporter(
    stop: threading.Event, emit: Callable[[Event], object]
) -> Callable[[SurfaceData], None]:
    """The surveyor's on_view: each view as a Surface event, none once the run is cancelled."""

    def report(view: SurfaceData) -> None:
        if not stop.is_set():
            emit(Surface(view))

    return report
