"""Memory stays bounded: resident memory over 1,000,000 epochs at n = 100, headless and in the app.

    python benchmarks/memory.py [--epochs 1000000] [--app-seconds 120] [--record csv,npz]

Headless: `walker-tui run --epochs E --min-loss 0 --quiet` with its RSS sampled from /proc, then
the same with `--record FILE.csv` / `.npz` (... for each suffix of --record; "" for none) into a
temporary folder: the recording streams to disk, so its memory must not grow with the epochs
either (the .npz is assembled from its sidecar at the end, in windows of ~16 MB).
App: `walker-tui --pace 0 --epochs E --min-loss 0` in a pseudo-terminal, sampled the same way for
--app-seconds (or until E epochs). Goal (issues 4 and 10): growth under 50 MB over the run.

    python benchmarks/memory.py --candidates [--old]

Issue 23: the peak memory one walker epoch adds beyond what the process already holds (its data),
for logistic regression at n = 10^4 .. 10^7 and the mlp at 10^3 .. 10^6, k = 13: the candidate
pass alone, a whole walker epoch and a stepper epoch (its autograd pass), each in a fresh
process (tracemalloc does not see torch's memory): the kernel's peak-RSS mark is reset
(/proc/self/clear_refs) once the problem is built and epoch 1 taken, and the figure is the peak
(VmHWM) over three passes less the resident memory before them. --old adds the pass as it was
(binary_cross_entropy_with_logits over the whole n x k block). Goal: <= 64 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ptyrun import EXE, spawn, stop  # noqa: E402


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def headless(epochs: int, record: str = "") -> None:
    """One headless run, with ``--record`` to a temporary ``.{record}`` file if ``record``."""
    with tempfile.TemporaryDirectory() as folder:
        extra = ["--record", os.path.join(folder, f"r.{record}")] if record else []
        _headless(epochs, extra)
        if record:
            size = os.path.getsize(extra[1]) / 1e6
            print(f"  (the {record} recording: {size:.0f} MB on disk)")


def _headless(epochs: int, extra: list[str]) -> None:
    proc = subprocess.Popen(
        [EXE, "run", "--epochs", str(epochs), "--min-loss", "0", "--quiet", "--device", "cpu"]
        + extra,
        stdout=subprocess.PIPE,
        text=True,
    )
    samples = []
    t0 = time.perf_counter()
    while proc.poll() is None:
        try:
            samples.append((time.perf_counter() - t0, rss_mb(proc.pid)))
        except FileNotFoundError:
            break
        time.sleep(0.5)
    out = proc.stdout.read().strip()
    warm = [m for t, m in samples if t > 5] or [m for _, m in samples]
    what = f"with --record .{extra[1].rsplit('.', 1)[1]}" if extra else "no --record"
    print(f"headless, {what}, {epochs:,} epochs in {time.perf_counter() - t0:.0f} s: {out}")
    print(
        f"  RSS after warm-up {warm[0]:.1f} MB, peak {max(warm):.1f} MB, last {warm[-1]:.1f} MB "
        f"-> growth {max(warm) - warm[0]:.1f} MB (goal < 50 MB)"
    )


def app(epochs: int, seconds: float) -> None:
    pid, fd = spawn(["--pace", "0", "--epochs", str(epochs), "--min-loss", "0", "--device", "cpu"])
    t0 = time.perf_counter()
    samples = []
    tail = b""
    last_sample = 0.0
    while time.perf_counter() - t0 < seconds:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                tail = (tail + os.read(fd, 1 << 16))[-20000:]
            except OSError:
                break
        now = time.perf_counter() - t0
        if now - last_sample >= 0.5:
            samples.append((now, rss_mb(pid)))
            last_sample = now
        if b"epoch limit" in tail or b"target reached" in tail:
            break
    found = re.findall(rb"epoch (\d+)", tail)
    stop(pid, fd)
    warm = [m for t, m in samples if t > 5] or [m for _, m in samples]
    reached = int(found[-1]) if found else 0
    print(f"app at full pace for {samples[-1][0]:.0f} s: reached epoch {reached:,}")
    print(
        f"  RSS after warm-up {warm[0]:.1f} MB, peak {max(warm):.1f} MB, last {warm[-1]:.1f} MB "
        f"-> growth {max(warm) - warm[0]:.1f} MB (goal < 50 MB)"
    )


CANDIDATE_SIZES = {"logistic": (10**4, 10**5, 10**6, 10**7), "mlp": (10**3, 10**4, 10**5, 10**6)}


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def candidate_child(problem: str, n: int, stage: str) -> None:
    """In a fresh process: the peak memory ``stage`` adds (MB), printed as JSON."""
    import torch

    from walker_tui.catalog import CATALOG
    from walker_tui.core.grid import parse_lrs
    from walker_tui.core.problems.zoo import make_problem
    from walker_tui.core.trainers.racers import Stepper
    from walker_tui.core.trainers.walker import Walker

    p = make_problem(problem, n, 17, "cpu")
    walker, stepper = Walker(p, parse_lrs(CATALOG[problem].lrs)), Stepper(p, 0.5)
    walker.step()
    stepper.step()
    W = walker.w[:, None] - walker.grad[:, None] * walker.lrs[None, :]
    if stage == "candidates":
        work = lambda: p.rank_losses(W)  # noqa: E731
    elif stage == "old":  # the pass before issue 23: the n x k block, as trained
        dim = 1 if problem == "mlp" else 0
        work = lambda: p._terms(W).sum(dim, dtype=torch.float64) / p.n  # noqa: E731
    else:
        work = (walker if stage == "walker" else stepper).step
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # the peak-RSS mark back to what is resident now
    before = _status_kb("VmRSS")
    for _ in range(3):
        work()
    peak = _status_kb("VmHWM")
    print(json.dumps({"extra_mb": (peak - before) / 1024, "held_mb": before / 1024}))


def candidates(old: bool) -> None:
    """The table of candidate-pass memory, each figure from its own process."""
    stages = ["candidates", "walker", "stepper"] + (["old"] if old else [])
    print(
        "peak memory added by one pass (MB) beyond the process's resident memory before it, "
        "k = 13, each in a fresh process"
    )
    head = f"{'problem':<9} {'n':>10} {'held':>8} " + " ".join(f"{s:>11}" for s in stages)
    print(head)
    for problem, sizes in CANDIDATE_SIZES.items():
        for n in sizes:
            cells = []
            held = 0.0
            for stage in stages:
                out = subprocess.run(
                    [sys.executable, __file__, "--child", problem, str(n), stage],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                fig = json.loads(out.stdout.strip().splitlines()[-1])
                held = fig["held_mb"]
                cells.append(f"{fig['extra_mb']:.1f}")
            print(f"{problem:<9} {n:>10,} {held:>7.0f}M " + " ".join(f"{c:>11}" for c in cells))
    print(
        "(held: resident before the pass, the data included; walker: the candidates and the "
        "winner's gradient, whose autograd pass is the stepper's; goal for the candidates: "
        "<= 64 MB)"
    )


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        candidate_child(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=1_000_000)
    ap.add_argument("--app-seconds", type=float, default=120.0)
    ap.add_argument(
        "--record", default=",csv,npz", help="headless runs: record suffixes, '' for none"
    )
    ap.add_argument("--skip-headless", action="store_true")
    ap.add_argument("--skip-app", action="store_true")
    ap.add_argument("--candidates", action="store_true", help="issue 23: a pass's peak memory")
    ap.add_argument("--old", action="store_true", help="with --candidates: the pass as it was")
    args = ap.parse_args()
    if args.candidates:
        candidates(args.old)
        return 0
    if not args.skip_headless:
        for record in args.record.split(","):
            headless(args.epochs, record.strip().lstrip("."))
    if not args.skip_app:
        app(args.epochs, args.app_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
