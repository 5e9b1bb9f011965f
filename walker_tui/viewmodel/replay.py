"""``walker-tui replay FILE``: a recording (``run --record``, the app's ``w``, or a file cut short
by a kill) shown in the app, epoch by epoch, with every panel and time travel.

A :class:`Playback` stands where a training :class:`~walker_tui.viewmodel.session.Session`
stands under the driver, which paces, pauses and steps it the same way; its epochs are the file's
rows, handed on as they are. The problem is rebuilt from the options the recording carries (same
problem, data, seed and start) only to draw the loss surface, the start and the minimum. A
recording of ``WalkerSGD(record=...)`` (options ``problem: "recorded"``) holds each candidate as
two coordinates in a plane through the starting weights and names no problem to rebuild: it plays
with none (the plane is the file's own, the surface panel draws the path alone). UI-free.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from walker_tui.catalog import DIRECTIONS
from walker_tui.config import Config
from walker_tui.core.devices import device_name
from walker_tui.core.problems.base import Problem
from walker_tui.core.ranking import host64
from walker_tui.core.surface import Window, to_plane
from walker_tui.core.trainers.loop import HostEpoch, Outcome, host_batch, stop_outcome
from walker_tui.recording.reader import Recording
from walker_tui.recording.schema import counted_evals
from walker_tui.viewmodel.session import (
    Epoch,
    build_problem,
    next_window,
    resolve_target,
    start_weights,
)

RECORDED = "recorded"  # the problem a WalkerSGD recording names (walker_tui.optim)


class ReplayError(ValueError):
    """A recording that cannot be replayed; the message names the problem."""


def load_replay(path: str | Path) -> tuple[Recording, Config]:
    """The recording at ``path`` and the config it was made with."""
    path = Path(path)
    # a run killed before it assembled its .npz left the epochs in r.npz.part, which
    # Recording.load opens for r.npz (the replay then says the recording ends cut short)
    part = path.with_name(path.name + ".part")
    read = part if path.suffix == ".npz" and not path.exists() else path
    if not read.exists():
        raise ReplayError(f"{str(path)!r} does not exist")
    try:
        recording = Recording.load(path)
    except Exception as error:  # a file that is not a recording: say what it is
        raise ReplayError(f"{str(read)!r} is not a walker-tui recording: {error}") from None
    if len(recording.rows) == 0:
        raise ReplayError(f"{str(path)!r} holds no epochs")
    if recording.options.get("optimizer", "walker") != "walker":
        raise ReplayError(
            f"{str(path)!r} records --optimizer {recording.options['optimizer']}; "
            "replay shows the walker's recordings"
        )
    cfg = recorded_config(recording.options, recording.lrs, path)
    if cfg.data is not None and not Path(cfg.data).is_file():
        raise ReplayError(
            f"{str(path)!r} was trained on {cfg.data!r}, which is not here: the loss surface "
            "needs that table (put it back, or replay where it is)"
        )
    return recording, cfg


def recorded_config(options: dict, rates: list[float], path: str | Path) -> Config:
    """The config a recording was made with, from its options and starting rates (on the CPU:
    the problem is rebuilt for its surface and plane only)."""
    names = {f.name for f in dataclasses.fields(Config)}
    options = {k: v for k, v in options.items() if k in names}
    lrs = [float(r) for r in rates]
    if options.get("stay") and len(lrs) > 1 and lrs[-1] == 0.0:
        lrs = lrs[:-1]  # --stay's zero-rate candidate: the walker adds it back (not a grid rate)
    options["lrs"] = lrs
    options["device"] = "cpu"  # the surface only: the epochs come from the file
    if options.get("race"):
        options["race"] = [tuple(r) if isinstance(r, list) else r for r in options["race"]]
    if options.get("direction", "sgd") not in DIRECTIONS:  # (a newer walker-tui's, or edited)
        raise ReplayError(
            f"{str(path)!r}: its direction {options['direction']!r} is not one of "
            f"{', '.join(DIRECTIONS)}"
        )
    try:
        return Config(**options)
    except TypeError as error:
        raise ReplayError(f"{str(path)!r}: its options cannot be read: {error}") from None


@dataclass
class RecordedWalker:
    """The walker of a recording, as the driver asks for it: its rates (the grid it started
    with)."""

    rates: list[float]


class Playback:
    """A recording's epochs, in order, as a Session's are stepped: no racers, no reseeding, what
    was recorded; ``problem``: the one rebuilt for the surface, or None (a training loop's
    recording, or a user's model that is not here)."""

    race = False

    def __init__(
        self, recording: Recording, cfg: Config, race: bool = False, resume_at: int | None = None
    ) -> None:
        self.recording, self.cfg = recording, cfg
        self.arrays = recording.arrays()
        # loss evaluations as they happened: recorded, else k a scored row and 1 a reused one
        self.evals = counted_evals(self.arrays["evals"], self.arrays["scored"], len(recording.lrs))
        self.cursor = 0
        # played again from an epoch (space, back in a finished replay): the first advance hands
        # on every row up to it at once, then the playback goes on at its pace
        self.skip = (
            0
            if resume_at is None
            else int(np.searchsorted(self.arrays["epoch"], resume_at, side="right"))
        )
        self.problem = _rebuilt(cfg)
        self.device_name = device_name(torch.device("cpu"))
        self.batch = host_batch(torch.device("cpu"))
        self.trainers = {"walker": RecordedWalker([float(r) for r in recording.lrs])}
        self.outcomes: dict[str, Outcome | None] = {"walker": None}
        if self.problem is None:  # the file's own plane: its coordinates, from the origin
            self.origin, self.basis = np.zeros(2), np.eye(2)
            self.proj = np.eye(2)
            self.start, self.minimum = np.zeros(2), None
            target = cfg.min_loss if cfg.min_loss is not None else 0.0
        else:
            self.origin, self.basis = self.problem.plane()
            self.proj = np.linalg.pinv(self.basis)
            w0 = start_weights(cfg, self.problem)
            start = self.problem.view(w0.to(self.problem.device)[:, None])[:, 0]
            self.start = self.to_plane(host64(start).numpy())
            best = self.problem.minimum()
            self.minimum = None if best is None else self.to_plane(best.numpy())
            target = resolve_target(cfg, self.problem)
        self.min_loss = float(recording.options.get("min_loss") or target)
        self.window: Window | None = None
        self._position: np.ndarray | None = None
        # metrics a script logged (WalkerSGD.log): each epoch shows the latest values so far
        self._logs = sorted(recording.logs, key=lambda item: item[0])
        self._logged = 0
        self._metrics: dict[str, float] = {}
        self.notice = self.problem.notice if self.problem is not None else None
        if recording.end is None and self.notice is None:  # said at the start too
            self.notice = (
                "this recording has no end record: the run was cut short (a kill) or is "
                "still being written; it plays to its last whole epoch"
            )

    @property
    def plane(self) -> tuple[np.ndarray, np.ndarray]:
        return self.origin, self.basis

    def to_plane(self, w: np.ndarray) -> np.ndarray:
        return to_plane(w, self.origin, self.proj)

    def window_for(self, xs: np.ndarray, ys: np.ndarray) -> Window | None:
        """As Session.window_for: a wider window when the path leaves this one."""
        window = next_window(self.window, self.start, self.minimum, xs, ys)
        if window is not None:
            self.window = window
        return window

    @property
    def behind(self) -> list[str]:
        return []  # (no racers catch up)

    def set_race(self, on: bool) -> bool:
        return False  # a recording holds the walker alone

    def catch_up(self, count: int) -> list[Epoch]:
        return []

    @property
    def finished(self) -> bool:
        return self.outcomes["walker"] is not None

    @property
    def total(self) -> int:
        return len(self.arrays["epoch"])

    def advance(self, count: int) -> list[Epoch]:
        """Up to ``count`` of the file's next rows, as epochs; the last ends the playback."""
        epochs: list[Epoch] = []
        count += max(0, self.skip - self.cursor)  # (the rows before a resumed epoch: at once)
        while count > 0 and self.cursor < self.total:
            rec = self._row(self.cursor)
            epochs.append({"walker": rec})
            self.cursor += 1
            count -= 1
            outcome = stop_outcome(rec, self.min_loss, self.cfg.epochs)
            if outcome is None and self.cursor >= self.total:
                outcome = Outcome("stopped", rec.epoch, rec.loss)  # the file ends (a killed run)
            if outcome is not None:
                self.outcomes["walker"] = outcome
                self.cursor = self.total
                break
        return epochs

    def _row(self, i: int) -> HostEpoch:
        """Row ``i`` of the file as the walker's record of its epoch."""
        a = self.arrays
        weights, losses = a["weights"][i], a["losses"][i]
        winner, moved = int(a["winner"][i]), bool(a["moved"][i])
        loss = float(a["loss"][i]) if "loss" in a else float(losses[winner])
        lr = float(a["lr"][i]) if "lr" in a else float(a["rates"][i][winner])
        if moved or self._position is None:
            self._position = np.asarray(weights[:, winner], dtype=np.float64)
        epoch = int(a["epoch"][i])
        while self._logged < len(self._logs) and self._logs[self._logged][0] <= epoch:
            self._metrics.update(self._logs[self._logged][1])
            self._logged += 1
        return HostEpoch(
            epoch,
            weights,
            losses,
            winner,
            lr,
            loss,
            not math.isfinite(loss),
            np.asarray(a["rates"][i], dtype=np.float64),
            moved,
            self._position.copy(),
            evals=int(self.evals[i]),
            metrics=dict(self._metrics) if self._metrics else None,
            scored=bool(a["scored"][i]),  # (False: a reused rate; the bars, its last scoring's)
        )


def _rebuilt(cfg: Config) -> Problem | None:
    """The recording's problem, rebuilt on the CPU for its surface; None where there is none to
    rebuild (a training loop's recording) or its file is not here (a user's model)."""
    if cfg.problem == RECORDED:
        return None
    if ":" in cfg.problem:  # a user's model: its file may not be here (or changed)
        from walker_tui.core.problems.user_model import UserProblemError

        try:
            return build_problem(cfg, cfg.seed, torch.device("cpu"))
        except UserProblemError:  # the records are plane coordinates all the same
            return None
    return build_problem(cfg, cfg.seed, torch.device("cpu"))
