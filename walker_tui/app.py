"""The Textual app: panels, keys, and the training worker that drives a pure-engine Session."""

from __future__ import annotations

import sys
import threading
import time
from collections import deque

import numpy as np
from textual import events, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, Static
from textual.worker import get_current_worker

from .config import Config
from .engine import HostEpoch
from .help import HelpScreen
from .history import History
from .messages import Failed, Frames, Started, Surface
from .numbers import describe_outcome
from .session import Session, SurfaceData, is_out_of_memory, memory_message
from .surface import to_plane
from .widgets.candidates import CandidateBars
from .widgets.loss_curve import LossCurve
from .widgets.painter import PaintedPlot, Painter
from .widgets.status import StatusLine
from .widgets.surface_plot import SurfacePlot

PACES = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 0.0]  # 0 = as fast as it goes
MIN_SIZE = (60, 20)
FRAME_INTERVAL = 0.05  # the worker posts and the screen redraws at most 20 times a second
EDGE_EPOCHS = 5  # a winner on the grid's edge this many epochs in a row gets a warning
X_AXES = {"epoch": 0, "evaluations": 4, "seconds": 5}  # the loss curve's x: a History column


class Control:
    """What the UI asks of the worker, behind a lock; ``wake`` cuts the worker's waits short."""

    def __init__(self, paused: bool, pace: float) -> None:
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.paused = paused
        self.steps = 0
        self.pace = pace

    def set(self, **changes: object) -> None:
        with self.lock:
            for key, value in changes.items():
                setattr(self, key, value)
        self.wake.set()


def describe_error(error: BaseException, cfg: Config) -> str:
    """A one-line account of a worker failure; out-of-memory names the size that failed."""
    if is_out_of_memory(error):
        return memory_message(cfg, error)
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}"[:200]


class WalkerApp(App[int]):
    """Watch and steer the walker; every key works whatever the worker is doing."""

    CSS_PATH = "app.tcss"
    TITLE = "walker-tui"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("space", "toggle_pause", "pause"),
        Binding("n", "step", "step"),
        Binding("left", "back", "back", show=False),
        Binding("right", "forth", "forth", show=False),
        Binding("r", "reseed", "reseed"),
        Binding("s", "race", "race"),
        Binding("x", "x_axis", "x axis", show=False),  # on the help screen; the Footer is full
        Binding("plus,equals_sign", "faster", "faster", key_display="+"),
        Binding("minus", "slower", "slower", key_display="-"),
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("q", "quit_app", "quit"),
        Binding("ctrl+c", "quit_app", "quit", show=False, priority=True),
    ]

    def __init__(self, cfg: Config, start_paused: bool = False) -> None:
        super().__init__()
        self.cfg = cfg
        self.seed = cfg.seed
        self.race = False
        self.gen = 0
        pace = cfg.pace if cfg.pace in PACES else min(PACES[:-1], key=lambda p: abs(p - cfg.pace))
        self.control = Control(paused=start_paused, pace=pace)
        self.live_loops = 0  # training loops still running (each exits soon after cancel)
        self._loops_lock = threading.Lock()
        self.view_epoch: int | None = None  # None: follow the latest epoch
        self.x_axis = "epoch"  # or "evaluations" or "seconds": what the loss curve runs along
        self.edge_run = 0  # epochs in a row the walker's winner sat on its grid's edge
        self.edge_warned = False
        self._next_frame = 0.0
        self._last_redraw = 0.0
        self.painter = Painter()  # builds the plot panels off the UI thread
        self._reset_view()

    # --- layout ---

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield LossCurve(id="loss")
                yield CandidateBars(id="bars")
            yield SurfacePlot(id="surface")
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
        self.sub_title = f"{self.cfg.problem} · {len(self.cfg.lrs)} rates · {self.cfg.lrs_spec}"
        self._check_size()
        self.set_interval(FRAME_INTERVAL, self._redraw_if_dirty)
        self._start()

    def on_resize(self, event: events.Resize) -> None:
        self._check_size(event.size.width, event.size.height)
        self.dirty = True

    def _check_size(self, width: int | None = None, height: int | None = None) -> None:
        w, h = (width, height) if width is not None and height is not None else self.size
        self.screen.set_class(w < MIN_SIZE[0] or h < MIN_SIZE[1], "too-small")

    # --- state ---

    def _reset_view(self) -> None:
        self.histories: dict[str, History] = {}
        self.outcomes: dict = {}
        self.edge_run, self.edge_warned = 0, False
        self.surface: SurfaceData | None = None
        self.device = "…"
        self.rates: list[float] = list(self.cfg.lrs)
        self.eps: float | None = None
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
            return "reached" if walker is not None and walker.state == "reached" else "limit"
        if not self.histories:
            return "starting"
        return "paused" if self.control.paused else "running"

    @property
    def done(self) -> bool:
        """Every trainer of the run has stopped (target, limit or divergence)."""
        return bool(self.outcomes) and all(o is not None for o in self.outcomes.values())

    @property
    def summary(self) -> str:
        target = self.target
        parts = [
            describe_outcome(name, outcome, target)
            for name, outcome in self.outcomes.items()
            if outcome is not None
        ]
        text = " · ".join(parts)
        if self.error:
            text = f"error: {self.error} (r restarts, q quits)"
        return text

    # --- the worker ---

    def _start(self) -> None:
        self.gen += 1
        self._reset_view()
        self.control.set(steps=0)
        self._train(self.gen, self.seed, self.race)

    @work(thread=True, exclusive=True, group="train", exit_on_error=False)
    def _train(self, gen: int, seed: int, race: bool) -> None:
        cancelled = get_current_worker().cancelled_event
        ctl = self.control
        with self._loops_lock:
            self.live_loops += 1
        session: Session | None = None
        pending: list[dict] = []
        stamps: deque[float] = deque()
        try:
            session = Session(self.cfg, seed, race)
            start = session.start
            best = session.minimum
            self.post_message(
                Started(
                    gen,
                    session.device_name,
                    list(session.trainers),
                    session.trainers["walker"].rates,
                    (float(start[0]), float(start[1])),
                    None if best is None else (float(best[0]), float(best[1])),
                    session.origin,
                    session.proj,
                    session.min_loss,
                )
            )
            surface = session.update_surface(np.array([start[0]]), np.array([start[1]]))
            if surface is not None:
                self.post_message(Surface(gen, surface))
            last_post = next_due = time.monotonic()
            while not cancelled.is_set():
                with ctl.lock:
                    paused, pace = ctl.paused, ctl.pace
                    go = not session.finished and (not paused or ctl.steps > 0)
                    if go and paused:
                        ctl.steps -= 1
                now = time.monotonic()
                if go and not paused and pace > 0:
                    if now < next_due:
                        self._post_frames(gen, session, pending, stamps, paused)
                        pending = []
                        ctl.wake.wait(min(next_due - now, 0.1))
                        ctl.wake.clear()
                        continue
                    next_due = max(next_due, now - 0.25) + 1.0 / pace
                if not go:
                    if pending:
                        self._post_frames(gen, session, pending, stamps, paused)
                        pending = []
                    ctl.wake.wait(0.1)
                    ctl.wake.clear()
                    continue
                # Paused steps and paced runs go one epoch at a time; at full pace a GPU runs a
                # batch between host transfers.
                count = session.batch if (not paused and pace == 0) else 1
                for frame in session.advance(count):
                    pending.append(frame)
                    stamps.append(time.monotonic())
                now = time.monotonic()
                if paused or session.finished or now - last_post >= FRAME_INTERVAL:
                    self._post_frames(gen, session, pending, stamps, paused)
                    pending = []
                    last_post = now  # (a flush that regrows the surface may take a while)
            # a cancelled worker posts nothing more
        except (Exception, MemoryError) as error:  # shown in the app, which stays usable
            if session is not None and pending:  # nothing lost: the epochs before the fault
                self.post_message(Frames(gen, pending, dict(session.outcomes), None))
            self.post_message(Failed(gen, describe_error(error, self.cfg)))
        finally:
            with self._loops_lock:
                self.live_loops -= 1

    def _post_frames(
        self, gen: int, session: Session, pending: list[dict], stamps: deque, paused: bool
    ) -> None:
        if not pending:
            return
        xs, ys = [], []
        for frame in pending:
            for rec in frame.values():
                p = session.to_plane(rec.position)
                xs.append(float(p[0]))
                ys.append(float(p[1]))
        surface = session.update_surface(np.array(xs), np.array(ys))
        if surface is not None:
            self.post_message(Surface(gen, surface))
        now = time.monotonic()
        while stamps and stamps[0] < now - 1.0:
            stamps.popleft()
        eps = None if paused else float(len(stamps))
        self.post_message(Frames(gen, pending, dict(session.outcomes), eps))

    # --- messages from the worker ---

    def on_started(self, msg: Started) -> None:
        if msg.gen != self.gen:
            return
        self.device = msg.device
        self.rates = msg.rates
        self.origin, self.proj = msg.origin, msg.proj
        keep = 2000 if len(msg.origin) <= 16 else 200  # big weight vectors: fewer held in full
        self.histories = {name: History(keep=keep, project=self.to_plane) for name in msg.names}
        self.outcomes = {name: None for name in msg.names}
        self.start_w, self.minimum = msg.start, msg.minimum
        self.target = msg.target
        self.dirty = True

    def on_surface(self, msg: Surface) -> None:
        if msg.gen == self.gen:
            self.surface = msg.surface
            self.dirty = True

    def on_frames(self, msg: Frames) -> None:
        if msg.gen != self.gen:
            return
        for frame in msg.frames:
            for name, rec in frame.items():
                self.histories[name].add(rec)
        self.outcomes = msg.outcomes
        self.eps = msg.eps
        self._watch_edge(msg.frames)
        self.dirty = True

    def _watch_edge(self, frames: list[dict]) -> None:
        """Warn once a run when the winner keeps landing on the grid's edge: the best rate may lie
        outside the grid."""
        k = len(self.cfg.lrs)
        if self.edge_warned or self.cfg.grid == "adaptive" or k < 2:
            return
        for frame in frames:
            rec = frame.get("walker")
            if rec is None or rec.epoch < 2:
                continue
            self.edge_run = self.edge_run + 1 if rec.winner in (0, k - 1) else 0
            if self.edge_run >= EDGE_EPOCHS:
                side = "smallest" if rec.winner == 0 else "largest"
                self.notify(
                    f"the {side} rate ({rec.lr:g}) has won {EDGE_EPOCHS} epochs in a row: the "
                    f"best rate may lie outside the grid. Widen --lrs or try --grid adaptive.",
                    title="winner on the grid's edge",
                    severity="warning",
                    timeout=12,
                )
                self.edge_warned = True
                return

    def on_failed(self, msg: Failed) -> None:
        if msg.gen != self.gen:
            return
        self.error = msg.text
        self.notify(msg.text, title="training stopped", severity="error", timeout=10)
        self.dirty = True

    # --- drawing ---

    def _redraw_if_dirty(self) -> None:
        """Redraw at most every FRAME_INTERVAL, one frame at a time, and leave the training
        worker most of the CPU: a frame whose builds cost 40 ms on the painter thread waits
        80 ms more before the next. The builds never block the UI thread, so keys answer
        mid-frame."""
        now = time.monotonic()
        if not self.dirty or now < self._next_frame:
            return
        plots = self._plots()
        if any(p.pending for p in plots):  # the last frame is still being built
            return
        spent = self._last_redraw + sum(p.take_render_seconds() for p in plots)
        self.dirty = False
        self.redraw()
        self._last_redraw = time.monotonic() - now
        self._next_frame = now + max(FRAME_INTERVAL, 3.0 * spent)

    def _plots(self) -> list[PaintedPlot]:
        return list(self.query(PaintedPlot))

    @property
    def settled(self) -> bool:
        """Everything the app holds is on screen: no frame waiting to be drawn or built."""
        return not self.dirty and not any(p.pending for p in self._plots())

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
                upto = hist.curve.columns(upto=epoch)
                if upto:
                    paths[name] = (upto[2], upto[3])
            marker = None
            if self.view_epoch is not None and rec is not None:
                marker = {"epoch": rec.epoch, "evaluations": rec.evals, "seconds": rec.seconds}[
                    self.x_axis
                ]
            self.query_one(LossCurve).show(series, self.target, marker, self.x_axis)
            if rec is not None and rec.epoch == 1:
                # epoch 1 is the start: every candidate is w0 with the same loss, no winner yet
                self.query_one(CandidateBars).show(list(rec.rates), rec.losses, -1, rec.epoch)
                walk, win = None, None
            elif rec is not None:
                self.query_one(CandidateBars).show(
                    list(rec.rates), rec.losses, rec.winner, rec.epoch
                )
                walk_xy = self.to_plane(rec.weights)
                walk = (walk_xy[0], walk_xy[1])
                at = self.to_plane(rec.position)  # (an adaptive walk may have stayed put)
                win = (float(at[0]), float(at[1]))
            else:
                self.query_one(CandidateBars).show(self.rates, None, -1, 0)
                walk, win = None, None
            self.query_one(SurfacePlot).show(
                self.surface, paths, walk, win, self.start_w, self.minimum, len(self.origin) > 2
            )
            self.show_status(rec)

    def show_status(self, rec: HostEpoch | None = None, look_up: bool = False) -> None:
        """The status line alone: cheap, so keys update it at once instead of at the next frame."""
        epoch = self.shown_epoch
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
            latest=self.latest_epoch,
            rate=rec.lr if rec is not None and not rec.diverged else None,
            step="start"
            if rec is not None and rec.epoch == 1
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
        )

    def to_plane(self, w: np.ndarray) -> np.ndarray:
        """Surface-plane coordinates of weights (d, or d x k)."""
        return to_plane(w, self.origin, self.proj)

    @property
    def pace_text(self) -> str:
        pace = self.control.pace
        return "max" if pace == 0 else f"{pace:g}/s"

    # --- keys ---

    def action_toggle_pause(self) -> None:
        self.control.set(paused=not self.control.paused, steps=0)
        if not self.control.paused:
            self.view_epoch = None
        self.dirty = True
        self.show_status(look_up=True)
        # let the status line reach the screen before the next (heavier) full frame
        self._next_frame = max(self._next_frame, time.monotonic() + 0.1)

    def action_step(self) -> None:
        self.view_epoch = None
        with self.control.lock:
            self.control.paused = True
            self.control.steps += 1
        self.control.wake.set()
        self.dirty = True

    def _move(self, delta: int) -> None:
        walker = self.histories.get("walker")
        if walker is None or walker.latest is None:
            return
        if not self.control.paused and self.state == "running":
            self.control.set(paused=True, steps=0)
        latest = self.latest_epoch
        target = max(walker.first_held, min(latest, self.shown_epoch + delta))
        self.view_epoch = None if target == latest else target
        self.dirty = True
        self._next_frame = 0.0

    def action_back(self) -> None:
        self._move(-1)

    def action_forth(self) -> None:
        self._move(1)

    def action_x_axis(self) -> None:
        names = list(X_AXES)
        self.x_axis = names[(names.index(self.x_axis) + 1) % len(names)]
        self.dirty = True
        self._next_frame = 0.0  # a view change shows at the next tick, not after the pacing

    def action_reseed(self) -> None:
        self.seed += 1
        self._start()

    def action_race(self) -> None:
        self.race = not self.race
        self._start()

    def _pace_step(self, delta: int) -> None:
        i = PACES.index(self.control.pace) if self.control.pace in PACES else 3
        i = max(0, min(len(PACES) - 1, i + delta))
        self.control.set(pace=PACES[i])
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
            self.push_screen(HelpScreen())

    def action_quit_app(self) -> None:
        self.workers.cancel_group(self, "train")
        self.control.wake.set()
        self.exit(0)  # (on_unmount stops the painter)

    def on_unmount(self) -> None:
        self.painter.stop()
        sys.setswitchinterval(getattr(self, "_switch_interval", sys.getswitchinterval()))


def make_app(cfg: Config, start_paused: bool = False) -> WalkerApp:
    """The one factory for the CLI and the tests."""
    return WalkerApp(cfg, start_paused=start_paused)
