"""Problem functions a user might write, good and bad, for tests/unit/test_models.py."""

import torch

CALLS = {"forward": 0}


def _data(n=120, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=gen)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    return x, y


def good():
    x, y = _data()
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    return model, torch.nn.functional.cross_entropy, (x[:100], y[:100]), (x[100:], y[100:])


def regression():
    x, _ = _data()
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 1.0
    model = torch.nn.Linear(4, 1)
    return model, lambda out, t: ((out[:, 0] - t) ** 2).mean(), (x, y)


def not_a_tuple():
    return torch.nn.Linear(4, 2)


def not_a_module():
    x, y = _data()
    return "model", torch.nn.functional.cross_entropy, (x, y)


def bad_data():
    return torch.nn.Linear(4, 2), torch.nn.functional.cross_entropy, [1, 2, 3]


def mismatched():
    x, y = _data()
    return torch.nn.Linear(4, 2), torch.nn.functional.cross_entropy, (x, y[:50])


def vector_loss():
    x, y = _data()
    loss = torch.nn.CrossEntropyLoss(reduction="none")
    return torch.nn.Linear(4, 2), loss, (x, y)


def frozen():
    x, y = _data()
    model = torch.nn.Linear(4, 2)
    for p in model.parameters():
        p.requires_grad_(False)
    return model, torch.nn.functional.cross_entropy, (x, y)


class Broken(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.lin(x) @ torch.ones(3, 3)  # a shape mistake: the user's line


def broken_forward():
    x, y = _data()
    return Broken(), torch.nn.functional.cross_entropy, (x, y)


def raises_itself():
    raise KeyError("no such column")  # the user's line


class LateFailure(torch.nn.Module):
    """Fine at first; fails on its 40th forward (mid-run)."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 2)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls > 40:
            raise ValueError("late failure in my forward")
        return self.lin(x)


def fails_later():
    x, y = _data()
    return LateFailure(), torch.nn.functional.cross_entropy, (x, y)


def batchnorm():
    x, y = _data()
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Tanh(), torch.nn.Linear(8, 2)
    )
    return model, torch.nn.functional.cross_entropy, (x, y)


class RankFault(torch.nn.Module):
    """Rank 1 of a torchrun job fails on its 30th forward: it raises, or (FAULT=die) is killed."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 2)
        self.calls = 0

    def forward(self, x):
        import os
        import signal

        self.calls += 1
        if os.environ.get("RANK") == "1" and self.calls == 30:
            if os.environ.get("FAULT") == "die":
                os.kill(os.getpid(), signal.SIGKILL)
            if os.environ.get("FAULT") == "hang":
                import time

                time.sleep(600)
            raise RuntimeError("rank 1 broke in my forward")
        return self.lin(x)


def rank_fault():
    x, y = _data()
    return RankFault(), torch.nn.functional.cross_entropy, (x, y)


def nan_loss():
    """A loss that is nan at the start weights (a log of a negative number)."""
    x, y = _data()
    model = torch.nn.Linear(4, 2)
    return model, lambda out, target: torch.log(-out.abs().mean() - 1.0), (x, y)
