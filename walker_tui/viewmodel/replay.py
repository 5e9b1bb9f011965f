"""``walker-tui replay FILE``: a recording (``run --record``, the app's ``w``, or a file cut short
by a kill) shown in the app, epoch by epoch, with every panel and time travel.

A :class:`ReplaySession` stands where a training :class:`~walker_tui.viewmodel.session.Session`
stands: the driver paces it, pauses it and steps it the same way, but its epochs come from the file.
The problem is rebuilt from the options the recording carries (same problem, data, seed and start),
only to draw the loss surface, the start and the minimum. A recording of ``WalkerSGD(record=...)``
(options ``problem: "recorded"``) holds each candidate as two coordinates in a plane through the
starting weights; its surface is unknown, so a :class:`RecordedProblem` stands in: the path,
curve and bars are the file's, the surface is empty. UI-free.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import torch

from walker_tui.catalog import DIRECTIONS
from walker_tui.config import Config
from walker_tui.core.problems.base import Problem
from walker_tui.core.trainers.loop import HostEpoch, Outcome, stop_outcome
from walker_tui.recording.reader import Recording
from walker_tui.viewmodel.session import Epoch, Session

RECORDED = "recorded"  # the problem a WalkerSGD recording names (walker_tui.optim)


class RecordedProblem(Problem):
    """The stand-in for a recording whose loss is not known here (a user's training loop,
    ``WalkerSGD(record=...)``): two weights (the recording's plane coordinates), starting at
    the origin, their own plane, no known minimum, and a surface that is nan everywhere."""

    name = RECORDED

    def __init__(self) -> None:
        self.device = torch.device("cpu")
        self.w0 = torch.zeros(2)
        self.seed = 0

    def losses(self, W: torch.Tensor) -> torch.Tensor:
        return torch.full((W.shape[1],), math.nan, dtype=torch.float32)

    def loss_grad(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.tensor(math.nan), torch.zeros_like(w)

    def minimum(self) -> None:
        return None

    def plane(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(2), np.eye(2)

    def surface(self, points: torch.Tensor) -> np.ndarray:
        return np.full(points.shape[1], np.nan)


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


class ReplaySession(Session):
    """A Session whose epochs are a recording's. No racers, no reseeding: what was recorded."""

    def __init__(self, recording: Recording, cfg: Config, race: bool = False) -> None:
        self.recording = recording
        self.arrays = recording.arrays()
        self.cursor = 0
        super().__init__(cfg, cfg.seed, False)
        self.min_loss = float(recording.options.get("min_loss") or self.min_loss)
        self.trainers["walker"].rates = [float(r) for r in recording.lrs]
        self._position: np.ndarray | None = None
        # metrics a script logged (WalkerSGD.log): each epoch shows the latest values so far
        self._logs = sorted(recording.logs, key=lambda item: item[0])
        self._logged = 0
        self._metrics: dict[str, float] = {}
        if recording.end is None and self.problem.notice is None:  # said at the start too
            self.problem.notice = (
                "this recording has no end record: the run was cut short (a kill) or is "
                "still being written; it plays to its last whole epoch"
            )

    def _build_problem(self) -> Problem:
        if self.cfg.problem == RECORDED:  # a training loop's recording: no surface to rebuild
            return RecordedProblem()
        if ":" in self.cfg.problem:  # a user's model: its file may not be here (or changed)
            from walker_tui.core.problems.user_model import UserProblemError

            try:
                return super()._build_problem()
            except UserProblemError:  # the records are plane coordinates all the same
                return RecordedProblem()
        return super()._build_problem()

    def set_race(self, on: bool) -> bool:
        self.race = False  # a recording holds the walker alone
        return False

    @property
    def total(self) -> int:
        return len(self.arrays["epoch"])

    def advance(self, count: int) -> list[Epoch]:
        epochs: list[Epoch] = []
        a = self.arrays
        k = len(self.recording.lrs)
        while count > 0 and self.cursor < self.total:
            i = self.cursor
            weights = a["weights"][i]
            losses = a["losses"][i]
            winner = int(a["winner"][i])
            moved = bool(a["moved"][i])
            loss = float(a["loss"][i]) if "loss" in a else float(losses[winner])
            lr = float(a["lr"][i]) if "lr" in a else float(a["rates"][i][winner])
            if moved or self._position is None:
                self._position = np.asarray(weights[:, winner], dtype=np.float64)
            epoch = int(a["epoch"][i])
            while self._logged < len(self._logs) and self._logs[self._logged][0] <= epoch:
                self._metrics.update(self._logs[self._logged][1])
                self._logged += 1
            rec = HostEpoch(
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
                evals=epoch * k,
                metrics=dict(self._metrics) if self._metrics else None,
            )
            epochs.append({"walker": rec})
            self.cursor += 1
            count -= 1
            outcome = stop_outcome(rec, self.min_loss, self.cfg.epochs)
            if outcome is None and self.cursor >= self.total:
                outcome = Outcome("stopped", epoch, loss)  # the file ends (a killed run)
            if outcome is not None:
                self.outcomes["walker"] = outcome
                self.cursor = self.total
                break
        return epochs
