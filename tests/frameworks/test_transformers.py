"""WalkerSGD with Hugging Face transformers (the frameworks extra): a tiny GPT-2 built locally
from a GPT2Config (no download) trains attached, with no closure, in a plain loop under
get_linear_schedule_with_warmup and in the Trainer, optimizers=(WalkerSGD(...), None)."""

from __future__ import annotations

import os

import pytest
import torch

WHY = "transformers is not installed: pip install walker-tui[frameworks]"
transformers = pytest.importorskip("transformers", reason=WHY)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from walker_tui import WalkerSGD  # noqa: E402


def tiny_gpt2(seed: int = 0):
    torch.manual_seed(seed)
    config = transformers.GPT2Config(vocab_size=32, n_positions=16, n_embd=32, n_layer=2,
                                     n_head=2)  # fmt: skip
    return transformers.GPT2LMHeadModel(config)


def tokens(n: int = 64, length: int = 16):
    gen = torch.Generator().manual_seed(1)
    start = torch.randint(0, 32, (n, 1), generator=gen)
    return (start + torch.arange(length)) % 32  # a pattern a tiny model learns: count up


def test_a_plain_loop_with_a_warmup_schedule_and_no_closure():
    model = tiny_gpt2()
    model.train()
    opt = WalkerSGD(model.parameters(), direction="adam", model=model)
    sched = transformers.get_linear_schedule_with_warmup(opt, 3, 12)
    data = tokens()
    seen, losses = [], []
    for step in range(12):
        batch = data[(step * 8) % 64 :][:8]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad()
        losses.append(float(loss.detach()))
        seen.append(opt.param_groups[0]["lr"])
    assert seen[:3] == pytest.approx([1 / 3, 2 / 3, 1.0])  # the warm-up scales the grid
    assert opt.last.step == 11 and len(opt.last.losses) == 13
    assert losses[-1] < losses[0]
    with torch.no_grad():  # (an eval forward is not scored)
        model.eval()
        model(input_ids=data[:4], labels=data[:4])
    assert opt.last.step == 11


@pytest.mark.parametrize(
    "more",
    [{}, {"gradient_accumulation_steps": 2, "lr_scheduler_type": "cosine", "warmup_steps": 2}],
)
def test_the_hugging_face_trainer_with_walkersgd(tmp_path, more):
    pytest.importorskip("accelerate", reason="the Trainer needs accelerate")
    model = tiny_gpt2()
    data = tokens()
    dataset = [{"input_ids": row, "labels": row} for row in data]
    opt = WalkerSGD(model.parameters(), direction="adam", model=model)
    batch = 8 // more.get("gradient_accumulation_steps", 1)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), max_steps=6, per_device_train_batch_size=batch, report_to=[],
        logging_steps=1, save_strategy="no", use_cpu=True, disable_tqdm=True, **more,
    )  # fmt: skip
    trainer = transformers.Trainer(model=model, args=args, train_dataset=dataset,
                                   optimizers=(opt, None))  # fmt: skip
    trainer.train()
    assert opt.last.step == 5  # 6 optimizer steps, the first takes the gradient
    logged = [row["loss"] for row in trainer.state.log_history if "loss" in row]
    assert len(logged) == 6 and all(v == v for v in logged)


def test_an_accelerate_loop_with_batch_norm():
    accelerate = pytest.importorskip("accelerate", reason="accelerate is not installed")
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                        nn.Linear(4 * 6 * 6, 3))  # fmt: skip

    class WithLoss(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x, y):
            return nn.functional.cross_entropy(self.net(x), y)

    model = WithLoss()
    opt = WalkerSGD(model.parameters(), lrs="0.01,0.1,1", model=model)
    data = torch.utils.data.TensorDataset(torch.randn(128, 1, 8, 8), torch.randint(0, 3, (128,)))
    acc = accelerate.Accelerator(cpu=True)
    model, wrapped, loader = acc.prepare(model, opt, torch.utils.data.DataLoader(data, 16))
    for xb, yb in loader:
        acc.backward(model(xb, yb))
        wrapped.step()
        wrapped.zero_grad()
    assert opt.last.step == 7 and opt.scorer.vmapped
    assert int(net[1].num_batches_tracked) == 8  # the loop's own forwards, no candidate's
