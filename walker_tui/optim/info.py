"""What a WalkerSGD step did (``WalkerSGD.last``), for the optimizer and the step functions."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["StepInfo"]


@dataclass
class StepInfo:
    """What the last step did (``WalkerSGD.last``)."""

    step: int  # steps taken so far, this one included (the recording's epoch number)
    rates: list[float]  # the rates tried (the grid times the groups' lr), --stay's 0 last
    losses: list[float]  # each candidate's loss on this step's batch (nan/inf as they came)
    winner: int  # index of the best candidate in ``rates``/``losses``
    lr: float  # the rate of the step taken (0.0 if the walk stayed put)
    loss: float  # the loss held after the step: losses[winner] unless it stayed put
    # False: an adaptive grid stayed put, no candidate was finite, or every rate tried was 0 (a
    # scheduler's lr 0, as a warm-up's first step: nothing moves, and the direction's state is
    # fed as torch's optimizer at lr 0 feeds it: Adam's moments, momentum's velocity)
    moved: bool = True
    diverged: bool = False  # no candidate's loss was finite (the walk stayed put)
    calls: int = 0  # closure calls this step (attached: the candidates' forward-only passes)
    coords: np.ndarray | None = field(default=None, repr=False)  # 2 x k, with record= only
    metrics: dict[str, float] = field(default_factory=dict)  # what opt.log added to this step
    line: tuple | None = field(default=None, repr=False)  # (w, u), for the recorder only
    # False: the step reused a rate (walker_tui.core.schedule) and scored no candidate; rates,
    # losses and winner are then the last scored step's, lr the rate reused (a recording's
    # weights: where the step went, recorder.py). Also False for the step WalkerSGD.flush()
    # took (attached): lr the rate taken (along adam on a fixed grid without stay the reused
    # rate, else the last winning rate, times the lr of the step() that prepared it) and loss
    # the loss held before it (no forward ran at the new weights)
    scored: bool = True
