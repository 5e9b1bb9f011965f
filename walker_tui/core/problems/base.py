"""What is optimised: data, a batched loss over k candidate weight vectors, and a gradient.

Pure torch, no UI imports. Every problem draws its data from a CPU generator seeded by the user's
seed and only then moves it to the device, so a seed gives the same data on every device.
The families themselves: functions.py, regression.py and mlp.py (by name: zoo.py).
"""

from __future__ import annotations

import copy
import threading
from typing import Any

import numpy as np
import torch

from walker_tui.catalog import MODEL_PROBLEMS, PROBLEMS  # noqa: F401  (re-exported: the names)
from walker_tui.core.ranking import host64, to_device
from walker_tui.core.seeds import seed64

# Floats of the candidates' block (points x k candidates x width) one chunk of a candidate pass
# holds: on the CPU 2^17 a torch thread, so the block stays in cache and its memory comes back
# from the heap; on a GPU 2^24, for few launches. The n x k block is never made whole
# (measurements: docs/design/performance.md).
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
    within about an ulp, then summed in the wide float. Not torch's softplus or logaddexp: their
    exp takes a slow path where |z| > 87 (exp into float32's denormals, ~200x here), just where a
    candidate with a large rate puts most points; here e is exp(-min(|z|, 87)), an error below
    2e-38 a term. log1p(e) is torch's own, the tightest form against float64
    (tests/unit/test_candidates.py; the forms tried: docs/design/performance.md)."""

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
        torch.log1p(e, out=u)
        u.add_(z, alpha=0.5)  # the term, in float32
        return u.sum(1, dtype=self.wide)


def float32_terms_error(n: int) -> float:
    """The relative rounding-error bound of a mean of ``n`` nonnegative float32 terms summed in
    float64 (logistic regression's and the mlp's rank_losses): 4 units of float32 rounding a
    term (softplus within an ulp, the logits' products and sums within a few more), plus the
    float64 sum's own n units of 2^-53 (docs/design/architecture.md: ties within the rounding)."""
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
    batched = False  # True: epochs are passes over the data in mini-batches (batched.Batched)
    notice: str | None = None  # a one-line notice for the user (a model scored one at a time)
    label: str = ""  # how errors name it (a model's spec); empty: its name
    batch_size: int | None = None  # a model's mini-batch (None: all the data)
    held: tuple[torch.Tensor, torch.Tensor] | None = None  # a model's held-out (inputs, targets)

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
        gen = torch.Generator().manual_seed(seed64(self.seed + 1))
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
        gen = torch.Generator().manual_seed(seed64(self.seed + 2))
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


def fresh_w0(seed: int) -> list[float]:
    """The notebook's benchmark start: ``manual_seed(seed); rand(2) * 1000 - 500``."""
    gen = torch.Generator().manual_seed(seed64(seed))
    return (torch.rand(2, generator=gen) * 1000 - 500).tolist()
