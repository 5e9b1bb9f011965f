"""What is optimised: data, a batched loss over k candidate weight vectors, and a gradient.

Pure torch, no UI imports. Every problem draws its data from a CPU generator seeded by the user's
seed and only then moves it to the device, so a seed gives the same data on every device.
"""

from __future__ import annotations

import copy
import math
import threading
from typing import Any

import numpy as np
import torch

from walker_tui.catalog import MODEL_PROBLEMS, PROBLEMS  # noqa: F401  (re-exported: the names)
from walker_tui.core.plane import directions
from walker_tui.core.ranking import float64_home, float64_on, host64, to_device, wide_dtype

CPU_CHUNK = 1 << 20  # data points per chunk of a pass over the data on the CPU (LinearProblem)
# Floats of the candidates' block (points x k candidates x width) one chunk of a candidate pass
# holds: on the CPU 2^17 for each thread torch runs (512 KB a core: the block and its scratch stay
# in the core's 2 MB cache while the elementwise work goes over them, and come back from the
# allocator's heap, not as fresh pages; one thread is fastest at 2^16 to 2^17, two at 2^18);
# elsewhere (a GPU) 2^24 (64 MB: few launches). The n x k block is never made whole (520 MB at
# n = 10^7, k = 13).
CPU_CANDIDATE_FLOATS = 1 << 17
DEVICE_CANDIDATE_FLOATS = 1 << 24


def candidate_chunk(device: torch.device, floats_per_point: int) -> int:
    """Data points per chunk of a candidate pass whose block holds ``floats_per_point`` floats a
    point (k candidates times what each keeps per point)."""
    cpu = torch.device(device).type == "cpu"
    budget = CPU_CANDIDATE_FLOATS * torch.get_num_threads() if cpu else DEVICE_CANDIDATE_FLOATS
    return max(1, budget // max(1, floats_per_point))


class SoftplusSums:
    """Row sums of softplus(z) = log(1 + e^z) over k x c float32 blocks, chunk after chunk, in
    ``wide`` (float64 where the device has it), with two scratch blocks made once and reused (no
    fresh pages). softplus(z) = max(z, 0) + log1p(e), e = exp(-|z|), each term in float32 to
    within about an ulp, then summed in the wide float. Not torch's softplus or logaddexp: on
    this CPU their exp and log1p take slow paths where |z| > 20 (log1p of a tiny e, ~10x) and
    where |z| > 87 (exp into float32's denormals, ~200x), just where a candidate with a large
    rate puts most points (a logistic pass at n = 10^6 took 2.5 s instead of 50 ms). Here e is
    exp(-min(|z|, 87)) (an error below 2e-38 a term) and log1p(e) = log(u) - r with u = 1 + e
    rounded and r = (u - 1) - e its rounding error, exact (u - 1 is exact, and so is its
    difference from e): within eps/2 of log1p(e) (|r| <= eps/2 and log(u - r) = log(u) - r/u),
    with no log1p at all."""

    def __init__(self, k: int, c: int, device: torch.device, wide: torch.dtype) -> None:
        self.e, self.u = (torch.empty(k, c, device=device) for _ in range(2))
        self.wide = wide

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        """The k row sums of softplus(z) for z (k x m, m <= c; overwritten)."""
        m = z.shape[1]
        e, u = self.e[:, :m], self.u[:, :m]
        torch.abs(z, out=e)
        z.add_(e)  # z + |z| = 2 max(z, 0), exactly
        e.clamp_(max=87.0).neg_().exp_()
        torch.add(e, 1.0, out=u)  # u = 1 + e, rounded
        u.sub_(1.0)  # u - 1, exact
        e.sub_(u)  # e - (u - 1) = -r, exact
        u.add_(1.0).log_().add_(e)  # log(u) - r = log1p(e)
        u.add_(z, alpha=0.5)  # the term, in float32
        return u.sum(1, dtype=self.wide)


def float32_terms_error(n: int) -> float:
    """The relative rounding-error bound of a mean of ``n`` nonnegative float32 terms summed in
    float64 (logistic regression's and the mlp's rank_losses): 4 units of float32 rounding a
    term (softplus within an ulp, the logits' products and sums within a few more; measured on
    logistic regression at its optimum, n = 20,000: 2.9 units against float64 terms), plus the
    float64 sum's own n units of 2^-53."""
    return 4 * 2.0**-24 + n * 2.0**-53


def span(n: int, rank: int, world: int) -> tuple[int, int]:
    """Rank ``rank``'s contiguous part of ``n`` data points among ``world`` ranks: sizes differ
    by at most one, and the parts in rank order are the data in order."""
    return n * rank // world, n * (rank + 1) // world


class Problem:
    """A differentiable loss over d weights, evaluated for k candidates at once.

    Subclasses implement :meth:`losses`; :meth:`loss_grad` defaults to autograd on one candidate.
    """

    name: str = ""
    w0: torch.Tensor
    device: torch.device
    seed: int = 0  # the seed that drew its data and start (and the surface's plane)
    n: int = 0  # data points (0: a function of the weights alone, no data)
    surface_width = 1  # floats an evaluation holds per data point (sizes the surface's chunks)
    batched = False  # True: epochs are passes over the data in mini-batches (engine.Batched)
    notice: str | None = None  # a one-line notice for the user (a model scored one at a time)

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

    def line_deltas(
        self, grad: torch.Tensor, lrs: torch.Tensor, direction: torch.Tensor | None = None
    ) -> torch.Tensor | None:
        """The exact changes ``L(w - lr * u) - L(w)`` for every rate, in closed form (in the
        device's widest float), along ``direction`` u (None: the gradient itself), or None where
        the loss along a line has no closed form."""
        return None

    def rank_error(self) -> float:
        """The relative rounding-error bound of :meth:`rank_losses`: candidates closer than this
        times their loss tie (precision.pick_winner's slack); 0 (the default): ranked as exact
        (closed forms, float64 formulas, a model's own loss)."""
        return 0.0

    def quadratic_deltas(
        self,
        grad: torch.Tensor,
        lrs: torch.Tensor,
        hess: torch.Tensor,
        half: float,
        direction: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``-a |g|^2 + half a^2 g^T H g`` for the rates ``a``: the change of a loss that is an
        exact quadratic along the line (least squares, the bowl), in ``hess``'s dtype; along a
        direction u, ``-a g.u + half a^2 u^T H u``. The rates' powers are kept from one epoch to
        the next while the grid stays (fewer launches an epoch on a GPU)."""
        g = grad.to(hess.dtype)
        if getattr(self, "_line_rates", None) is not lrs:
            a = lrs.to(hess.dtype)
            self._line_powers = (a, half * a * a)
            self._line_rates = lrs
        a, b = self._line_powers
        if direction is None:
            return b * (g @ (hess @ g)) - a * (g @ g)
        u = direction.to(hess.dtype)
        return b * (u @ (hess @ u)) - a * (g @ u)

    def rank_losses(self, W: torch.Tensor) -> torch.Tensor:
        """Losses of the k columns of ``W`` for ranking them: summed in float64 where the device
        has it (a float32 sum of n terms drifts by ~1e-7 relative, more than the candidates of a
        walk near an optimum differ by). Defaults to :meth:`losses`."""
        return self.losses(W)

    def view(self, W: torch.Tensor) -> torch.Tensor:
        """What records hold of weight vectors (d x k): the weights themselves; a model's
        coordinates in its plane (millions of weights per candidate would not fit a record)."""
        return W

    def metrics(self, w: torch.Tensor) -> dict[str, torch.Tensor]:
        """Figures shown beside the loss each epoch (a model's held-out loss and accuracy), as
        0-d device tensors."""
        return {}

    def metric_names(self) -> list[str]:
        """The names :meth:`metrics` gives, in order."""
        return []

    def minimum(self) -> torch.Tensor | None:
        """The weights at the known minimum (None where it is not known)."""
        raise NotImplementedError

    def minimum_loss(self) -> float | None:
        """The loss at the known minimum, in float64 on the CPU (None where it is not known)."""
        best = self.minimum()
        if best is None:
            return None
        return float(self.exact_loss(best[:, None])[0])

    def exact_loss(self, W: torch.Tensor) -> torch.Tensor:
        """Losses of float64 weights (d x k) in float64 on the CPU; defaults to :meth:`surface`."""
        return torch.as_tensor(self.surface(W.double()))

    def plane(self) -> tuple[np.ndarray, np.ndarray]:
        """The 2-D view of the weights: (origin (d), basis (d x 2)); a point p of the plane is
        the weight vector origin + basis @ p. Two weights are their own plane."""
        d = int(self.w0.shape[0])
        if d == 2:
            return np.zeros(2), np.eye(2)
        w0 = host64(self.w0)
        gen = torch.Generator().manual_seed(self.seed + 1)
        basis = torch.randn(d, 2, generator=gen, dtype=torch.float64)
        basis = basis / basis.norm(dim=0) * max(float(w0.norm()), 1.0)
        return w0.numpy(), basis.numpy()

    def exact_step(self, grad: torch.Tensor) -> torch.Tensor:
        """argmin_a L(w - a g) where the loss is quadratic: |g|^2 / (g^T H g)."""
        raise ValueError(f"no exact line search for {self.name}")

    # --- the surface panel: grids of losses, in chunks a cancel can fall between ---

    @property
    def data_points(self) -> int:
        """Data points one loss evaluation sums over (0: none, or a closed form that does not
        depend on them)."""
        return self.n

    @property
    def surface_cost(self) -> float:
        """Floats one surface evaluation touches (data points x width; 1 for a formula)."""
        return float(max(1, self.data_points * self.surface_width))

    @property
    def surface_chunk(self) -> int:
        """Grid points per chunk of :meth:`surface`: about 16M floats, tens of ms on a CPU."""
        return max(1, int((1 << 24) // self.surface_cost))

    def surface(self, points: torch.Tensor) -> np.ndarray:
        """Losses at m weight vectors (d x m, float64) for the surface panel, in bounded chunks."""
        chunk = self.surface_chunk
        out = []
        with torch.no_grad():
            for s in range(0, points.shape[1], chunk):
                part = to_device(points[:, s : s + chunk], self.device, torch.float32)
                out.append(host64(self.losses(part)))
        return torch.cat(out).numpy()

    # global_line: line_deltas of a shard is already the whole data's (a closed form in global
    # statistics, kept whole on every rank), so a sharded run need not sum it over the ranks
    global_line = False

    on_batch = False  # evaluating on a mini-batch, not all the data (models: engine.Batched)

    def _moved(self, device: torch.device) -> Any:
        """A shallow copy on ``device``, its start moved there: what every shard begins as."""
        part = copy.copy(self)
        part.device = torch.device(device)
        part.w0 = self.w0.to(device)
        return part

    def _sample_rows(self, m: int) -> torch.Tensor:
        """The seeded draw of ``m`` data points :meth:`sample` takes (the same every time)."""
        gen = torch.Generator().manual_seed(self.seed + 2)
        return torch.randint(self.n, (m,), generator=gen).to(self.device)

    def shard(self, rank: int, world: int, device: torch.device) -> Problem:
        """This problem on rank ``rank``'s part of its data alone (:func:`span`), on ``device``
        (one rank of a data-parallel run); what needs all the data (the minimum, a Gram matrix)
        is computed first and kept whole. Only problems with data can be sharded."""
        raise ValueError(f"{self.name} has no data to share out among ranks")

    def sample(self, m: int) -> Problem:
        """The same problem on ``m`` of its data points drawn at random (seeded: the same draw
        every time), for a quick first view of a large surface; itself where it has no data."""
        return self

    def summary(self, cancel: threading.Event | None = None) -> Problem | None:
        """A stand-in whose surface costs far less and agrees with this one's to a stated bound
        (logistic regression: binned data), or None. ``cancel`` stops the build (None back)."""
        return None


def _user_table(
    data: tuple[np.ndarray, np.ndarray], gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The user's table (see walker_tui.core.data) as float32 tensors, and a start drawn U(-1, 1)."""
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
        gen = torch.Generator().manual_seed(seed)
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
        # Both reductions are torch's cascaded sums: at n = 10^6 a float32 dot or gemv drifts by
        # ~1e-5 relative (measured against float64), these by ~1e-7, for ~0.3 ms more an epoch.
        if self.device.type == "cpu" and self.n > CPU_CHUNK:
            return self._loss_grad_chunked(w)
        r = torch.addmv(self.y, self.xt.T, w, beta=-1)
        loss = r.square().mean()
        grad = (self.xt * r).sum(1) * (2.0 / self.n)
        return loss, grad

    def _loss_grad_chunked(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The same on the CPU in chunks of CPU_CHUNK points: the temporaries (r, X * r) then
        come back from the allocator's heap instead of fresh pages from the kernel every epoch
        (an allocation past glibc's 32 MB mmap threshold is zero-filled by page faults), about
        half the time at n = 10^7 (benchmarks/distributed.py)."""
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
            w0 = w0 + 0.1 * torch.randn(2, generator=torch.Generator().manual_seed(seed))
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
        gen = torch.Generator().manual_seed(seed)
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
        # The walker's k candidates, forward only, in chunks of candidate_chunk points (the
        # n x k block is never whole): bce(z, y) = softplus(z) - y z, and for a 0/1 label that is
        # softplus(s z) with s = 1 - 2y, exactly. The sign goes into the chunk's features (d x c,
        # not the k x c block), so the block sees one matmul and SoftplusSums (elementwise work
        # in place, then a row sum in float64): the per-point terms in float32 and their sums in
        # the wide float, the ranking rule as before, with no cancellation in the terms
        # (binary_cross_entropy_with_logits computes (1 - y) z - log_sigmoid(z), which loses
        # eps |z| where y = 0 and z << 0). Other labels (soft ones, given through the API) keep
        # the loss as trained, in the same chunks.
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
        gen = torch.Generator().manual_seed(p.seed + 3)
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


class MLPProblem(Problem):
    """A 2-16-16-1 tanh network (337 weights) classifying two interleaved moons (binary
    cross-entropy). More than two weights: the surface panel shows the plane through w0 spanned
    by two random directions, filter-normalised as in Li et al. 2018, "Visualizing the Loss
    Landscape of Neural Nets" (each neuron's slice of a direction scaled to the norm of that
    neuron's weights, biases left out), fixed for the whole run so paths stay comparable.
    """

    name = "mlp"
    sizes = (2, 16, 16, 1)
    surface_width = 48

    def __init__(
        self, n: int = 200, seed: int = 17, device: str | torch.device = "cpu", **_: object
    ) -> None:
        self.n, self.seed, self.device = n, seed, torch.device(device)
        gen = torch.Generator().manual_seed(seed)
        half = n // 2
        t = torch.rand(n, generator=gen) * math.pi
        upper = torch.stack([torch.cos(t[:half]), torch.sin(t[:half])], 1)
        lower = torch.stack([1 - torch.cos(t[half:]), 0.5 - torch.sin(t[half:])], 1)
        x = torch.cat([upper, lower]) + 0.1 * torch.randn(n, 2, generator=gen)
        self.x = ((x - x.mean(0)) / x.std(0)).to(self.device)
        self.y = torch.cat([torch.zeros(half), torch.ones(n - half)]).to(self.device)
        self.shapes = [(a, b) for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True)]
        parts = []
        for fan_in, fan_out in self.shapes:  # Xavier-uniform weights, zero biases
            bound = math.sqrt(6 / (fan_in + fan_out))
            parts += [
                (torch.rand(fan_in * fan_out, generator=gen) * 2 - 1) * bound,
                torch.zeros(fan_out),
            ]
        self.w0 = torch.cat(parts).to(self.device)

    def _layers(self, W: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Weights (k x in x out) and biases (k x out) of every layer, for k columns of W."""
        out, i = [], 0
        for fan_in, fan_out in self.shapes:
            w = W[i : i + fan_in * fan_out].T.reshape(-1, fan_in, fan_out)
            i += fan_in * fan_out
            b = W[i : i + fan_out].T
            i += fan_out
            out.append((w, b))
        return out

    def _terms(self, W: torch.Tensor) -> torch.Tensor:
        h = self.x.expand(W.shape[1], -1, -1)  # k x n x 2
        layers = self._layers(W)
        for j, (w, b) in enumerate(layers):
            h = torch.bmm(h, w) + b[:, None, :]
            if j < len(layers) - 1:
                h = torch.tanh(h)
        logits = h[..., 0]  # k x n
        return torch.nn.functional.binary_cross_entropy_with_logits(
            logits, self.y.expand_as(logits), reduction="none"
        )

    def losses(self, W: torch.Tensor) -> torch.Tensor:
        return self._terms(W).mean(1)

    def rank_error(self) -> float:
        return float32_terms_error(self.n)

    def rank_losses(self, W: torch.Tensor) -> torch.Tensor:
        # The walker's k candidates, forward only, in chunks of candidate_chunk points (the
        # k x 16 x n activations are never whole), laid out features x points: the first layer
        # of all k candidates is one matmul (16k x 2 by 2 x c), each later one a batched matmul
        # with the points as the wide dimension (about twice the speed of points x features on
        # this CPU), bias and tanh in place. The loss bce(z, y) = softplus((1 - 2y) z) for the
        # 0/1 labels: the sign folded into the logits in place, then SoftplusSums (float32
        # terms, float64 row sums: the ranking rule as before).
        wide = wide_dtype(self.device)
        k = W.shape[1]
        layers = self._layers(W.detach().to(torch.float32))
        ws = [w.transpose(1, 2).contiguous() for w, _ in layers]  # k x out x in
        bs = [b[:, :, None] for _, b in layers]  # k x out x 1
        first, first_bias = ws[0].reshape(-1, ws[0].shape[2]), bs[0].reshape(-1, 1)
        total = torch.zeros(k, dtype=wide, device=self.device)
        step = candidate_chunk(self.device, k * max(self.sizes[1:]))
        softplus = SoftplusSums(k, min(step, self.n), self.device, wide)
        with torch.no_grad():
            for s in range(0, self.n, step):
                x, y = self.x[s : s + step], self.y[s : s + step]
                h = torch.addmm(first_bias, first, x.T).view(k, -1, len(y)).tanh_()
                for j in range(1, len(ws)):
                    h = torch.bmm(ws[j], h).add_(bs[j])
                    if j < len(ws) - 1:
                        h.tanh_()
                z = h[:, 0]  # k x c logits
                z.addcmul_(z, y, value=-2)  # (1 - 2y) z, exactly
                total += softplus(z)
        return total / self.n

    def accuracy(self, w: torch.Tensor) -> float:
        h = self.x[None]
        layers = self._layers(w[:, None])
        for j, (lw, b) in enumerate(layers):
            h = torch.bmm(h, lw) + b[:, None, :]
            if j < len(layers) - 1:
                h = torch.tanh(h)
        return float(((h[0, :, 0] > 0).float() == self.y).float().mean())

    def minimum(self) -> None:
        return None  # the infimum is 0 (the moons are separable); no point attains it

    def shard(self, rank: int, world: int, device: torch.device) -> MLPProblem:
        lo, hi = span(self.n, rank, world)
        part = self._moved(device)
        part.x, part.y, part.n = self.x[lo:hi].to(device), self.y[lo:hi].to(device), hi - lo
        return part

    def sample(self, m: int) -> MLPProblem:
        if m >= self.n:
            return self
        idx = self._sample_rows(m)
        part = copy.copy(self)
        part.x, part.y, part.n = self.x[idx], self.y[idx], m
        return part

    def plane(self) -> tuple[np.ndarray, np.ndarray]:
        """The one plane (walker_tui.core.plane) through w0; a layer is stored fan_in x fan_out, so
        its neurons (filters) lie along dimension 1, and its biases get no direction."""
        w0 = host64(self.w0)
        parts, dims, i = [], [], 0
        for fan_in, fan_out in self.shapes:
            parts += [w0[i : i + fan_in * fan_out].view(fan_in, fan_out)]
            parts += [w0[i + fan_in * fan_out : i + fan_in * fan_out + fan_out]]
            dims += [1, 0]
            i += fan_in * fan_out + fan_out
        return w0.numpy(), directions(parts, self.seed, dims).numpy()


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
    "mlp": MLPProblem,
}
