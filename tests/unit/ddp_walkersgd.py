"""Run by test_optim_ddp.py under torchrun (gloo): WalkerSGD in a DistributedDataParallel loop,
each rank on its own batches, in each mode; prints one line a mode when every rank holds the
same weights and took the same winner after every step."""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist
from torch import nn

from walker_tui import WalkerSGD


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.f = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Dropout(0.1), nn.Linear(16, 2))

    def forward(self, x, y):
        return nn.functional.cross_entropy(self.f(x), y)


def same_everywhere(t: torch.Tensor) -> bool:
    got = [torch.zeros_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(got, t)
    return all(torch.equal(got[0], g) for g in got)


def main() -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(100 + rank)  # each rank its own data
    x = torch.randn(128, 8, generator=gen)
    y = (x[:, 0] * x[:, 1] > 0).long()
    for mode in sys.argv[1:]:
        model = nn.parallel.DistributedDataParallel(Net())
        adam = mode.startswith("adam_")  # along adam: steps at a reused rate (core/schedule.py)
        mode = mode.removeprefix("adam_")
        kwargs = {"model": model} if mode == "attached" else {}
        if mode == "unsynced":  # the control: each rank's own decision, so they part
            kwargs = {"model": model, "sync": False}
        if adam:
            kwargs["direction"] = "adam"
        opt = WalkerSGD(model.parameters(), lrs=None if adam else "0.03,0.1,0.3,1,3",
                        forward_only=mode == "forward_only", **kwargs)  # fmt: skip
        differed, reused = False, 0
        for step in range(40 if adam else 6):
            idx = torch.randint(0, 128, (32,), generator=gen)
            xb, yb = x[idx], y[idx]
            if mode in ("attached", "unsynced"):
                model(xb, yb).backward()
                opt.step()
                opt.zero_grad()
            else:

                def closure(opt=opt, model=model, xb=xb, yb=yb):
                    opt.zero_grad()
                    loss = model(xb, yb)
                    if torch.is_grad_enabled():
                        loss.backward()
                    return loss

                opt.step(closure)
            flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
            if mode == "unsynced":
                parted = not same_everywhere(flat)
                continue
            assert same_everywhere(flat), (mode, step)
            if opt.last is not None:
                assert same_everywhere(torch.tensor([opt.last.winner])), (mode, step)
                assert same_everywhere(torch.tensor([opt.last.scored, opt.last.lr])), (mode, step)
                reused += not opt.last.scored
                local = torch.tensor(opt.last.losses)
                differed |= not same_everywhere(local * 0 + float(xb.sum()))
        if mode == "unsynced":
            assert parted  # (without the averaging the ranks' weights differ)
            if rank == 0:
                print("unsynced ranks parted", flush=True)
            continue
        assert differed  # (the ranks did see different batches)
        assert reused > 0 if adam else reused == 0
        if rank == 0:
            print(f"same weights on every rank: {'adam_' * adam}{mode}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
