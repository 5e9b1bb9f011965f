"""The app under load: full redraw time at 160x48, with little and with 100,000 epochs of history,
and how fast keys answer while training runs as fast as it goes at n = 1,000,000.

    python benchmarks/app_redraw.py [--history 100000] [--n 1000000]

Goals (issue 4): a full redraw <= 50 ms (median), no more than 20% longer after 100,000 epochs;
keys answer within 150 ms while training at full pace at n = 1,000,000.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import select
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ptyrun import spawn, stop  # noqa: E402

from walker_tui.config import Config
from walker_tui.ui.app import make_app
from walker_tui.ui.widgets.painter import PaintedPlot
from walker_tui.ui.widgets.status import StatusLine
from walker_tui.viewmodel.session import Session


async def wait(pilot, cond, timeout=120.0):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise SystemExit("timed out")
        await pilot.pause(0.01)


def frame_jobs(app, repeat: int = 25) -> tuple[float, list]:
    """Median milliseconds of the UI thread's share of a frame (app.redraw(): data gathered,
    panels' jobs queued, status line), and the panels' jobs as the painter would build them."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        app.redraw()
        app.query_one(StatusLine).render()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, [(p, p.job()) for p in app.query(PaintedPlot)]


def paint_ms(jobs: list) -> float:
    """Milliseconds to build every panel of one frame, as the painter thread does, in line."""
    t0 = time.perf_counter()
    for plot, job in jobs:
        plot.paint(job)
    return (time.perf_counter() - t0) * 1e3


async def redraw_figures(history: int, repeat: int = 25) -> dict[str, float]:
    """Full-frame figures with 12 epochs of history and with `history` more. The builds of the
    two states are timed alternately, so the ratio is not skewed by the machine's load."""
    cfg = Config(device="cpu", epochs=10**9, min_loss=0, race=[0.3])
    app = make_app(cfg, start_paused=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait(pilot, lambda: app.view.histories)
        await pilot.press("s")  # a race: two series, as heavy as a frame gets
        await wait(pilot, lambda: "stepper 0.3" in app.view.histories)
        for _ in range(12):
            await pilot.press("n")
        await wait(pilot, lambda: app.view.latest_epoch == 12 and app.settled)
        app.painter.stop(wait=5.0)  # frames are built here, in line: the painter must not too
        ui_small, small = frame_jobs(app)
        # Feed `history` more epochs through the same path the worker's messages take.
        session = Session(cfg, app.view.seed, race=True)
        for _ in range(history):
            for name, rec in session.step().items():
                app.view.histories[name].add(rec)
        app.view.view_epoch = None
        ui_big, big = frame_jobs(app)
        held = sum(len(h.curve) for h in app.view.histories.values())
        print(f"  ({history:,} epochs fed; curve points held: {held:,})")
        a, b = [], []
        for _ in range(repeat):
            a.append(paint_ms(small))
            b.append(paint_ms(big))
    return {
        "small": ui_small + statistics.median(a),
        "small_ui": ui_small,
        "big": ui_big + statistics.median(b),
        "big_ui": ui_big,
    }


def key_latency(n: int, presses: int = 30) -> tuple[list[float], str]:
    """Milliseconds from writing a key to a real pseudo-terminal until the app's screen shows
    its effect (the pace in the status line), with training at full pace on n points."""
    pid, fd = spawn(
        ["--n", str(n), "--pace", "0", "--epochs", "1000000000", "--min-loss", "0"], 160, 48
    )

    def read_until(token: bytes, timeout: float = 60.0) -> bytes:
        seen = b""
        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            ready, _, _ = select.select([fd], [], [], 0.005)
            if ready:
                seen += os.read(fd, 1 << 16)
                if token in seen:
                    return seen
        raise SystemExit(f"timed out waiting for {token!r}")

    seen = read_until(b"ep/s")  # training is running and the status line says how fast
    time.sleep(3.0)
    out = []
    for i in range(presses):
        key, want = (b"-", b"pace 256/s") if i % 2 == 0 else (b"+", b"pace max")
        t0 = time.perf_counter()
        os.write(fd, key)
        seen = read_until(want)
        out.append((time.perf_counter() - t0) * 1e3)
        time.sleep(0.3)
    rate = re.findall(rb"(\d+(?:\.\d+)?) ep/s", seen)
    stop(pid, fd)
    return out, (rate[-1].decode() if rate else "?")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--history", type=int, default=100_000)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--presses", type=int, default=30, help="0: skip the key latency")
    args = ap.parse_args()
    print("full redraw at 160x48 (race, all panels):")
    f = asyncio.run(redraw_figures(args.history))
    print(
        f"  12 epochs of history:       {f['small']:6.1f} ms median (goal <= 50 ms); "
        f"of it on the UI thread {f['small_ui']:.1f} ms"
    )
    print(
        f"  {args.history:,} more epochs:     {f['big']:6.1f} ms median "
        f"({(f['big'] / f['small'] - 1) * 100:+.0f}%, goal <= +20%); "
        f"on the UI thread {f['big_ui']:.1f} ms"
    )
    if args.presses == 0:
        return 0
    print(f"key latency at full pace, n={args.n:,}:")
    lat, rate = key_latency(args.n, args.presses)
    print(f"  (training at about {rate} epochs/s, as the status line said)")
    print(
        f"  median {statistics.median(lat):.0f} ms, worst {max(lat):.0f} ms over {len(lat)} "
        f"presses (goal <= 150 ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
