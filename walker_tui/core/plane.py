"""The one plane a model's walk is drawn in: two random directions through the start weights,
filter-normalised as in Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets" (NeurIPS):
each filter (a row of a weight matrix, an output channel of a convolution) of a direction is
scaled to the norm of that filter of the weights, and 1-D parameters (biases, norms' scales)
get none. A model with no filter at all gets plain random directions scaled to the weights'
norm. The engine's model problems, the built-in MLP and WalkerSGD's recordings all draw it here,
so the same model and seed land in the same plane. Pure torch, no UI."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from walker_tui.core.seeds import seed64


def directions(
    parts: Sequence[torch.Tensor], seed: int, filter_dims: Sequence[int] | None = None
) -> torch.Tensor:
    """The plane's two directions as a d x 2 float64 tensor (on the CPU), laid out as the parts
    flattened one after another. ``parts``: the start weights in their shapes; ``filter_dims``:
    per part, the dimension that indexes its filters (0, torch's layout, by default; the
    built-in MLP stores a layer as fan_in x fan_out, its neurons along 1)."""
    parts = [p.detach().to("cpu", torch.float64) for p in parts]
    dims = list(filter_dims) if filter_dims is not None else [0] * len(parts)
    total = sum(p.numel() for p in parts)
    filters = any(p.dim() >= 2 for p in parts)
    gen = torch.Generator().manual_seed(seed64(int(seed) + 1))
    dirs = []
    for _ in range(2):
        d = torch.randn(total, generator=gen, dtype=torch.float64)
        if filters:
            i = 0
            for p, dim in zip(parts, dims, strict=True):
                seg = d[i : i + p.numel()].view(p.shape)
                if p.dim() >= 2:
                    rows, ref = seg.movedim(dim, 0), p.movedim(dim, 0)
                    rows = rows.reshape(rows.shape[0], -1)
                    ref = ref.reshape(ref.shape[0], -1)
                    scale = ref.norm(dim=1) / (rows.norm(dim=1) + 1e-10)
                    shape = [1] * p.dim()
                    shape[dim] = -1
                    seg.mul_(scale.view(shape))
                else:
                    seg.zero_()
                i += p.numel()
        else:
            size = float(torch.cat([p.reshape(-1) for p in parts]).norm()) if parts else 0.0
            d *= max(size, 1.0) / max(float(d.norm()), 1e-30)
        dirs.append(d)
    return torch.stack(dirs, 1)
