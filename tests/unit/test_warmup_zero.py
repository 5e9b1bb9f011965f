"""A scheduler whose lr starts at 0 (a linear warm-up, as Hugging Face's
get_linear_schedule_with_warmup): WalkerSGD along adam on one rate stays Adam at that rate.
At lr 0 every candidate is w: Adam feeds that step's gradient to its moments and moves
nothing; the walker had taken it as a step not taken and restarted Adam's first moment, and
differed from Adam by 6e-3 from then on."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from walker_tui import WalkerSGD


def _net() -> torch.nn.Module:
    torch.manual_seed(1)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def test_a_warm_up_from_lr_0_along_adam_is_adams_own():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(256, 4, generator=gen)
    y = x.sum(1, keepdim=True).tanh()
    warm = lambda t: min(1.0, t / 5)  # noqa: E731 (lr 0 at the first step)
    a, b = _net(), _net()
    adam = torch.optim.Adam(a.parameters(), lr=0.01)
    walker = WalkerSGD(b.parameters(), lrs=[0.01], direction="adam")
    schedules = [torch.optim.lr_scheduler.LambdaLR(o, warm) for o in (adam, walker)]

    def closure():
        walker.zero_grad()
        loss = F.mse_loss(b(x), y)
        loss.backward()
        return loss

    for step in range(12):
        adam.zero_grad()
        F.mse_loss(a(x), y).backward()
        adam.step()
        walker.step(closure)
        for s in schedules:
            s.step()
        if step == 0:  # lr 0: nothing moved, and the step says so
            assert walker.last.lr == 0.0 and not walker.last.moved
        pairs = zip(a.parameters(), b.parameters(), strict=True)
        apart = max((p - q).abs().max().item() for p, q in pairs)
        assert apart < 1e-6, (step, apart)


def test_a_step_at_lr_0_reads_as_lr_0_not_as_stay():
    """Replayed, such a step (every rate 0, moved False) read 'stayed put, best lr stay' with
    every bar labelled 'stay' and the status 'lr stay', as if the run had --stay."""
    import numpy as np

    from walker_tui.core.trainers.loop import HostEpoch
    from walker_tui.ui.widgets.candidates import CandidateBars, rate_label
    from walker_tui.viewmodel.frames import rate_words, taken

    rec = HostEpoch(epoch=1, weights=np.zeros((2, 3)), losses=np.array([0.5, 0.5, 0.5]),
                    winner=1, lr=0.0, loss=0.5, diverged=False, rates=np.zeros(3),
                    moved=False, evals=3)  # fmt: skip
    assert rate_words(*taken(rec, "step")[:2], [0.0] * 3, False) == "lr 0"
    assert rate_label(0.0, [0.0, 0.0]) == "0" and rate_label(0.0, [0.1, 0.0]) == "stay"
    names = [rate_label(r, [0.0] * 3) for r in [0.0] * 3]
    title = CandidateBars().title(2, names, rec.losses, 1, 0, False, None, True, 60, 0.5)
    assert "lr 0" in title and "stay" not in title, title
    stayed = HostEpoch(epoch=3, weights=np.zeros((2, 3)), losses=np.array([0.5, 0.4, 0.6]),
                       winner=1, lr=0.0, loss=0.5, diverged=False, rates=np.array([0.1, 0.2, 0.0]),
                       moved=False, evals=9)  # fmt: skip
    assert taken(stayed, "step")[0] == "stay"  # (a real stay still says so)
