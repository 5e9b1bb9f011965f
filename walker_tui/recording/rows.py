"""What a tail's poll returns, in every format (:class:`Update`, :class:`Head`, :class:`Rows`;
the tails: :mod:`walker_tui.recording.follow`).

Rows come in two depths, so a recording of millions of epochs opens in seconds: every row's
epoch, winner, rate, loss, evaluations, moved and scored flags (:class:`Rows`, read without
parsing the candidates: the loss curve takes them all), and the candidates of the rows asked for
(:meth:`Rows.full`: those the app holds in full). Plain numpy; no torch, no UI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from walker_tui.recording.schema import Logs

CHUNK = 8 << 20  # bytes read at most per poll (a long file is read in pieces this size)


@dataclass
class Head:
    """A recording's head: its starting rates and options."""

    lrs: list[float]
    options: dict[str, Any]

    @property
    def k(self) -> int:
        return len(self.lrs)


@dataclass
class Rows:
    """New rows: the small columns of every one, and the candidates of any on request."""

    epoch: np.ndarray  # int64
    winner: np.ndarray  # int64
    lr: np.ndarray  # float64
    loss: np.ndarray  # float64
    moved: np.ndarray  # bool
    # indices -> (weights m x d x k float32, losses m x k float32, rates m x k float64)
    full: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]
    # bool: False where the step reused a rate and scored no candidate (schema.Row.scored);
    # None (a file before it was kept): every row scored
    scored: np.ndarray | None = None
    # int64: loss evaluations so far as counted (schema.Row.evals); 0 or None: not counted
    evals: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.scored is None:
            self.scored = np.ones(len(self.epoch), dtype=bool)
        if self.evals is None:
            self.evals = np.zeros(len(self.epoch), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.epoch)


@dataclass
class Update:
    """What a poll found (all empty: nothing new)."""

    head: Head | None = None
    rows: Rows | None = None
    logs: Logs = field(default_factory=list)
    end: dict[str, Any] | None = None
    problem: str | None = None  # one line: deleted, not a recording (following stops)
    restart: str | None = None  # truncated or replaced: start again from what is there now
    more: bool = False  # more bytes wait to be read now (a long file, read in pieces)
    done: int = 0  # bytes read so far
    size: int = 0  # bytes there are
    mtime: float = 0.0  # when the file read was last written (seconds since 1970)

    @property
    def empty(self) -> bool:
        return (
            self.head is None
            and not (self.rows is not None and len(self.rows))
            and not self.logs
            and self.end is None
            and self.problem is None
            and self.restart is None
        )
