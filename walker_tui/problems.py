"""What is optimised: data, a batched loss over k candidate weight vectors, and a gradient.

Pure torch, no UI imports. Every problem draws its data from a CPU generator seeded by the user's
seed and only then moves it to the device, so a seed gives the same data on every device.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .catalog import PROBLEMS  # noqa: F401  (re-exported: the names, torch-free)


class Problem:
    """A differentiable loss over d weights, evaluated for k candidates at once.

    Subclasses implement :meth:`losses`; :meth:`loss_grad` defaults to autograd on one candidate.
    """

    name: str = ""
    dim: int = 2
    w0: torch.Tensor
    device: torch.device

    def losses(self, W: torch.Tensor) -> torch.Tensor:
        """Losses of the k columns of ``W`` (d x k), as a k-vector, without building a graph."""
        raise NotImplementedError

    def loss_grad(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss (0-d) and gradient (d) at one weight vector ``w``."""
        w = w.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            loss = self.losses(w[:, None])[0]
            (grad,) = torch.autograd.grad(loss, w)
        return loss.detach(), grad

    def line_losses(
        self, loss: torch.Tensor, grad: torch.Tensor, lrs: torch.Tensor
    ) -> torch.Tensor | None:
        """Losses along ``w - lr * grad`` for every rate in closed form, or None if unknown."""
        return None

    def minimum(self) -> torch.Tensor:
        """The weights at the known minimum."""
        raise NotImplementedError

    exact = False  # does exact_step() know the exact line search?

    def exact_step(self, grad: torch.Tensor) -> torch.Tensor:
        """argmin_a L(w - a g) where the loss is quadratic: |g|^2 / (g^T H g)."""
        raise ValueError(f"no exact line search for {self.name}")

    def surface(self, points: torch.Tensor) -> np.ndarray:
        """Losses at m weight vectors (d x m, float64) for the surface panel, in bounded chunks."""
        chunk = max(1, (1 << 24) // max(1, getattr(self, "n", 1)))
        out = []
        with torch.no_grad():
            for s in range(0, points.shape[1], chunk):
                part = points[:, s : s + chunk].to(self.device, torch.float32)
                out.append(self.losses(part).double().cpu())
        return torch.cat(out).numpy()


class LinearProblem(Problem):
    """The notebook's least-squares problem: y = x @ [3, 2] + U(0, 1) noise, x = [U(-1, 1), 1].

    Data are drawn as the notebook drew them: ``manual_seed(seed)``, then x, then y, then
    ``w0 = rand(2) * 1000 - 500``, all from torch's CPU generator. The features are stored
    transposed (d x n, contiguous): matrix-vector products then stream memory in order, about
    4x faster on a CPU than the notebook's n x d layout.
    """

    name = "linear"
    dim = 2

    def __init__(
        self, n: int = 100, seed: int = 17, device: str | torch.device = "cpu", **_: object
    ) -> None:
        self.n, self.seed, self.device = n, seed, torch.device(device)
        gen = torch.Generator().manual_seed(seed)
        x = torch.ones(n, 2)
        x[:, 0].uniform_(-1.0, 1.0, generator=gen)
        y = x @ torch.tensor([3.0, 2.0]) + torch.rand(n, generator=gen)
        self.w0 = (torch.rand(2, generator=gen) * 1000 - 500).to(self.device)
        self.xt = x.T.contiguous().to(self.device)  # d x n
        del x
        self.y = y.to(self.device)  # n
        # Sufficient statistics, once, in float64: A = X^T X / n, b = X^T y / n, c = y^T y / n.
        xt64 = self.xt.double()
        self.gram = (xt64 @ xt64.T) / n
        self.xty = (xt64 @ self.y.double()) / n
        self.yty = float(self.y.double() @ self.y.double()) / n
        del xt64

    @property
    def x(self) -> torch.Tensor:
        """The n x d design matrix, as the notebook held it (a view)."""
        return self.xt.T

    def losses(self, W: torch.Tensor) -> torch.Tensor:
        return ((self.xt.T @ W - self.y[:, None]) ** 2).mean(0)

    def loss_grad(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # r = Xw - y, L = mean(r^2), g = (2/n) X^T r: two streaming passes over the data.
        # Both reductions are torch's cascaded sums: at n = 10^6 a float32 dot or gemv drifts by
        # ~1e-5 relative (measured against float64), these by ~1e-7, for ~0.3 ms more an epoch.
        r = torch.addmv(self.y, self.xt.T, w, beta=-1)
        loss = r.square().mean()
        grad = (self.xt * r).sum(1) * (2.0 / self.n)
        return loss, grad

    def line_losses(
        self, loss: torch.Tensor, grad: torch.Tensor, lrs: torch.Tensor
    ) -> torch.Tensor:
        # Least squares is an exact quadratic along a line:
        #   L(w - a g) = L(w) - a |g|^2 + (a^2 / n) |X g|^2,   |X g|^2 / n = g^T A g,
        # so with the Gram matrix A the k candidates cost O(d^2 + k): no pass over the data.
        g = grad.double()
        curv = g @ (self.gram @ g)
        return (loss.double() - lrs.double() * (g @ g) + lrs.double() ** 2 * curv).float()

    exact = True

    def exact_step(self, grad: torch.Tensor) -> torch.Tensor:
        # L = w^T A w - 2 b^T w + c has Hessian 2A: a* = |g|^2 / (2 g^T A g).
        g = grad.double()
        return ((g @ g) / (2 * g @ (self.gram @ g))).float()

    def surface(self, points: torch.Tensor) -> np.ndarray:
        # L(w) = w^T A w - 2 b^T w + c: O(d^2) per grid point whatever n is.
        a, b, c = self.gram.cpu(), self.xty.cpu(), self.yty
        p = points.double()
        return ((p * (a @ p)).sum(0) - 2 * (b @ p) + c).numpy()

    def minimum(self) -> torch.Tensor:
        return torch.linalg.solve(self.gram.cpu(), self.xty.cpu())


class FunctionProblem(Problem):
    """A classic 2-D test function: no data, a usual start point and a known minimum.

    ``seed`` 17 (the default) starts at the usual point; any other seed jitters the start by a
    seeded N(0, 0.1^2), so reseeding in the app shows a new walk.
    """

    dim = 2
    start: tuple[float, float] = (0.0, 0.0)
    best: tuple[float, float] = (0.0, 0.0)

    def __init__(self, seed: int = 17, device: str | torch.device = "cpu", **_: object) -> None:
        self.seed, self.device = seed, torch.device(device)
        w0 = torch.tensor(self.start, dtype=torch.float32)
        if seed != 17:
            w0 = w0 + 0.1 * torch.randn(2, generator=torch.Generator().manual_seed(seed))
        self.w0 = w0.to(self.device)

    def f(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def losses(self, W: torch.Tensor) -> torch.Tensor:
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
        self._h = self.hess.float().to(self.device)

    def f(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        h = self._h
        return 0.5 * (h[0, 0] * a * a + 2 * h[0, 1] * a * b + h[1, 1] * b * b)

    exact = True

    def exact_step(self, grad: torch.Tensor) -> torch.Tensor:
        g = grad.double()
        return ((g @ g) / (g @ (self.hess.to(g.device) @ g))).float()

    def line_losses(self, loss, grad, lrs):
        # Exact along a line: L(w - t g) = L - t |g|^2 + t^2 g^T H g / 2.
        g = grad.double()
        curv = g @ (self.hess.to(g.device) @ g)
        return (loss.double() - lrs.double() * (g @ g) + 0.5 * lrs.double() ** 2 * curv).float()


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


class LogisticProblem(Problem):
    """Logistic regression (binary cross-entropy) on two standardised features with 10% of the
    labels flipped, so the minimum is finite; weights are the two feature coefficients.

    Data: ``manual_seed(seed)``, x ~ N(0, 1) (n x 2), true weights (2, -1), labels from the
    logistic model, then flipped with probability 0.1. The minimum is found once by Newton's
    method in float64.
    """

    name = "logistic"
    dim = 2

    def __init__(
        self, n: int = 100, seed: int = 17, device: str | torch.device = "cpu", **_: object
    ) -> None:
        self.n, self.seed, self.device = n, seed, torch.device(device)
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(n, 2, generator=gen)
        p = torch.sigmoid(x @ torch.tensor([2.0, -1.0]))
        y = (torch.rand(n, generator=gen) < p).float()
        flip = torch.rand(n, generator=gen) < 0.1
        y = torch.where(flip, 1 - y, y)
        self.w0 = (torch.rand(2, generator=gen) * 8 - 4).to(self.device)
        self.xt = x.T.contiguous().to(self.device)
        self.y = y.to(self.device)
        self._best: torch.Tensor | None = None

    def losses(self, W: torch.Tensor) -> torch.Tensor:
        z = self.xt.T @ W  # n x k
        return torch.nn.functional.binary_cross_entropy_with_logits(
            z, self.y[:, None].expand_as(z), reduction="none"
        ).mean(0)

    def minimum(self) -> torch.Tensor:
        if self._best is None:
            x, y = self.xt.T.double().cpu(), self.y.double().cpu()
            w = torch.zeros(2, dtype=torch.float64)
            for _ in range(50):
                p = torch.sigmoid(x @ w)
                grad = x.T @ (p - y) / self.n
                hess = (x.T * (p * (1 - p))) @ x / self.n
                w = w - torch.linalg.solve(hess, grad)
            self._best = w
        return self._best


def fresh_w0(seed: int) -> list[float]:
    """The notebook's benchmark start: ``manual_seed(seed); rand(2) * 1000 - 500``."""
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(2, generator=gen) * 1000 - 500).tolist()


PROBLEM_CLASSES: dict[str, type[Problem]] = {
    "linear": LinearProblem,
    "quadratic": Quadratic,
    "rosenbrock": Rosenbrock,
    "himmelblau": Himmelblau,
    "beale": Beale,
    "logistic": LogisticProblem,
}


def make_problem(
    name: str, n: int, seed: int, device: str | torch.device, kappa: float = 10.0
) -> Problem:
    """Build the named problem on ``device``."""
    if name not in PROBLEM_CLASSES:
        raise ValueError(f"unknown problem {name!r}; choose from {', '.join(PROBLEMS)}")
    return PROBLEM_CLASSES[name](n=n, seed=seed, device=device, kappa=kappa)
