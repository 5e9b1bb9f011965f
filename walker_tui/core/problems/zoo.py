"""Building a problem by name: the built-in families (walker_tui.core.problems.base), the built-in
models and a user's own model (walker_tui.core.problems.torch_model). Its own module on top of both, so neither
imports the other back (problems used to import models lazily to make model problems)."""

from __future__ import annotations

import numpy as np
import torch

from walker_tui.catalog import MODEL_PROBLEMS, PROBLEMS
from walker_tui.core.problems.base import PROBLEM_CLASSES, Problem
from walker_tui.core.problems.torch_model import make_model_problem

__all__ = ["make_problem"]


def make_problem(
    name: str,
    n: int,
    seed: int,
    device: str | torch.device,
    kappa: float = 10.0,
    data: tuple[np.ndarray, np.ndarray] | None = None,
    batch_size: int | None = None,
) -> Problem:
    """Build the named problem on ``device`` (linear and logistic can take the user's table)."""
    if name not in PROBLEM_CLASSES and (name in MODEL_PROBLEMS or ":" in name):
        return make_model_problem(name, seed, device, batch_size)
    if name not in PROBLEM_CLASSES:
        raise ValueError(f"unknown problem {name!r}; choose from {', '.join(PROBLEMS)}")
    return PROBLEM_CLASSES[name](n=n, seed=seed, device=device, kappa=kappa, data=data)
