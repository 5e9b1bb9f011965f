"""The edge warning along adam, where most steps reuse a rate: only the steps that scored the
grid count, and the warning says so (it said 'of the last 20 steps', where those 20 were
scorings some hundreds of steps apart)."""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn

from walker_tui import WalkerSGD


def test_along_adam_the_edge_warning_counts_the_steps_that_scored():
    x = torch.linspace(-1, 1, 64)[:, None]
    y = 3 * x[:, 0] + 1
    torch.manual_seed(0)
    model = nn.Linear(1, 1)
    opt = WalkerSGD(model.parameters(), lrs="log:1e-4:1e-3:5", direction="adam")  # far too small

    def closure():
        opt.zero_grad()
        loss = ((model(x)[:, 0] - y) ** 2).mean()
        loss.backward()
        return loss

    scored, at = 0, None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(1, 250):
            opt.step(closure)
            scored += opt.last.scored
            if at is None and any("outside the grid" in str(w.message) for w in caught):
                at = step
    edge = [w for w in caught if "outside the grid" in str(w.message)]
    assert len(edge) == 1, [str(w.message) for w in caught]
    text = str(edge[0].message)
    assert "of the last 20 steps that scored the grid" in text, text
    assert at is not None and at > 20 and scored < at  # (more steps than scorings went by)
    assert math.isfinite(opt.last.loss)
