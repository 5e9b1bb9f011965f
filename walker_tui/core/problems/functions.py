"""The classic 2-D test functions (no data, a usual start, a known minimum): the quadratic bowl,
Rosenbrock, Himmelblau and Beale."""

from __future__ import annotations

import math

import torch

from walker_tui.core.problems.base import Problem
from walker_tui.core.ranking import to_device, wide_dtype
from walker_tui.core.seeds import seed64


class FunctionProblem(Problem):
    """A classic 2-D test function: no data, a usual start point and a known minimum.

    ``seed`` 17 (the default) starts at the usual point; any other seed jitters the start by a
    seeded N(0, 0.1^2), so reseeding in the app shows a new walk.
    """

    start: tuple[float, float] = (0.0, 0.0)
    best: tuple[float, float] = (0.0, 0.0)

    def __init__(self, seed: int = 17, device: str | torch.device = "cpu", **_: object) -> None:
        self.seed, self.device = seed, torch.device(device)
        w0 = torch.tensor(self.start, dtype=torch.float32)
        if seed != 17:
            w0 = w0 + 0.1 * torch.randn(2, generator=torch.Generator().manual_seed(seed64(seed)))
        self.w0 = w0.to(self.device)

    def f(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def losses(self, W: torch.Tensor) -> torch.Tensor:
        return self.f(W[0], W[1])

    def rank_losses(self, W: torch.Tensor) -> torch.Tensor:
        W = W.to(wide_dtype(self.device))
        return self.f(W[0], W[1])

    def minimum(self) -> torch.Tensor:
        return torch.tensor(self.best, dtype=torch.float64)


class Quadratic(FunctionProblem):
    """L = w^T H w / 2 with H = R diag(1, kappa) R^T, R a 30-degree rotation: a tilted bowl whose
    condition number is kappa, minimum 0 at the origin. Plain SGD zig-zags across it."""

    name = "quadratic"
    start = (4.0, 3.0)

    def __init__(
        self, seed: int = 17, device: str | torch.device = "cpu", kappa: float = 10.0, **_: object
    ) -> None:
        super().__init__(seed, device)
        self.kappa = kappa
        c, s = math.cos(math.pi / 6), math.sin(math.pi / 6)
        rot = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
        self.hess = rot @ torch.diag(torch.tensor([1.0, kappa], dtype=torch.float64)) @ rot.T
        self._h = to_device(self.hess, self.device, torch.float32)
        self._h_wide = to_device(self.hess, self.device, wide_dtype(self.device))

    def f(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        h = self._h if a.dtype == torch.float32 else self._h_wide
        return 0.5 * (h[0, 0] * a * a + 2 * h[0, 1] * a * b + h[1, 1] * b * b)

    def exact_step(self, grad: torch.Tensor) -> torch.Tensor:
        g = grad.to(self._h_wide.dtype)
        return ((g @ g) / (g @ (self._h_wide @ g))).float()

    def line_deltas(
        self, grad: torch.Tensor, lrs: torch.Tensor, direction: torch.Tensor | None = None
    ) -> torch.Tensor:
        # Exact along a line: L(w - t g) - L(w) = -t |g|^2 + t^2 g^T H g / 2 (along u:
        # -t g.u + t^2 u^T H u / 2).
        return self.quadratic_deltas(grad, lrs, self._h_wide, 0.5, direction)


class Rosenbrock(FunctionProblem):
    """(1 - a)^2 + 100 (b - a^2)^2 (Rosenbrock 1960), minimum 0 at (1, 1), usual start (-1.2, 1)."""

    name = "rosenbrock"
    start = (-1.2, 1.0)
    best = (1.0, 1.0)

    def f(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (1 - a) ** 2 + 100 * (b - a * a) ** 2


class Himmelblau(FunctionProblem):
    """(a^2 + b - 11)^2 + (a + b^2 - 7)^2 (Himmelblau 1972): four minima of 0, one at (3, 2),
    the one a walk from (0, 0) reaches."""

    name = "himmelblau"
    start = (0.0, 0.0)
    best = (3.0, 2.0)

    def f(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a * a + b - 11) ** 2 + (a + b * b - 7) ** 2


class Beale(FunctionProblem):
    """(1.5 - a + ab)^2 + (2.25 - a + ab^2)^2 + (2.625 - a + ab^3)^2, minimum 0 at (3, 0.5)."""

    name = "beale"
    start = (1.0, 1.0)
    best = (3.0, 0.5)

    def f(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (
            (1.5 - a + a * b) ** 2 + (2.25 - a + a * b * b) ** 2 + (2.625 - a + a * b * b * b) ** 2
        )
