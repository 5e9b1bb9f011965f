"""A complete user problem for walker-tui: ``walker-tui --problem examples/my_model.py:problem``.

``problem()`` returns ``(model, loss_fn, (inputs, targets), (held_inputs, held_targets))``: a
torch.nn.Module, a loss giving a scalar (a mean over the batch), the training data and, optional,
held-out data whose loss (and accuracy: integer class targets, one score per class) is shown
beside the training loss. walker-tui seeds torch with --seed before calling it, so the initial
weights follow the seed; it moves the model and the data to --device itself.
"""

import torch


def problem():
    gen = torch.Generator().manual_seed(0)  # the data stay the same for every --seed
    x = torch.randn(1200, 10, generator=gen)
    true_w = torch.randn(10, 3, generator=gen)
    y = (x @ true_w + 0.5 * torch.randn(1200, 3, generator=gen)).argmax(1)  # 3 classes
    model = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
    loss_fn = torch.nn.functional.cross_entropy
    return model, loss_fn, (x[:1000], y[:1000]), (x[1000:], y[1000:])
