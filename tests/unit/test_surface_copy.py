"""The surface's copy of a user's model is safe while training uses the model (issue 19, items 1
and 3): the surveyor's thread evaluated the surface from a copy of the model taken lazily, in the
middle of the trainer's vmapped candidate pass, and failed (``Cannot access storage of
BatchedTensorImpl``, or ``Only Tensors created explicitly by the user ... deepcopy``), leaving
the shipped demo's surface blank. The race is made deterministic here: the model's forward asks
for the surface while it is inside the candidate pass, exactly when the surveyor's thread did."""

from __future__ import annotations

import threading

import numpy as np
import torch

from walker_tui.core.problems.torch_model import ModelProblem, make_model_problem
from walker_tui.core.problems.user_model import ModelSpec


class Interrupting(torch.nn.Module):
    """A linear classifier whose forward, once armed, computes the surface (as the surveyor's
    thread would, meanwhile) before going on."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(4, 3)
        self.during: list[object] = []
        self.armed = False
        self.problem: ModelProblem | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.armed and self.problem is not None:
            self.armed = False
            try:
                self.during.append(self.problem.surface(torch.zeros(2, 3, dtype=torch.float64)))
            except Exception as error:  # noqa: BLE001 (recorded, asserted below)
                self.during.append(error)
        return self.lin(x)


def test_the_surface_copy_is_taken_before_training_not_during_a_candidate_pass():
    torch.manual_seed(0)
    model = Interrupting()
    x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    spec = ModelSpec(model, torch.nn.functional.cross_entropy, (x, y), None, "test")
    problem = ModelProblem(spec, 0, "cpu")
    model.problem = problem
    W = problem.w0[:, None] + 0.1 * torch.randn(problem.d, 5)
    model.armed = True
    losses = problem.losses(W)  # the vmapped pass; its forward asks for the surface inside
    assert len(model.during) == 1
    surface = model.during[0]
    assert not isinstance(surface, Exception), f"surface failed mid-pass: {surface!r}"
    assert np.isfinite(surface).all() and surface.shape == (3,)
    assert torch.isfinite(losses).all()


def test_the_digits_surface_while_training_runs_on_another_thread():
    """Under load: the surface of the shipped demo, computed over and over on one thread while
    the walker trains it on another (the app's surveyor and driver)."""
    from walker_tui.config import Config
    from walker_tui.core.trainers.loop import advance
    from walker_tui.core.trainers.walker import make_walker

    problem = make_model_problem("digits", 17, "cpu", batch_size=64)
    walker = make_walker(problem, Config(problem="digits", lrs_spec="log:0.01:1:5", batch_size=64))
    stop, errors = threading.Event(), []

    def train() -> None:
        try:
            while not stop.is_set():
                advance(walker, 1, 0.0, 10**9)
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    thread = threading.Thread(target=train, daemon=True)
    thread.start()
    points = torch.tensor(np.random.default_rng(0).normal(size=(2, 40)))
    try:
        for _ in range(6):
            z = problem.sample(300).surface(points)
            assert np.isfinite(z).all()
    finally:
        stop.set()
        thread.join(30)
    assert not errors, errors
