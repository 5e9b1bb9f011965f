"""Building a problem by name: the built-in families (walker_tui.core.problems.functions,
regression, mlp), the built-in models and a user's own model (walker_tui.core.problems.torch_model).
Its own module on top of them all, so none imports another back (problems used to import models
lazily to make model problems)."""

from __future__ import annotations

import numpy as np
import torch

from walker_tui.catalog import MODEL_PROBLEMS, PROBLEMS
from walker_tui.core.problems.base import Problem
from walker_tui.core.problems.functions import Beale, Himmelblau, Quadratic, Rosenbrock
from walker_tui.core.problems.mlp import MLPProblem
from walker_tui.core.problems.regression import LinearProblem, LogisticProblem
from walker_tui.core.problems.torch_model import make_model_problem

__all__ = ["PROBLEM_CLASSES", "make_problem"]

PROBLEM_CLASSES: dict[str, type[Problem]] = {
    "linear": LinearProblem,
    "quadratic": Quadratic,
    "rosenbrock": Rosenbrock,
    "himmelblau": Himmelblau,
    "beale": Beale,
    "logistic": LogisticProblem,
    "mlp": MLPProblem,
}


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
