"""The data-parallel walker: epoch time with 1 and 2 ranks, and the bytes all-reduced an epoch.

    python benchmarks/distributed.py [--problem linear] [--n 10000000] [--epochs 30]
                                     [--ranks 1,2] [--device cpu]

Each rank count runs under torchrun (gloo on the CPU, NCCL on CUDA) in one invocation of this
script, after a single process without torch.distributed as the baseline; every rank times the
same epochs after a warm-up, between barriers, and rank 0 reports the median. The bytes are
counted by wrapping torch.distributed.all_reduce. On a 2-core machine two ranks share the two
cores that one process used: expect little or no speed-up there; the point is the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def worker(args: argparse.Namespace) -> None:
    import torch
    import torch.distributed as dist

    import walker_tui.parallel.sharded as distributed
    from walker_tui.config import Config
    from walker_tui.core.trainers.walker import make_walker
    from walker_tui.viewmodel.session import build_problem

    parallel = distributed.launched()
    device = distributed.init(args.device) if parallel else torch.device(args.device)
    sent = [0, 0]  # bytes, calls
    if parallel:
        reduce = dist.all_reduce

        def counted(t, *a, **kw):
            sent[0] += t.numel() * t.element_size()
            sent[1] += 1
            return reduce(t, *a, **kw)

        dist.all_reduce = counted
    cfg = Config(problem=args.problem, n=args.n, device=str(device), min_loss=0.0,
                 lrs_spec=args.lrs, epochs=10**9)  # fmt: skip
    t0 = time.perf_counter()
    problem = build_problem(cfg, 17, device)
    built = time.perf_counter() - t0
    walker = make_walker(problem, cfg)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(3):  # warm-up (epoch 1 is the start)
        walker.step()
    sent[:] = [0, 0]
    times = []
    for _ in range(args.repeat):
        if parallel:
            dist.barrier()
        sync()
        t0 = time.perf_counter()
        for _ in range(args.epochs):
            walker.step()
        sync()
        times.append((time.perf_counter() - t0) / args.epochs)
    if distributed.rank() == 0:
        calls = sent[1] / (args.epochs * args.repeat)
        print(json.dumps({
            "ranks": distributed.world(), "epoch_ms": 1e3 * statistics.median(times),
            "bytes": sent[0] / (args.epochs * args.repeat), "calls": calls, "build_s": built,
            "loss": float(walker.loss), "device": str(device),
        }))  # fmt: skip
    if parallel:
        distributed.finish()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--problem", default="linear")
    p.add_argument("--n", type=int, default=10_000_000)
    p.add_argument("--lrs", default="0.1:1:0.1")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--ranks", default="1,2")
    p.add_argument("--device", default="cpu")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args([a for a in sys.argv[1:] if a != "--"])  # (see below)
    if args.worker:
        worker(args)
        return 0
    passed = [a for a in sys.argv[1:]]
    runs = [("one process, no torch.distributed", [sys.executable, __file__, "--worker", *passed])]
    for ranks in [int(r) for r in args.ranks.split(",")]:
        runs.append((f"torchrun, {ranks} rank{'s' * (ranks > 1)}", [
            sys.executable, "-m", "torch.distributed.run", "--standalone",
            # (the -- keeps torchrun from reading --n as an abbreviation of its own options)
            f"--nproc-per-node={ranks}", __file__, "--", "--worker", *passed,
        ]))  # fmt: skip
    print(f"{args.problem}, n = {args.n:,}, k = {args.lrs}, {args.epochs} epochs x {args.repeat}, "
          f"device {args.device}, {os.cpu_count()} CPUs")  # fmt: skip
    print(f"{'run':<36} {'epoch':>10} {'all-reduced an epoch':>22} {'build':>8} {'loss':>12}")
    base = None
    for label, cmd in runs:
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "")}
        if not env["OMP_NUM_THREADS"]:
            env.pop("OMP_NUM_THREADS")  # (torchrun would set 1 a rank; leave torch its default)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
        line = next((x for x in done.stdout.splitlines() if x.startswith("{")), None)
        if line is None:
            print(f"{label:<36} failed: {done.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(line)
        base = base or r["epoch_ms"]
        moved = f"{r['bytes']:.0f} B in {r['calls']:.0f} calls" if "torchrun" in label else "-"
        print(f"{label:<36} {r['epoch_ms']:>8.2f}ms {moved:>22} {r['build_s']:>7.2f}s "
              f"{r['loss']:>12.6g}  ({base / r['epoch_ms']:.2f}x)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
