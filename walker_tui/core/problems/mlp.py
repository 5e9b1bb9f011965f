"""The built-in MLP problem: a 2-16-16-1 tanh network classifying two interleaved moons."""

from __future__ import annotations

import copy
import math

import numpy as np
import torch

from walker_tui.core.plane import directions
from walker_tui.core.problems.base import (
    Problem,
    SoftplusSums,
    candidate_chunk,
    float32_terms_error,
    span,
)
from walker_tui.core.ranking import host64, wide_dtype
from walker_tui.core.seeds import seed64


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
        gen = torch.Generator().manual_seed(seed64(seed))
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
        # The k candidates, forward only, in chunks (the k x 16 x n activations are never
        # whole), laid out features x points, which is faster (docs/design/performance.md): the
        # first layer of all k candidates one matmul, each later one a batched matmul, bias and
        # tanh in place. For the 0/1 labels bce(z, y) = softplus((1 - 2y) z): the sign folded
        # into the logits in place, then SoftplusSums.
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
