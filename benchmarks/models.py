"""A walker step on a model against a stepper step, side by side (issue 13's goal).

    python benchmarks/models.py [--problem digits|FILE.py:FUNC] [--k 10] [--batch-sizes 64,256,0]
                                [--epochs 3] [--repeat 5] [--device cpu]

For each batch size (0: all the data) it times whole passes over the data (epochs) of: the
walker scoring its k candidates in one vmapped forward-only pass, the same walker scoring them
one forward at a time (vmap off), and the stepper; and, for scale, one forward and one
forward+backward of the model on a batch. All in one run, interleaved, medians of --repeat.

The goal: a walker step costs at most 1 + k/3 stepper steps (a forward and backward cost about
three forwards, so that is the price of k forward-only candidates and the winner's gradient).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from walker_tui.config import Config  # noqa: E402
from walker_tui.core.devices import device_name, resolve_device  # noqa: E402
from walker_tui.core.problems.torch_model import make_model_problem  # noqa: E402
from walker_tui.core.trainers.racers import make_racer  # noqa: E402
from walker_tui.core.trainers.walker import make_walker  # noqa: E402


def measure(size: int, args: argparse.Namespace, device, sync, lrs: str) -> None:
    """One row: the timings at one batch size (0: all the data)."""
    batch = size or None
    problem = make_model_problem(args.problem, 0, device, batch_size=batch)
    cfg = Config(problem=args.problem, lrs_spec=lrs, device=str(device), batch_size=batch)
    steps = -(-problem.n // batch) if batch and batch < problem.n else 1

    def timed(make, vmapped: bool = True):
        def once() -> float:
            # the steps alone: the inner trainer on each batch of a pass, without the
            # loss on all the data and the held-out figures that end every epoch
            problem.vmapped = vmapped
            inner = make().inner
            inner.step()  # the start: one gradient
            sync()
            t0 = time.perf_counter()
            for epoch in range(1, args.epochs + 1):
                for idx in problem.batches(batch or problem.n, epoch):
                    problem.use_batch(idx)
                    inner.step()
            sync()
            problem.use_batch(None)
            return (time.perf_counter() - t0) / (args.epochs * steps)

        return once

    runs = {
        "stepper": timed(lambda: make_racer("stepper", problem, 0.1)),
        "walker": timed(lambda: make_walker(problem, cfg)),
        "one by one": timed(lambda: make_walker(problem, cfg), vmapped=False),
    }
    x, y = problem.x[: batch or problem.n], problem.y[: batch or problem.n]
    w = problem.w0.clone()

    def forward() -> float:
        sync()
        t0 = time.perf_counter()
        with torch.no_grad():
            problem._loss_at(w, x, y)
        sync()
        return time.perf_counter() - t0

    def backward() -> float:
        sync()
        t0 = time.perf_counter()
        problem.use_batch(torch.arange(len(x), device=problem.device))
        problem.loss_grad(w)
        problem.use_batch(None)
        sync()
        return time.perf_counter() - t0

    # the vmapped pass in its two parts, k candidates near w0: the network alone, and the loss
    # alone on the k networks' outputs (per-sample work, e.g. log_softmax, that stacking the
    # candidates cannot share: its floor is k times the one-candidate loss)
    gen = torch.Generator().manual_seed(0)
    rows = (w[:, None] + 0.01 * torch.randn(w.numel(), args.k, generator=gen).to(w)).T.contiguous()
    net = torch.func.vmap(
        lambda v: torch.func.functional_call(problem.model, problem._params(v), (x,)),
        randomness="same",
    )
    with torch.no_grad():
        outs = net(rows)
    loss_k = torch.func.vmap(problem.loss_fn, in_dims=(0, None))

    def timed_part(fn):
        def once() -> float:
            sync()
            t0 = time.perf_counter()
            with torch.no_grad():
                fn()
            sync()
            return time.perf_counter() - t0

        return once

    runs |= {
        "fwd": forward,
        "fwd+bwd": backward,
        "net k": timed_part(lambda: net(rows)),
        "loss k": timed_part(lambda: loss_k(outs, y)),
        "loss 1": timed_part(lambda: problem.loss_fn(outs[0], y)),
    }
    for fn in runs.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeat):
        for name, fn in runs.items():
            times[name].append(fn())
    med = {name: statistics.median(t) for name, t in times.items()}
    ratio = med["walker"] / med["stepper"]
    # what k separate forwards and one forward+backward of this model cost, in steps of a
    # stepper (its forward+backward): the goal's 1 + k/3 assumes a backward costs two forwards
    floor = (args.k * med["fwd"] + med["fwd+bwd"]) / med["fwd+bwd"]
    goal = 1 + args.k / 3
    ms = {name: f"{v * 1e3:.3f}ms" for name, v in med.items()}
    step = med["fwd+bwd"]
    print(
        f"{size or 'all':>6} {steps:>10} {ms['stepper']:>10} {ms['walker']:>10} "
        f"{ms['one by one']:>11} {ms['fwd']:>8} {ms['fwd+bwd']:>8} {ratio:>14.2f}x "
        f"{floor:>11.2f}x {goal:>5.2f}x {'met' if ratio <= goal else 'MISSED'}"
    )
    print(
        f"{'':>6} forward's share of a step {med['fwd'] / step:.2f}; the vmapped pass's parts, "
        f"in steps: network (k) {med['net k'] / step:.2f}, loss (k) {med['loss k'] / step:.2f} "
        f"(k x the one-candidate loss: {args.k * med['loss 1'] / step:.2f})"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--problem", default="digits")
    p.add_argument("--k", type=int, default=10, help="the walker's rates (10)")
    p.add_argument("--batch-sizes", default="64,256,0", help="0: all the data (64,256,0)")
    p.add_argument("--epochs", type=int, default=3, help="passes per timed run (3)")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    device = resolve_device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    torch.set_num_threads(torch.get_num_threads())
    lrs = f"log:0.001:1:{args.k}"
    print(
        f"{args.problem} on {device_name(device)}, k = {args.k} ({lrs}), "
        f"{torch.get_num_threads()} threads; median of {args.repeat} runs of {args.epochs} passes"
    )
    head = (
        f"{'batch':>6} {'steps/pass':>10} {'stepper':>10} {'walker':>10} {'one by one':>11} "
        f"{'fwd':>8} {'fwd+bwd':>8} {'walker/stepper':>15} {'k fwd+1 bwd':>12} {'goal':>6}"
    )
    print(head)
    for size in [int(s) for s in args.batch_sizes.split(",")]:
        measure(size, args, device, sync, lrs)

    print(
        "(times per step: one mini-batch; walker: k candidates in one vmapped forward-only pass "
        "and the winner's gradient; one by one: the same with vmap off; k fwd+1 bwd: k forwards "
        "and one forward+backward of this model over one forward+backward)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
