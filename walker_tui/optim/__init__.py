"""Walker SGD as a ``torch.optim.Optimizer``, for people's own training loops:
``from walker_tui import WalkerSGD``. Every step tries a grid of learning rates from the same
weights, keeps the best candidate and walks on from it, as the app's walker does
(walker_tui.core.trainers.walker.Walker), by the same decision (walker_tui.core.decision). The
optimizer (sgd.py) is a thin shell over plain functions on explicit state (walk.py): with a
closure (closure.py), or attached to a model so that ``step()`` needs none (attached.py,
scoring.py), at a reused rate between scorings (reuse.py); the recording is a recorder on the
step hooks (recorder.py). Pure torch and numpy: no UI imports."""

from __future__ import annotations

from walker_tui.optim.scoring import LossError
from walker_tui.optim.sgd import StepInfo, WalkerSGD

WalkerSGD.__module__ = StepInfo.__module__ = LossError.__module__ = __name__  # the public path

__all__ = ["LossError", "StepInfo", "WalkerSGD"]
