"""Whole runs to the target on a device, timed directly (one process, warm, median of 5):

    python benchmarks/gpu_runs.py [--device cuda] [--n 10000000]

Beside ``walker-tui bench``: on an H100 the two disagree for the walker (see the README's GPU
paragraph), so this times the same runs without the bench's round robin.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from walker_tui.core.grid import parse_lrs
from walker_tui.core.problems.base import fresh_w0
from walker_tui.core.problems.regression import LinearProblem
from walker_tui.core.trainers.loop import run
from walker_tui.core.trainers.racers import Stepper
from walker_tui.core.trainers.walker import Walker


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--n", type=int, default=10_000_000)
    args = ap.parse_args()
    device = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    p = LinearProblem(n=args.n, seed=17, device=device)
    w0 = torch.tensor(fresh_w0(17), device=device)
    batch = 16 if device.type != "cpu" else 1

    def timed(label, make, rep=5):
        run(make(), 100, 0.1, sync_every=batch)
        times = []
        for _ in range(rep):
            trainer = make()
            sync()
            t0 = time.perf_counter()
            outcome = run(trainer, 100, 0.1, sync_every=batch)
            sync()
            times.append(time.perf_counter() - t0)
        ms = statistics.median(times) * 1e3
        print(f"{label:24s} {outcome.epochs:3d} epochs {ms:8.2f} ms to the target")

    def steps(make, count=50):
        trainer = make()
        for _ in range(5):
            trainer.step()
        sync()
        t0 = time.perf_counter()
        for _ in range(count):
            trainer.step()
        sync()
        return (time.perf_counter() - t0) / count * 1e3

    def walker():
        return Walker(p, parse_lrs("lin:0.1:1:10"), w0)

    print(f"n={args.n:,} on {device}, host transfers every {batch} epochs")
    timed("walker lin:0.1:1:10", walker)
    for lr in (0.1, 0.9, 0.5, 0.7):
        timed(f"stepper {lr}", lambda lr=lr: Stepper(p, lr, w0))
    w_ms, s_ms = steps(walker), steps(lambda: Stepper(p, 0.1, w0))
    print(f"steady epoch: walker {w_ms:.3f} ms, stepper {s_ms:.3f} ms ({w_ms / s_ms:.2f}x)")


if __name__ == "__main__":
    main()
