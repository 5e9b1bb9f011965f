"""Memory stays bounded: resident memory over 1,000,000 epochs at n = 100, headless and in the app.

    python benchmarks/memory.py [--epochs 1000000] [--app-seconds 120] [--record csv,npz]

Headless: `walker-tui run --epochs E --min-loss 0 --quiet` with its RSS sampled from /proc, then
the same with `--record FILE.csv` / `.npz` (... for each suffix of --record; "" for none) into a
temporary folder: the recording streams to disk, so its memory must not grow with the epochs
either (the .npz is assembled from its sidecar at the end, in windows of ~16 MB).
App: `walker-tui --pace 0 --epochs E --min-loss 0` in a pseudo-terminal, sampled the same way for
--app-seconds (or until E epochs). Goal (issues 4 and 10): growth under 50 MB over the run.
"""

from __future__ import annotations

import argparse
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=1_000_000)
    ap.add_argument("--app-seconds", type=float, default=120.0)
    ap.add_argument(
        "--record", default=",csv,npz", help="headless runs: record suffixes, '' for none"
    )
    ap.add_argument("--skip-headless", action="store_true")
    ap.add_argument("--skip-app", action="store_true")
    args = ap.parse_args()
    if not args.skip_headless:
        for record in args.record.split(","):
            headless(args.epochs, record.strip().lstrip("."))
    if not args.skip_app:
        app(args.epochs, args.app_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
