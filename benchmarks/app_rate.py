"""The app's training rate at full pace against headless training of the same walker.

    python benchmarks/app_rate.py [--seconds 10] [--rounds 2] [--problems logistic:1000000,...]

For each problem: epochs a second of the walker trained headless (engine.run, as `walker-tui run`
trains it, after a warm-up, on a worker thread as the app trains: on this shared 2-core machine
the same loop ran 3-10x slower on the main thread than on another one, torch's two OpenMP
threads waiting at every op for a core, so the main thread would flatter the app) and in the
app at --pace 0 (Textual's run_test, a 160x48 screen, its panels, painter and surface threads
all running; epochs counted as the app receives them, from the third on), in turn, --rounds
times each, medians. Goal (issue 23): the app keeps >= 0.8x the headless rate (logistic at
n = 10^6 was 2.6 against 3.1 epochs a second before the issue).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from walker_tui.catalog import CATALOG  # noqa: E402
from walker_tui.cli.headless import build  # noqa: E402
from walker_tui.config import Config  # noqa: E402
from walker_tui.core.trainers.loop import run  # noqa: E402
from walker_tui.core.trainers.walker import make_walker  # noqa: E402
from walker_tui.ui.app import make_app  # noqa: E402

WARM = 3  # epochs before the clock starts (epoch 1 and the first steps' allocations)


def config(problem: str, n: int) -> Config:
    entry = CATALOG[problem]
    return Config(
        problem=problem,
        n=n,
        lrs_spec=entry.lrs,
        pace=0.0,
        epochs=10**9,
        min_loss=0.0,
        device="cpu",
        batch_size=entry.batch_size,
    )


def headless_rate(problem: str, n: int, seconds: float) -> float:
    """Epochs a second of `run`'s loop, after WARM epochs."""
    cfg, p, _ = build(config(problem, n))
    trainer = make_walker(p, cfg)
    stop = threading.Event()
    marks: list[float] = []

    def on_epoch(rec) -> None:
        if rec.epoch == WARM:
            marks.append(time.perf_counter())
            threading.Timer(seconds, stop.set).start()

    worker = threading.Thread(target=run, args=(trainer, cfg.epochs, 0.0, stop, on_epoch))
    worker.start()
    worker.join()
    return (trainer.epoch - WARM) / (time.perf_counter() - marks[0])


async def app_rate(problem: str, n: int, seconds: float) -> float:
    """Epochs a second the app at --pace 0 receives, from epoch WARM on."""
    app = make_app(config(problem, n))
    async with app.run_test(size=(160, 48)) as pilot:
        end = time.monotonic() + 300
        while app.view.latest_epoch < WARM:
            if time.monotonic() > end:
                raise SystemExit(f"{problem}: the app never reached epoch {WARM}")
            await pilot.pause(0.01)
        e0, t0 = app.view.latest_epoch, time.perf_counter()
        await pilot.pause(seconds)
        e1, t1 = app.view.latest_epoch, time.perf_counter()
        await pilot.press("q")
    return (e1 - e0) / (t1 - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--problems", default="logistic:1000000,mlp:100000,digits:0")
    args = ap.parse_args()
    print(
        f"the walker's epochs a second at full pace, headless vs the app, CPU, torch threads "
        f"{torch.get_num_threads()}, {args.seconds:g} s a run, medians of {args.rounds} rounds"
    )
    print(f"{'problem':<10} {'n':>10} {'headless':>10} {'app':>10} {'app/headless':>13}")
    for spec in args.problems.split(","):
        problem, _, size = spec.partition(":")
        n = int(size or 0) or 100
        heads, apps = [], []
        for _ in range(args.rounds):
            heads.append(headless_rate(problem, n, args.seconds))
            apps.append(asyncio.run(app_rate(problem, n, args.seconds)))
        h, a = statistics.median(heads), statistics.median(apps)
        verdict = "met" if a >= 0.8 * h else "MISSED"
        shown = f"{n:,}" if CATALOG[problem].has_data else "-"
        print(f"{problem:<10} {shown:>10} {h:>10.2f} {a:>10.2f} {a / h:>12.2f}x  {verdict}")
        print(f"{'':<10} {'':>10} (headless {heads}, app {apps})".replace("'", ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
