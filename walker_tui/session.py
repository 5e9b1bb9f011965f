"""A training session: the walker and its racing steppers stepped in lockstep from one w0.

Pure engine code (no UI): the app's worker thread drives it, the tests drive it directly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .config import Config
from .engine import (
    HostEpoch,
    Outcome,
    Walker,
    advance,
    device_name,
    evals_per_epoch,
    host_batch,
    make_racer,
    make_walker,
    resolve_device,
)
from .grids import racer_label
from .precision import host64
from .problems import Problem, make_problem
from .surface import Window, contour_levels, contour_points, fit_window, grow, loss_grid, to_plane


@dataclass
class SurfaceData:
    """A loss grid over a window, ready to draw."""

    window: Window
    xs: np.ndarray
    ys: np.ndarray
    z: np.ndarray
    contours: list[tuple[np.ndarray, np.ndarray]]


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


def build_problem(cfg: Config, seed: int, device: torch.device) -> Problem:
    """The problem a config asks for, with this seed, on this device."""
    return make_problem(cfg.problem, cfg.n, seed, device, kappa=cfg.kappa, data=cfg.table())


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


@dataclass
class Session:
    """Everything one seed's run needs: problem, trainers, their outcomes and the surface."""

    cfg: Config
    seed: int
    race: bool = False
    trainers: dict[str, Walker] = field(default_factory=dict)
    outcomes: dict[str, Outcome | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.device = resolve_device(self.cfg.device)
        self.device_name = device_name(self.device)
        self.problem = build_problem(self.cfg, self.seed, self.device)
        self.w0 = w0 = start_weights(self.cfg, self.problem)
        self.min_loss = resolve_target(self.cfg, self.problem)
        self.trainers["walker"] = make_walker(self.problem, self.cfg, w0)
        if self.race:
            for item in self.cfg.race:
                name, lr = ("stepper", item) if isinstance(item, (int, float)) else item
                self.trainers[racer_label(name, lr)] = make_racer(name, self.problem, lr, w0)
        self.outcomes = {name: None for name in self.trainers}
        self.seconds: dict[str, float] = {}
        best = self.problem.minimum()
        self.origin, self.basis = self.problem.plane()
        self.proj = np.linalg.pinv(self.basis)  # weights -> plane coordinates
        self.start = self.to_plane(host64(self.w0).numpy())
        self.minimum = None if best is None else self.to_plane(best.numpy())
        self.surface: SurfaceData | None = None

    def to_plane(self, w: np.ndarray) -> np.ndarray:
        """Plane coordinates (2, or 2 x k) of weights (d, or d x k)."""
        return to_plane(w, self.origin, self.proj)

    @property
    def finished(self) -> bool:
        return all(o is not None for o in self.outcomes.values())

    @property
    def batch(self) -> int:
        """Epochs per host transfer at full pace (see engine.host_batch)."""
        return host_batch(self.device)

    def step(self) -> dict[str, HostEpoch]:
        """One epoch of every trainer still running; records their outcomes when they stop."""
        frames = self.advance(1)
        return frames[0] if frames else {}

    def advance(self, count: int) -> list[dict[str, HostEpoch]]:
        """Up to ``count`` epochs of every trainer still running, in lockstep, with one host
        transfer per trainer; one frame (trainer name -> record) per epoch."""
        per: dict[str, list[HostEpoch]] = {}
        for name, trainer in self.trainers.items():
            if self.outcomes[name] is not None:
                continue
            t0 = time.perf_counter()
            per[name], self.outcomes[name] = advance(
                trainer, count, self.min_loss, self.cfg.epochs
            )
            spent = (time.perf_counter() - t0) / max(1, len(per[name]))
            for rec in per[name]:  # what a fair race counts: evaluations and wall time
                self.seconds[name] = self.seconds.get(name, 0.0) + spent
                rec.seconds = self.seconds[name]
                rec.evals = rec.epoch * evals_per_epoch(trainer)
        longest = max((len(r) for r in per.values()), default=0)
        return [{n: r[i] for n, r in per.items() if i < len(r)} for i in range(longest)]

    def update_surface(self, xs: np.ndarray, ys: np.ndarray) -> SurfaceData | None:
        """Compute the grid for a window holding w0, the minimum and these points if the current
        window does not hold them; None when nothing changed."""
        xs = np.asarray(xs, dtype=float)
        ys = np.asarray(ys, dtype=float)
        ok = np.isfinite(xs) & np.isfinite(ys)
        xs, ys = xs[ok], ys[ok]
        if self.surface is None:
            fixed = [self.start] + ([] if self.minimum is None else [self.minimum])
            window = fit_window(
                np.concatenate([[p[0] for p in fixed], xs]),
                np.concatenate([[p[1] for p in fixed], ys]),
            )
        elif self.surface.window.contains(xs, ys):
            return None
        else:
            window = grow(self.surface.window, xs, ys)
        gx, gy, z = loss_grid(self.problem, window, plane=(self.origin, self.basis))
        contours = contour_points(gx, gy, z, contour_levels(z))
        self.surface = SurfaceData(window, gx, gy, z, contours)
        return self.surface
