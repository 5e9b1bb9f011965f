"""WalkerSGD against AdamW in people's own loops (issue 29): a step's cost, and the loss it buys.

    python benchmarks/walkersgd.py [--problems digits,cnn,chars] [--steps 200] [--seed 0]

Problems: digits (the app's 64-32-10 MLP on the UCI digits, batches of 64), cnn (a small CNN on
the same 8x8 images: two 3x3 convolutions, 8 and 16 channels, batches of 64) and chars (a
character-level transformer, 2 layers 64 wide, 4 heads, context 32, on this repository's own
Python source, its first 60,000 characters, batches of 32; each problem's training loss
measured on the same 512 of its samples). Optimizers: WalkerSGD along adam on its default grid
(13 rates, catalog.model_lrs) in each mode: ``closure`` (k calls with grad), ``forward_only``
(k calls under no_grad, one at the winner) and ``attached`` (no closure: k candidates vmapped
forward only, then the loop's own forward and backward); AdamW at torch's default rate (1e-3) and at
the best of 1e-3, 3e-3 and 1e-2.

Every run starts from the same weights and sees the same batches. Time is the CPU time of the
one thread torch runs on (``torch.set_num_threads(1)``, ``time.thread_time``), so another job
on the machine inflates it less than the wall time. Figures, all from one run, as ratios:
``step`` a WalkerSGD step's median time over AdamW's (the goal: at most 1 + k/3 in the
no-closure and forward-only modes, the forward-only bound), and the training loss (on the 512
samples) after equal steps and after equal CPU time (the walker's total), each over AdamW's at
its default rate and at its best (the best: the lowest loss after equal steps; below 1: the
walker ahead).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from walker_tui import WalkerSGD  # noqa: E402
from walker_tui.core.problems.torch_model import digits  # noqa: E402

MODES = ("closure", "forward_only", "attached")
ADAMW_RATES = (1e-3, 3e-3, 1e-2)
EVAL = 512  # samples the training loss is measured on (the first of the set: fixed)


class WithLoss(nn.Module):
    """A forward that returns the loss, so the attached walker sees the targets."""

    def __init__(self, net: nn.Module, loss: Callable) -> None:
        super().__init__()
        self.net, self.loss = net, loss

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss(self.net(x), y)


class CNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 4 * 4, 10),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.view(-1, 1, 8, 8))


class Block(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        att = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, c))
        return x + self.mlp(self.norm2(x))


class Chars(nn.Module):
    def __init__(self, vocab: int, width: int = 64, layers: int = 2, context: int = 32) -> None:
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, width), nn.Embedding(context, width)
        self.blocks = nn.Sequential(*(Block(width, 4) for _ in range(layers)))
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, vocab))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.tok(x) + self.pos(torch.arange(x.shape[1], device=x.device))
        return self.head(self.blocks(h))


def next_char_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def problem(name: str, seed: int):
    """(a model factory, train inputs, targets, batch size): the factory gives the same start."""
    if name in ("digits", "cnn"):
        mlp, loss, (x, y), _ = digits()
        net = (lambda: copy.deepcopy(mlp)) if name == "digits" else CNN
        return _seeded(lambda: WithLoss(net(), loss), seed), x, y, 64
    text = "".join(p.read_text() for p in sorted((ROOT / "walker_tui").rglob("*.py")))[:60_000]
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([index[c] for c in text])
    context = 32
    starts = torch.arange(0, len(ids) - context - 1, context)
    x = torch.stack([ids[s : s + context] for s in starts])
    y = torch.stack([ids[s + 1 : s + context + 1] for s in starts])
    return _seeded(lambda: WithLoss(Chars(len(chars)), next_char_loss), seed), x, y, 32


def _seeded(make: Callable[[], nn.Module], seed: int) -> Callable[[], nn.Module]:
    torch.manual_seed(seed)
    start = make().state_dict()

    def fresh() -> nn.Module:
        model = make()
        model.load_state_dict(start)
        return model

    return fresh


def full_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """The training loss on all the data (the first EVAL samples of a larger set)."""
    x, y = x[:EVAL], y[:EVAL]
    model.eval()
    with torch.no_grad():
        value = sum(
            float(model(xb, yb)) * len(xb)
            for xb, yb in zip(x.split(512), y.split(512), strict=True)
        )
    model.train()
    return value / len(x)


def train(make, x, y, batch, steps, how, rate, seed, every, until: float = 0.0):
    """One run of ``steps`` steps, and on until ``until`` seconds of step time are spent:
    (median step CPU seconds, [(cumulative step seconds, loss)] every ``every`` steps)."""
    model = make()
    if how == "adamw":
        opt = torch.optim.AdamW(model.parameters(), lr=rate)
    else:
        attached = {"model": model} if how == "attached" else {}
        opt = WalkerSGD(model.parameters(), direction="adam",
                        forward_only=how == "forward_only", **attached)  # fmt: skip
    gen = torch.Generator().manual_seed(seed + 1)
    times, points, spent = [], [(0.0, full_loss(model, x, y))], 0.0
    step = 0
    while step < steps or spent < until:
        step += 1
        idx = torch.randint(0, len(x), (batch,), generator=gen)
        xb, yb = x[idx], y[idx]
        start = time.thread_time()
        if how in ("adamw", "attached"):
            opt.zero_grad()
            model(xb, yb).backward()
            opt.step()
        else:

            def closure(xb=xb, yb=yb):
                opt.zero_grad()
                loss = model(xb, yb)
                if torch.is_grad_enabled():
                    loss.backward()
                return loss

            opt.step(closure)
        took = time.thread_time() - start
        times.append(took)
        spent += took
        if step % every == 0:
            points.append((spent, full_loss(model, x, y)))
    return statistics.median(times[2:] or times), points


def at_time(points: list[tuple[float, float]], seconds: float) -> float:
    """The loss of the last checkpoint reached within ``seconds`` of step time."""
    return [loss for spent, loss in points if spent <= seconds * 1.0001][-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", default="digits,cnn,chars")
    parser.add_argument("--steps", type=int, default=200, help="WalkerSGD steps a run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    k = len(WalkerSGD([nn.Parameter(torch.zeros(1))], direction="adam").rates)
    print(f"WalkerSGD along adam, k = {k}; goal: a step <= 1 + k/3 = {1 + k / 3:.2f} AdamW steps")
    print("problem  mode          step/AdamW  loss@steps/default  /best  loss@time/default  /best")
    for name in args.problems.split(","):
        make, x, y, batch = problem(name, args.seed)
        every = max(1, args.steps // 5)
        walkers = {m: train(make, x, y, batch, args.steps, m, None, args.seed, every)
                   for m in MODES}  # fmt: skip
        until = max(points[-1][0] for _, points in walkers.values())  # AdamW runs as long
        adamw = {r: train(make, x, y, batch, args.steps, "adamw", r, args.seed, every, until)
                 for r in ADAMW_RATES}  # fmt: skip
        at_end = len(walkers[MODES[0]][1]) - 1  # (the same checkpoints: after args.steps)
        best = min(ADAMW_RATES, key=lambda r: adamw[r][1][at_end][1])
        step_adamw = adamw[1e-3][0]
        for mode in MODES:
            step, points = walkers[mode]
            loss, spent = points[-1][1], points[-1][0]
            at_steps, at_steps_best = adamw[1e-3][1][at_end][1], adamw[best][1][at_end][1]
            print(
                f"{name:8s} {mode:13s} {step / step_adamw:10.2f}  {loss / at_steps:18.3f}  "
                f"{loss / at_steps_best:5.3f}  {loss / at_time(adamw[1e-3][1], spent):17.3f}  "
                f"{loss / at_time(adamw[best][1], spent):5.3f}"
            )
        print(f"{name:8s} (AdamW: step {step_adamw * 1e3:.2f} ms, best rate {best:g}; "
              f"walker {args.steps} steps)")  # fmt: skip


if __name__ == "__main__":
    main()
