"""WalkerSGD inside PyTorch Lightning (the frameworks extra): a tiny LightningModule trains in
each supported way; a scheduler from configure_optimizers scales the grid; accumulation works
attached and is one error with a closure; the logged loss is the winner's."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

WHY = "Lightning is not installed: pip install walker-tui[frameworks]"
pl = pytest.importorskip("lightning.pytorch", reason=WHY)

from walker_tui import WalkerSGD  # noqa: E402


def loader(n: int = 256, batch: int = 32):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 8, generator=gen)
    y = (x[:, 0] * x[:, 1] > 0).long()
    data = torch.utils.data.TensorDataset(x, y)
    return torch.utils.data.DataLoader(data, batch_size=batch, shuffle=False)


class Tiny(pl.LightningModule):
    def __init__(self, attached: bool = True, forward_only: bool = False):
        super().__init__()
        torch.manual_seed(0)
        self.f = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 2))
        self.attached, self.forward_only = attached, forward_only
        self.logged, self.steps, self.outputs = [], 0, []

    def forward(self, x, y):  # the loss: the attached optimizer scores candidates with it
        return nn.functional.cross_entropy(self.f(x), y)

    def training_step(self, batch, batch_idx):
        self.steps += 1
        loss = self(*batch)
        if not self.trainer.optimizers[0].scoring:  # a candidate's call is not the step's loss
            self.logged.append(float(loss.detach()))
            self.log("train_loss", loss, on_epoch=True)
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.outputs.append(float(outputs["loss"]))

    def configure_optimizers(self):
        model = self if self.attached else None
        opt = WalkerSGD(
            self.parameters(), lrs="0.03,0.1,0.3,1,3", model=model, forward_only=self.forward_only
        )
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.5)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def fit(module: Tiny, **kwargs) -> pl.Trainer:
    quiet = {"enable_progress_bar": False, "enable_model_summary": False}
    trainer = pl.Trainer(
        max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False, **quiet, **kwargs
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*(num_workers|bottleneck|log_every_n_steps).*")
        trainer.fit(module, loader())
    return trainer


def test_attached_in_lightning_one_call_a_step_and_the_winners_loss():
    module = Tiny(attached=True)
    trainer = fit(module)
    opt = trainer.optimizers[0]
    assert module.steps == 8  # the closure ran once a step: candidates scored forward only
    assert opt.last.step == 7 and opt.last.calls == 5
    assert module.outputs == pytest.approx(module.logged)  # outputs["loss"]: the winner's
    assert opt.param_groups[0]["lr"] == 0.25  # StepLR from configure_optimizers, every step
    # the last decision, taken in the 8th forward, was prepared by the 7th step at lr 0.5
    assert opt.last.rates[0] == pytest.approx(0.03 * 0.5)
    x, y = loader().dataset.tensors
    with torch.no_grad():
        assert float(module(x, y)) < float(Tiny()(x, y))


def test_a_closure_in_lightning_trains_and_forward_only_says_once_it_cannot():
    module = Tiny(attached=False)
    fit(module)
    assert module.steps == 1 + 8 * 5  # the first step's gradient, then k candidate calls a step
    module = Tiny(attached=False, forward_only=True)
    with pytest.warns(UserWarning, match=r"forward_only=True\) cannot take effect") as caught:
        fit(module)
    assert sum("cannot take effect" in str(w.message) for w in caught) == 1
    assert len(module.logged) == 8  # only the winner's call logged (scoring was False)


def test_accumulation_attached_sums_micro_batches_and_with_a_closure_is_one_error():
    module = Tiny(attached=True)
    trainer = fit(module, accumulate_grad_batches=2)
    assert trainer.optimizers[0].last.step == 3  # 4 optimizer steps, the first takes the grad
    with pytest.raises(RuntimeError, match="accumulate_grad_batches"):
        fit(Tiny(attached=False), accumulate_grad_batches=2)
