"""Building a problem by name: the class that walker_tui.catalog (the one registry) names for a
built-in family (walker_tui.core.problems.functions, regression, mlp), or a model, built in or
the user's own (walker_tui.core.problems.torch_model). Its own module on top of them all, so none
imports another back (problems used to import models lazily to make model problems)."""

from __future__ import annotations

import importlib

import numpy as np
import torch

from walker_tui.catalog import CATALOG, PROBLEMS
from walker_tui.core.problems.base import Problem
from walker_tui.core.problems.torch_model import make_model_problem

__all__ = ["make_problem", "problem_class"]


def problem_class(name: str) -> type[Problem]:
    """The class the catalog names for the built-in family ``name`` (linear, quadratic, ...)."""
    module, _, cls = CATALOG[name].family.partition(":")
    return getattr(importlib.import_module(f"walker_tui.core.problems.{module}"), cls)


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
    if name in CATALOG and CATALOG[name].family:
        return problem_class(name)(n=n, seed=seed, device=device, kappa=kappa, data=data)
    if (name in CATALOG and CATALOG[name].model) or ":" in name:
        return make_model_problem(name, seed, device, batch_size)
    raise ValueError(f"unknown problem {name!r}; choose from {', '.join(PROBLEMS)}")
