"""``walker-tui replay FILE``: a recording (``run --record``, the app's ``w``, or a file cut short
by a kill) shown in the app, epoch by epoch, with every panel and time travel.

A :class:`ReplaySession` stands where a training :class:`~walker_tui.session.Session` stands: the
driver paces it, pauses it and steps it the same way, but its epochs come from the file. The
problem is rebuilt from the options the recording carries (same problem, data, seed and start),
only to draw the loss surface, the start and the minimum. UI-free.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from .config import Config
from .engine import HostEpoch, Outcome, stop_outcome
from .history import Recording
from .session import Frame, Session


class ReplayError(ValueError):
    """A recording that cannot be replayed; the message names the problem."""


def load_replay(path: str | Path) -> tuple[Recording, Config]:
    """The recording at ``path`` and the config it was made with."""
    path = Path(path)
    if not path.exists():
        raise ReplayError(f"{str(path)!r} does not exist")
    try:
        recording = Recording.load(path)
    except Exception as error:  # a file that is not a recording: say what it is
        raise ReplayError(f"{str(path)!r} is not a walker-tui recording: {error}") from None
    if len(recording.rows) == 0:
        raise ReplayError(f"{str(path)!r} holds no epochs")
    if recording.options.get("optimizer", "walker") != "walker":
        raise ReplayError(
            f"{str(path)!r} records --optimizer {recording.options['optimizer']}; "
            "replay shows the walker's recordings"
        )
    names = {f.name for f in dataclasses.fields(Config)}
    options = {k: v for k, v in recording.options.items() if k in names}
    options["lrs"] = [float(r) for r in recording.lrs]
    options["device"] = "cpu"  # the surface only: the epochs come from the file
    if options.get("race"):
        options["race"] = [tuple(r) if isinstance(r, list) else r for r in options["race"]]
    try:
        cfg = Config(**options)
    except TypeError as error:
        raise ReplayError(f"{str(path)!r}: its options cannot be read: {error}") from None
    if cfg.data is not None and not Path(cfg.data).is_file():
        raise ReplayError(
            f"{str(path)!r} was trained on {cfg.data!r}, which is not here: the loss surface "
            "needs that table (put it back, or replay where it is)"
        )
    return recording, cfg


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

    def set_race(self, on: bool) -> bool:
        self.race = False  # a recording holds the walker alone
        return False

    @property
    def total(self) -> int:
        return len(self.arrays["epoch"])

    def advance(self, count: int) -> list[Frame]:
        frames: list[Frame] = []
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
            )
            frames.append({"walker": rec})
            self.cursor += 1
            count -= 1
            outcome = stop_outcome(rec, self.min_loss, self.cfg.epochs)
            if outcome is None and self.cursor >= self.total:
                outcome = Outcome("stopped", epoch, loss)  # the file ends (a killed run)
            if outcome is not None:
                self.outcomes["walker"] = outcome
                self.cursor = self.total
                break
        return frames
