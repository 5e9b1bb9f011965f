"""The problems on a table of data, built in or the user's: least squares (LinearProblem) and
logistic regression (LogisticProblem, with BinnedLogistic, its binned stand-in for the surface)."""

from __future__ import annotations

import copy
import threading

import numpy as np
import torch

from walker_tui.core.problems.base import (
    Problem,
    SoftplusSums,
    candidate_chunk,
    float32_terms_error,
    span,
)
from walker_tui.core.ranking import float64_home, float64_on, host64, to_device, wide_dtype
from walker_tui.core.seeds import seed64

CPU_CHUNK = 1 << 20  # data points per chunk of a pass over the data on the CPU (LinearProblem)


def _user_table(
    data: tuple[np.ndarray, np.ndarray], gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The user's table (see walker_tui.core.data) as float32 tensors, and a start drawn
    U(-1, 1)."""
    x = torch.tensor(data[0], dtype=torch.float32)
    y = torch.tensor(data[1], dtype=torch.float32)
    return x, y, torch.rand(x.shape[1], generator=gen) * 2 - 1


class LinearProblem(Problem):
    """The notebook's least-squares problem: y = x @ [3, 2] + U(0, 1) noise, x = [U(-1, 1), 1].

    Data are drawn as the notebook drew them: ``manual_seed(seed)``, then x, then y, then
    ``w0 = rand(2) * 1000 - 500``, all from torch's CPU generator. The features are stored
    transposed (d x n, contiguous): matrix-vector products then stream memory in order, about
    4x faster on a CPU than the notebook's n x d layout.
    """

    name = "linear"

    def __init__(
        self,
        n: int = 100,
        seed: int = 17,
        device: str | torch.device = "cpu",
        data: tuple[np.ndarray, np.ndarray] | None = None,
        **_: object,
    ) -> None:
        self.seed, self.device = seed, torch.device(device)
        gen = torch.Generator().manual_seed(seed64(seed))
        if data is not None:
            x, y, w0 = _user_table(data, gen)
            n, self.w0 = len(y), w0.to(self.device)
        else:
            x = torch.ones(n, 2)
            x[:, 0].uniform_(-1.0, 1.0, generator=gen)
            y = x @ torch.tensor([3.0, 2.0]) + torch.rand(n, generator=gen)
            self.w0 = (torch.rand(2, generator=gen) * 1000 - 500).to(self.device)
        self.n = n
        self.xt = x.T.contiguous().to(self.device)  # d x n
        del x
        self.y = y.to(self.device)  # n
        # Sufficient statistics, once, in float64 (on the CPU where the device has no float64):
        # A = X^T X / n, b = X^T y / n, c = y^T y / n.
        home = float64_home(self.device)
        xt64, y64 = float64_on(self.xt, home), float64_on(self.y, home)
        self.gram = (xt64 @ xt64.T) / n
        self.xty = (xt64 @ y64) / n
        self.yty = float(y64 @ y64) / n
        del xt64, y64
        # The Gram matrix where the walker's line search runs: on the device, in its widest float.
        self.gram_dev = to_device(self.gram, self.device, wide_dtype(self.device))

    @property
    def x(self) -> torch.Tensor:
        """The n x d design matrix, as the notebook held it (a view)."""
        return self.xt.T

    def losses(self, W: torch.Tensor) -> torch.Tensor:
        return ((self.xt.T @ W - self.y[:, None]) ** 2).mean(0)

    def loss_grad(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # r = Xw - y, L = mean(r^2), g = (2/n) X^T r: two streaming passes over the data.
        # Both reductions are torch's cascaded sums, which drift far less from float64 than a
        # float32 dot or gemv (docs/design/performance.md: the least squares epoch).
        if self.device.type == "cpu" and self.n > CPU_CHUNK:
            return self._loss_grad_chunked(w)
        r = torch.addmv(self.y, self.xt.T, w, beta=-1)
        loss = r.square().mean()
        grad = (self.xt * r).sum(1) * (2.0 / self.n)
        return loss, grad

    def _loss_grad_chunked(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The same on the CPU in chunks of CPU_CHUNK points: the temporaries (r, X * r) then
        come back from the allocator's heap instead of fresh pages from the kernel every epoch
        (an allocation past glibc's 32 MB mmap threshold is zero-filled by page faults)."""
        total = torch.zeros((), dtype=torch.float32)
        grad = torch.zeros_like(w)
        for s in range(0, self.n, CPU_CHUNK):
            xt = self.xt[:, s : s + CPU_CHUNK]
            r = torch.addmv(self.y[s : s + CPU_CHUNK], xt.T, w, beta=-1)
            total += r.square().sum()
            grad += (xt * r).sum(1)
        return total / self.n, grad * (2.0 / self.n)

    def line_deltas(
        self, grad: torch.Tensor, lrs: torch.Tensor, direction: torch.Tensor | None = None
    ) -> torch.Tensor:
        # Least squares is an exact quadratic along a line:
        #   L(w - a g) - L(w) = -a |g|^2 + (a^2 / n) |X g|^2,   |X g|^2 / n = g^T A g,
        # so with the Gram matrix A the k candidates cost O(d^2 + k): no pass over the data.
        # The change is computed on its own, not added to L(w): its digits are then its own,
        # where L(w) + change would round away exactly the digits that rank the candidates.
        # (Along a direction u: -a g.u + a^2 u^T A u.)
        return self.quadratic_deltas(grad, lrs, self.gram_dev, 1.0, direction)

    global_line = True  # the Gram matrix is the whole data's, on every rank

    def shard(self, rank: int, world: int, device: torch.device) -> LinearProblem:
        lo, hi = span(self.n, rank, world)
        part = self._moved(device)
        part.xt = self.xt[:, lo:hi].contiguous().to(device)
        part.y = self.y[lo:hi].to(device)
        part.n = hi - lo
        part.gram_dev = to_device(self.gram, device, wide_dtype(device))
        return part

    def exact_step(self, grad: torch.Tensor) -> torch.Tensor:
        # L = w^T A w - 2 b^T w + c has Hessian 2A: a* = |g|^2 / (2 g^T A g).
        g = grad.to(self.gram_dev.dtype)
        return ((g @ g) / (2 * g @ (self.gram_dev @ g))).float()

    @property
    def data_points(self) -> int:
        return 0  # the surface is a closed form in the Gram matrix

    @property
    def surface_cost(self) -> float:
        return float(self.gram.shape[0] ** 2)

    def surface(self, points: torch.Tensor) -> np.ndarray:
        # L(w) = w^T A w - 2 b^T w + c: O(d^2) per grid point whatever n is.
        a, b, c = host64(self.gram), host64(self.xty), self.yty
        p = points.double()
        return ((p * (a @ p)).sum(0) - 2 * (b @ p) + c).numpy()

    def minimum(self) -> torch.Tensor:
        # The least-norm minimiser: a singular Gram matrix (one point, collinear columns) still
        # has minimisers, and lstsq's SVD driver picks the shortest.
        a, b = host64(self.gram), host64(self.xty)
        return torch.linalg.lstsq(a, b[:, None], driver="gelsd").solution[:, 0]


class LogisticProblem(Problem):
    """Logistic regression (binary cross-entropy) on two standardised features with 10% of the
    labels flipped, so the minimum is finite; weights are the two feature coefficients.

    Data: ``manual_seed(seed)``, x ~ N(0, 1) (n x 2), true weights (2, -1), labels from the
    logistic model, then flipped with probability 0.1. The minimum is found once by Newton's
    method in float64.
    """

    name = "logistic"

    def __init__(
        self,
        n: int = 100,
        seed: int = 17,
        device: str | torch.device = "cpu",
        data: tuple[np.ndarray, np.ndarray] | None = None,
        **_: object,
    ) -> None:
        self.seed, self.device = seed, torch.device(device)
        gen = torch.Generator().manual_seed(seed64(seed))
        if data is not None:
            x, y, w0 = _user_table(data, gen)
            n, self.w0 = len(y), w0.to(self.device)
        else:
            x = torch.randn(n, 2, generator=gen)
            p = torch.sigmoid(x @ torch.tensor([2.0, -1.0]))
            y = (torch.rand(n, generator=gen) < p).float()
            flip = torch.rand(n, generator=gen) < 0.1
            y = torch.where(flip, 1 - y, y)
            self.w0 = (torch.rand(2, generator=gen) * 8 - 4).to(self.device)
        self.n = n
        self.xt = x.T.contiguous().to(self.device)
        self.y = y.to(self.device)
        # 0/1 labels (every built-in and --data table): the candidates' pass folds the label into
        # a sign (rank_losses)
        self.binary = bool(((y == 0) | (y == 1)).all())
        self._best: torch.Tensor | None = None
        self._sums: tuple[torch.Tensor, torch.Tensor] | None = None
        self._binned: BinnedLogistic | None = None

    def _terms(self, W: torch.Tensor) -> torch.Tensor:
        z = self.xt.T @ W  # n x k
        return torch.nn.functional.binary_cross_entropy_with_logits(
            z, self.y[:, None].expand_as(z), reduction="none"
        )

    def losses(self, W: torch.Tensor) -> torch.Tensor:
        return self._terms(W).mean(0)

    def rank_error(self) -> float:
        return float32_terms_error(self.n)

    def rank_losses(self, W: torch.Tensor) -> torch.Tensor:
        # The k candidates, forward only, in chunks (the n x k block is never whole). For a 0/1
        # label bce(z, y) = softplus((1 - 2y) z) exactly: the sign goes into the chunk's
        # features, then one matmul and SoftplusSums, with no cancellation in the terms. Other
        # labels (soft ones, through the API) keep the loss as trained, in the same chunks.
        wide = wide_dtype(self.device)
        k = W.shape[1]
        Wt = W.detach().T.to(torch.float32).contiguous()  # k x d
        total = torch.zeros(k, dtype=wide, device=self.device)
        step = candidate_chunk(self.device, k)
        softplus = SoftplusSums(k, min(step, self.n), self.device, wide)
        with torch.no_grad():
            for s in range(0, self.n, step):
                xt, y = self.xt[:, s : s + step], self.y[s : s + step]
                if self.binary:  # (1 - 2y) x, exactly: the features with the label's sign
                    total += softplus(Wt @ torch.addcmul(xt, xt, y, value=-2))
                else:
                    z = Wt @ xt
                    terms = torch.nn.functional.binary_cross_entropy_with_logits(
                        z, y.expand_as(z), reduction="none"
                    )
                    total += terms.sum(1, dtype=wide)
        return total / self.n

    def surface(self, points: torch.Tensor) -> np.ndarray:
        # mean_i softplus(z_i) - y_i z_i with z = x_i . w, and softplus(z) = (z + |z|) / 2 +
        # log1p(exp(-|z|)): the linear parts are w . (sum x / 2 - sum y x), once per grid point;
        # what is left is abs, exp and log1p over the chunk's products, in place (about 3x the
        # speed of the loss as trained, which keeps per-point terms for autograd).
        if self._sums is None:
            sx = host64(self.xt.sum(1))
            syx = host64((self.xt * self.y).sum(1))
            self._sums = (sx, syx)
        linear = 0.5 * self._sums[0] - self._sums[1]
        chunk = self.surface_chunk
        out = []
        with torch.no_grad():
            for s in range(0, points.shape[1], chunk):
                part = points[:, s : s + chunk].double()
                z = to_device(part, self.device, torch.float32).T @ self.xt  # chunk x n
                absum = z.abs_().sum(1)
                logsum = z.neg_().exp_().log1p_().sum(1)
                total = 0.5 * host64(absum) + host64(logsum) + part.T @ linear
                out.append(total / self.n)
        return torch.cat(out).numpy()

    def shard(self, rank: int, world: int, device: torch.device) -> LogisticProblem:
        lo, hi = span(self.n, rank, world)
        self.minimum()  # found on all the data, first
        part = self._moved(device)
        part.xt = self.xt[:, lo:hi].contiguous().to(device)
        part.y = self.y[lo:hi].to(device)
        part.n = hi - lo
        part._sums = part._binned = None
        return part

    def sample(self, m: int) -> LogisticProblem:
        if m >= self.n:
            return self
        idx = self._sample_rows(m)
        part = copy.copy(self)
        part.xt, part.y, part.n = self.xt[:, idx].contiguous(), self.y[idx], m
        part._sums = part._binned = None
        return part

    def summary(self, cancel: threading.Event | None = None) -> BinnedLogistic | None:
        if self.xt.shape[0] != 2 or self.n < BinnedLogistic.worth:
            return None
        if self._binned is None:
            self._binned = BinnedLogistic.build(self, cancel)
        return self._binned

    def minimum(self) -> torch.Tensor | None:
        """The minimiser, by damped Newton in float64 on the CPU; None where there is no finite
        one (separable data: the loss only tends to its infimum as the weights grow)."""
        if self._best is None:
            x, y = host64(self.xt).T, host64(self.y)
            w = torch.zeros(x.shape[1], dtype=torch.float64)
            for _ in range(100):
                p = torch.sigmoid(x @ w)
                grad = x.T @ (p - y) / self.n
                hess = (x.T * (p * (1 - p))) @ x / self.n
                # least squares on the Newton system: a singular Hessian still gives a step
                step = torch.linalg.lstsq(hess, grad[:, None], driver="gelsd").solution[:, 0]
                w = w - step
                if float(step.norm()) < 1e-12 * (1 + float(w.norm())):
                    break
            converged = bool(torch.isfinite(w).all()) and float(grad.norm()) < 1e-6
            self._best = w if converged else torch.full_like(w, float("nan"))
        return None if torch.isnan(self._best).any() else self._best


class BinnedLogistic(Problem):
    """Logistic regression's surface from its two features binned (each bin's count, mean and
    covariance): softplus expanded about each bin's mean to second order (the first-order terms
    cancel), the label term exact. Bin edges are 56 quantiles of each feature and 32 even steps
    across its range, so the tails are binned finely too. A few thousand bins stand in for n
    points; on the benchmark's windows the losses agree with the exact ones to about 1e-6
    (benchmarks/surface.py prints the error). Only the surface: it does not train."""

    name = "logistic (binned)"
    quantiles, steps = 56, 32  # bin edges per feature
    worth = 50_000  # data points from which binning pays

    def __init__(
        self,
        counts: torch.Tensor,
        means: torch.Tensor,
        cov: torch.Tensor,
        label: torch.Tensor,
        n: int,
        device: torch.device,
    ) -> None:
        self.device, self.n = device, n
        self.counts = to_device(counts, device, torch.float32)  # B
        self.means = to_device(means, device, torch.float32)  # 2 x B
        self.cov = to_device(cov, device, torch.float32)  # 3 x B: var x0, 2 cov(x0, x1), var x1
        self.label = label  # sum_i y_i x_i, float64 on the CPU

    @classmethod
    def build(cls, p: LogisticProblem, cancel: threading.Event | None) -> BinnedLogistic | None:
        """Bin ``p``'s data in chunks (a cancel falls between them: None back)."""
        gen = torch.Generator().manual_seed(seed64(p.seed + 3))
        probe = host64(p.xt[:, torch.randint(p.n, (min(p.n, 200_000),), generator=gen)])
        q = torch.linspace(0, 1, cls.quantiles + 1, dtype=torch.float64)[1:-1]
        lo, hi = host64(p.xt.min(1).values), host64(p.xt.max(1).values)
        steps = [
            torch.linspace(float(a), float(b), cls.steps + 1, dtype=torch.float64)[1:-1]
            for a, b in zip(lo, hi, strict=True)
        ]
        edges = torch.cat([torch.quantile(probe, q, dim=1).T, torch.stack(steps)], 1)
        edges = edges.sort(1).values.contiguous()  # 2 x (g - 1)
        g = edges.shape[1] + 1
        sums = torch.zeros(6, g * g, dtype=torch.float64)
        label = torch.zeros(2, dtype=torch.float64)
        step = 1 << 20
        for s in range(0, p.n, step):
            if cancel is not None and cancel.is_set():
                return None
            x, y = host64(p.xt[:, s : s + step]), host64(p.y[s : s + step])
            b = torch.bucketize(x[0], edges[0]) * g + torch.bucketize(x[1], edges[1])
            for row, w in enumerate((None, x[0], x[1], x[0] * x[0], x[0] * x[1], x[1] * x[1])):
                sums[row] += torch.bincount(b, weights=w, minlength=g * g).double()
            label += (x * y).sum(1)
        kept = sums[0] > 0
        c, s0, s1, s00, s01, s11 = sums[:, kept]
        m0, m1 = s0 / c, s1 / c
        cov = torch.stack([s00 / c - m0 * m0, 2 * (s01 / c - m0 * m1), s11 / c - m1 * m1])
        cov[0].clamp_(min=0)  # (variances a rounding below 0)
        cov[2].clamp_(min=0)
        return cls(c, torch.stack([m0, m1]), cov, label, p.n, p.device)

    @property
    def data_points(self) -> int:
        return int(self.counts.shape[0])

    surface_width = 12  # floats a bin costs: products, softplus, curvature and the correction

    def surface(self, points: torch.Tensor) -> np.ndarray:
        chunk = self.surface_chunk
        out = []
        with torch.no_grad():
            for s in range(0, points.shape[1], chunk):
                part = points[:, s : s + chunk].double()
                w = to_device(part, self.device, torch.float32).T  # chunk x 2
                z = w @ self.means  # chunk x B
                spread = torch.stack([w[:, 0] ** 2, w[:, 0] * w[:, 1], w[:, 1] ** 2], 1) @ self.cov
                sig = torch.sigmoid(z)
                terms = torch.nn.functional.softplus(z) + 0.5 * sig * (1 - sig) * spread
                total = host64(terms @ self.counts) - part.T @ self.label
                out.append(total / self.n)
        return torch.cat(out).numpy()
