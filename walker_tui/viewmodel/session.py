"""A training session: the walker and its racers stepped in lockstep from one w0.

Pure engine code (no UI): the driver's thread runs it (viewmodel.driver), the tests drive it
directly. Racers can join a run under way: they start from the same w0 and catch up to the
walker's epoch (:meth:`Session.catch_up`), then go in lockstep; dropping them keeps the walk.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

import walker_tui.parallel.sharded as distributed
from walker_tui.config import Config
from walker_tui.core.devices import device_name, resolve_device
from walker_tui.core.grid import racer_label
from walker_tui.core.problems.base import Problem
from walker_tui.core.problems.zoo import make_problem
from walker_tui.core.ranking import host64
from walker_tui.core.surface import SurfaceData, Window, fit_window, grow, to_plane, views
from walker_tui.core.trainers.loop import HostEpoch, Outcome, Trainer, advance, host_batch
from walker_tui.core.trainers.racers import make_racer
from walker_tui.core.trainers.walker import make_walker, make_walker_racer

__all__ = ["Session", "SurfaceData", "build_problem", "resolve_target", "start_weights"]

Epoch = dict[str, HostEpoch]  # one epoch of every trainer that took it: name -> record


def is_out_of_memory(error: BaseException) -> bool:
    """CUDA's OutOfMemoryError, the CPU allocator's failure, or Python's MemoryError."""
    text = str(error).lower()
    return isinstance(error, MemoryError) or "out of memory" in text or "allocate memory" in text


def memory_message(cfg: Config, error: BaseException) -> str:
    """One line naming the size that failed: the data alone take 12 bytes a point (float32 x, y)."""
    gib = cfg.n * 12 / 2**30
    first = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
    return (
        f"out of memory at --n {cfg.n} on device {cfg.device} "
        f"(the data alone need about {gib:,.1f} GiB): {first}"
    )


def build_problem(cfg: Config, seed: int, device: torch.device, keep_full: bool = False) -> Problem:
    """The problem a config asks for, with this seed, on this device (under torchrun this
    rank's shard; ``keep_full``: with the whole problem kept on the CPU, for the surface)."""
    parallel = distributed.active()  # under torchrun: the whole problem on the CPU, then a shard
    problem = make_problem(
        cfg.problem,
        cfg.n,
        seed,
        torch.device("cpu") if parallel else device,
        kappa=cfg.kappa,
        data=cfg.table(),
        batch_size=cfg.batch_size,
    )
    if parallel:
        return distributed.Sharded(problem, device, keep_full=keep_full)
    return problem


def resolve_target(cfg: Config, problem: Problem) -> float:
    """The run's target: --min-loss (or the problem's default); where that is None, 1% above the
    problem's minimum loss (at least 1e-6 above it), the only fixed point that every seed and
    every table can reach; 0 (never stop early) where no minimum is known."""
    if cfg.min_loss is not None:
        return cfg.min_loss
    best = problem.minimum_loss()
    if best is None or not best == best:
        return 0.0
    return float(f"{max(1.01 * best, best + 1e-6):.3g}")


def start_weights(cfg: Config, problem: Problem) -> torch.Tensor:
    """--w0 if given, else the problem's own start."""
    if cfg.w0 is None:
        return problem.w0
    return torch.tensor(cfg.w0, dtype=torch.float32, device=problem.device)


REACH = 20.0  # paths further out than this many spans of start and minimum leave the window


@dataclass
class Session:
    """Everything one seed's run needs: problem, trainers, their outcomes and the surface's
    window."""

    cfg: Config
    seed: int
    race: bool = False
    trainers: dict[str, Trainer] = field(default_factory=dict)
    outcomes: dict[str, Outcome | None] = field(default_factory=dict)
    keep_full: ClassVar[bool] = False  # under torchrun: keep the whole problem (rank 0's app)

    def __post_init__(self) -> None:
        self.device = resolve_device(self.cfg.device)
        self.device_name = device_name(self.device) + distributed.ranks_note()
        self.problem = self._build_problem()
        self.w0 = w0 = start_weights(self.cfg, self.problem)
        self.min_loss = resolve_target(self.cfg, self.problem)
        self.trainers["walker"] = make_walker(self.problem, self.cfg, w0)
        self.outcomes = {"walker": None}
        self.seconds: dict[str, float] = {}
        self.set_race(self.race)
        best = self.problem.minimum()
        self.origin, self.basis = self.problem.plane()
        self.proj = np.linalg.pinv(self.basis)  # weights -> plane coordinates
        start = self.problem.view(self.w0.to(self.problem.device)[:, None])[:, 0]
        self.start = self.to_plane(host64(start).numpy())
        self.minimum = None if best is None else self.to_plane(best.numpy())
        self.window: Window | None = None
        self.surface: SurfaceData | None = None  # (update_surface's, for callers without a thread)

    def _build_problem(self) -> Problem:
        """The problem of this seed's run (a replay may stand another in)."""
        return build_problem(self.cfg, self.seed, self.device, self.keep_full)

    def to_plane(self, w: np.ndarray) -> np.ndarray:
        """Plane coordinates (2, or 2 x k) of weights (d, or d x k)."""
        return to_plane(w, self.origin, self.proj)

    @property
    def plane(self) -> tuple[np.ndarray, np.ndarray]:
        """(origin, basis) of the surface's plane in weight space."""
        return self.origin, self.basis

    # --- the race ---

    def set_race(self, on: bool) -> bool:
        """Racers on (fresh from w0 at epoch 0: :meth:`catch_up` brings them to the walker) or
        off (dropped; the walker's run goes on). True if anything changed."""
        self.race = on
        if on:
            added = False
            for name, lr in self.cfg.race:
                label = racer_label(name, lr)
                if label not in self.trainers:
                    if name.startswith("walker:"):  # a walker along its own direction
                        racer = make_walker_racer(name, self.problem, self.cfg, self.w0)
                    else:
                        racer = make_racer(name, self.problem, lr, self.w0)
                    self.trainers[label] = racer
                    self.outcomes[label] = None
                    self.seconds.pop(label, None)
                    added = True
            return added
        dropped = [name for name in self.trainers if name != "walker"]
        for name in dropped:
            del self.trainers[name], self.outcomes[name]
            self.seconds.pop(name, None)
        return bool(dropped)

    @property
    def lead(self) -> int:
        """The walker's epoch: where racers that joined late catch up to."""
        return self.trainers["walker"].epoch

    @property
    def behind(self) -> list[str]:
        """Racers still running that have not caught up with the walker yet."""
        return [
            name
            for name, t in self.trainers.items()
            if name != "walker" and self.outcomes[name] is None and t.epoch < self.lead
        ]

    def catch_up(self, count: int) -> list[Epoch]:
        """Up to ``count`` epochs of every racer that is behind, never past the walker's epoch."""
        names = self.behind
        if not names:
            return []
        gap = min(self.lead - self.trainers[name].epoch for name in names)
        return self._advance(names, min(count, gap))

    # --- stepping ---

    @property
    def finished(self) -> bool:
        return all(o is not None for o in self.outcomes.values())

    @property
    def batch(self) -> int:
        """Epochs per host transfer at full pace (see engine.host_batch)."""
        return host_batch(self.device)

    def step(self) -> Epoch:
        """One epoch of every trainer still running; records their outcomes when they stop."""
        epochs = self.advance(1)
        return epochs[0] if epochs else {}

    def advance(self, count: int) -> list[Epoch]:
        """Up to ``count`` epochs of every trainer still running and caught up, in lockstep, with
        one host transfer per trainer; one Epoch each."""
        behind = set(self.behind)
        names = [n for n, o in self.outcomes.items() if o is None and n not in behind]
        return self._advance(names, count)

    def _advance(self, names: list[str], count: int) -> list[Epoch]:
        per: dict[str, list[HostEpoch]] = {}
        for name in names:
            trainer = self.trainers[name]
            t0 = time.perf_counter()
            per[name], self.outcomes[name] = advance(trainer, count, self.min_loss, self.cfg.epochs)
            spent = (time.perf_counter() - t0) / max(1, len(per[name]))
            # what a fair race counts: wall time here, and loss evaluations (rec.evals), which
            # the trainer counted as they happened
            for rec in per[name]:
                self.seconds[name] = self.seconds.get(name, 0.0) + spent
                rec.seconds = self.seconds[name]
        longest = max((len(r) for r in per.values()), default=0)
        return [{n: r[i] for n, r in per.items() if i < len(r)} for i in range(longest)]

    # --- the surface ---

    def core_window(self) -> Window:
        """The start and the minimum, at least a unit across (a plane slice's unit is |w0|)."""
        return core_window(self.start, self.minimum)

    def window_for(self, xs: np.ndarray, ys: np.ndarray) -> Window | None:
        """A window holding w0, the minimum and these plane points, if the current window does
        not hold them (it becomes the current window); None when nothing changed."""
        window = next_window(self.window, self.start, self.minimum, xs, ys)
        if window is not None:
            self.window = window
        return window

    @property
    def notice(self) -> str | None:
        """A one-line notice for the start (a model whose candidates go one at a time)."""
        return self.problem.notice

    def update_surface(self, xs: np.ndarray, ys: np.ndarray) -> SurfaceData | None:
        """The full surface of the window :meth:`window_for` gives, computed here and now (the
        app's driver computes it on the Surveyor's thread instead); None when nothing changed."""
        window = self.window_for(xs, ys)
        if window is None:
            return None
        *_, self.surface = views(self.problem, window, self.plane)
        return self.surface


def core_window(start: np.ndarray, minimum: np.ndarray | None) -> Window:
    """The start and the minimum, at least a unit across (a plane slice's unit is |w0|)."""
    fixed = [start] + ([] if minimum is None else [minimum])
    px = np.array([float(p[0]) for p in fixed])
    py = np.array([float(p[1]) for p in fixed])
    cx, cy = (px.min() + px.max()) / 2, (py.min() + py.max()) / 2
    half = max(np.ptp(px), np.ptp(py), 1.0) / 2
    return Window(cx - half, cx + half, cy - half, cy + half)


def next_window(
    window: Window | None,
    start: np.ndarray,
    minimum: np.ndarray | None,
    xs: np.ndarray,
    ys: np.ndarray,
) -> Window | None:
    """A window holding the start, the minimum and these plane points where ``window`` does not
    hold them (None: it does)."""
    xs = np.asarray(xs, dtype=float)
    ys = np.asarray(ys, dtype=float)
    ok = np.isfinite(xs) & np.isfinite(ys)
    # The window stays on what means something: the start, the minimum and paths within
    # REACH times their span; a path that runs off further (a diverging racer) is drawn
    # leaving at the edge, not followed to 1e19.
    core = core_window(start, minimum)
    cx, cy = (core.x0 + core.x1) / 2, (core.y0 + core.y1) / 2
    half = REACH * max(core.x1 - core.x0, core.y1 - core.y0) / 2
    ok &= (np.abs(xs - cx) <= half) & (np.abs(ys - cy) <= half)
    xs, ys = xs[ok], ys[ok]
    if window is None:
        fixed = [start] + ([] if minimum is None else [minimum])
        return fit_window(
            np.concatenate([[p[0] for p in fixed], xs]),
            np.concatenate([[p[1] for p in fixed], ys]),
        )
    if window.contains(xs, ys):
        return None
    return grow(window, xs, ys)
