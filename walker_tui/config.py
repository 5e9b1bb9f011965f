"""The validated options of a run, as one plain dataclass (no torch, no UI)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

DEFAULT_LRS = "0.1:1:0.1"  # the notebook's np.arange(0.1, 1, 0.1): nine rates
BENCH_LRS = "lin:0.1:1:10"  # the notebook's benchmark grid, np.linspace(0.1, 1, 10)


@dataclass
class Config:
    """Everything a run, a benchmark or the app needs to know, already checked."""

    problem: str = "linear"
    n: int = 100
    seed: int = 17
    lrs: list[float] = field(default_factory=list)
    lrs_spec: str = DEFAULT_LRS
    w0: list[float] | None = None  # None: drawn from the seed after the data, as the notebook did
    # the target: stop when the loss is below it (0: never stop early); None: 1% above the
    # problem's minimum loss (logistic, --data tables), resolved per seed by the Session
    min_loss: float | None = 0.1
    epochs: int = 100
    device: str = "auto"
    # racers: (name, rate) pairs, name one of catalog.RACER_NAMES (exact's rate is unused); a bare
    # number given here is a stepper's rate, and __post_init__ makes it ("stepper", rate)
    race: list[tuple[str, float]] = field(default_factory=lambda: [("stepper", 0.3)])
    pace: float = 4.0  # epochs per second in the app; 0 = as fast as it goes
    kappa: float = 10.0  # condition number of the quadratic problem
    stay: bool = False  # add a zero-rate candidate: the walker's loss never goes up
    grid: str = "fixed"  # or "adaptive": re-centre the log grid on the winner every epoch
    # what the walker walks along (catalog.DIRECTIONS, walker_tui.core.directions): sgd (the
    # gradient, the notebook's walker), momentum (heavy ball 0.9) or adam (Adam's step)
    direction: str = "sgd"
    data: str | None = None  # --data FILE.csv: linear or logistic regression on the user's table
    target: str | None = None  # its target column (name or 0-based number; default: the last)
    # model problems: samples per mini-batch (None: all the data, the notebook's setting); an
    # epoch is then one pass over the data, shuffled by the seed
    batch_size: int | None = None

    def table(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The user's table as (x, y) arrays, or None. Read once per file and run (data.load_table
        keeps the last tables read), however often a run reseeds or races."""
        if self.data is None:
            return None
        from walker_tui.core.data import load_table

        t = load_table(self.data, self.target, binary=self.problem == "logistic")
        return t.x, t.y

    def __post_init__(self) -> None:
        if not self.lrs:
            from walker_tui.core.grid import parse_lrs

            self.lrs = parse_lrs(self.lrs_spec)
        self.race = [
            ("stepper", float(r)) if isinstance(r, (int, float)) else (r[0], float(r[1]))
            for r in self.race
        ]

    def options(self) -> dict[str, Any]:
        """The options as plain JSON-able values, for recordings."""
        return asdict(self)
