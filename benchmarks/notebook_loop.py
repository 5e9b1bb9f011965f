"""The notebook's own walker and stepper loops, kept faithfully as the performance baseline.

The bodies follow the "Walker SGD" notebook cell for cell (with the lines its export lost filled in
as the seed README describes): autograd over all k columns, `argmin`, `backward()` on the winner,
copy the winner to every column, one `.item()` per epoch for the printed loss and the stop test.
Only the globals became arguments and the prints became returned rows.
"""

from __future__ import annotations

import torch


def mse(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((y_hat - y) ** 2).mean(0)


def train_walker_sgd(x, y, w0, lrs, n_epochs=100, min_loss=0.1):
    """The notebook's walker; returns [(epoch, lr, loss)] as it would have printed them."""
    device = x.device
    lrs = torch.tensor(lrs, dtype=torch.float32).to(device)
    n_lrs = lrs.size(0)
    w = w0.clone().to(device)[:, None].repeat(1, n_lrs).requires_grad_()
    rows = []
    for i in range(n_epochs):
        y_hat = x @ w
        losses = mse(y, y_hat)
        bst_lr_idx = losses.argmin()
        bst_loss = losses[bst_lr_idx]
        bst_loss.backward()
        with torch.no_grad():
            grad = w.grad[:, bst_lr_idx]
        w.data = w.data[:, bst_lr_idx].repeat(n_lrs, 1).transpose(0, 1)
        w.data -= grad[:, None] * lrs[None, :]
        w.grad.zero_()
        rows.append((i + 1, lrs[bst_lr_idx].item(), bst_loss.item()))
        if bst_loss.item() < min_loss:
            break
    return rows
