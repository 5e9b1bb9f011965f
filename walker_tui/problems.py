"""What is optimised: data, a batched loss over k candidate weight vectors, and a gradient.

Pure torch, no UI imports. Every problem draws its data from a CPU generator seeded by the user's
seed and only then moves it to the device, so a seed gives the same data on every device.
"""

from __future__ import annotations

import numpy as np
import torch

PROBLEMS = ("linear",)


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

    def __init__(self, n: int = 100, seed: int = 17, device: str | torch.device = "cpu") -> None:
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

    def surface(self, points: torch.Tensor) -> np.ndarray:
        # L(w) = w^T A w - 2 b^T w + c: O(d^2) per grid point whatever n is.
        a, b, c = self.gram.cpu(), self.xty.cpu(), self.yty
        p = points.double()
        return ((p * (a @ p)).sum(0) - 2 * (b @ p) + c).numpy()

    def minimum(self) -> torch.Tensor:
        return torch.linalg.solve(self.gram.cpu(), self.xty.cpu())


def fresh_w0(seed: int) -> list[float]:
    """The notebook's benchmark start: ``manual_seed(seed); rand(2) * 1000 - 500``."""
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(2, generator=gen) * 1000 - 500).tolist()


def make_problem(name: str, n: int, seed: int, device: str | torch.device) -> Problem:
    """Build the named problem on ``device``."""
    if name == "linear":
        return LinearProblem(n=n, seed=seed, device=device)
    raise ValueError(f"unknown problem {name!r}; choose from {', '.join(PROBLEMS)}")
