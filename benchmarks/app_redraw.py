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

from walker_tui.app import make_app
from walker_tui.config import Config
from walker_tui.session import Session
from walker_tui.widgets.painter import PaintedPlot
from walker_tui.widgets.status import StatusLine


async def wait(pilot, cond, timeout=120.0):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise SystemExit("timed out")
        await pilot.pause(0.01)


def full_redraw_ms(app, repeat: int = 25) -> tuple[float, float]:
    """Median milliseconds of a full frame: app.redraw() on the UI thread, then the build of every
    panel as the painter thread does it (here run in line, one after the other, to time it)."""
    plots = list(app.query(PaintedPlot))
    app.painter.stop(
        wait=5.0
    )  # the frames are built here, in line, and the painter must not share them
    ui, total = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        app.redraw()
        app.query_one(StatusLine).render()
        t1 = time.perf_counter()
        for plot in plots:
            plot.paint(plot.job())
        ui.append(t1 - t0)
        total.append(time.perf_counter() - t0)
    return statistics.median(total) * 1e3, statistics.median(ui) * 1e3


async def redraw_figures(history: int) -> tuple[tuple[float, float], tuple[float, float]]:
    cfg = Config(device="cpu", epochs=10**9, min_loss=0, race=[0.3])
    app = make_app(cfg, start_paused=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait(pilot, lambda: app.histories)
        await pilot.press("s")  # a race: two series, as heavy as a frame gets
        await wait(pilot, lambda: "stepper 0.3" in app.histories)
        for _ in range(12):
            await pilot.press("n")
        await wait(pilot, lambda: app.latest_epoch == 12)
        await pilot.pause(0.3)
        small = full_redraw_ms(app)
        # Feed `history` more epochs through the same path the worker's messages take.
        session = Session(cfg, app.seed, race=True)
        for _ in range(history):
            for name, rec in session.step().items():
                app.histories[name].add(rec)
        app.view_epoch = None
        await pilot.pause(0.3)
        big = full_redraw_ms(app)
        held = sum(len(h.curve) for h in app.histories.values())
        print(f"  ({history:,} epochs fed; curve points held: {held:,})")
    return small, big


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
    rate = re.findall(rb"(\d+\.\d) ep/s", seen)
    stop(pid, fd)
    return out, (rate[-1].decode() if rate else "?")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--history", type=int, default=100_000)
    ap.add_argument("--n", type=int, default=1_000_000)
    args = ap.parse_args()
    print("full redraw at 160x48 (race, all panels):")
    (small, small_ui), (big, big_ui) = asyncio.run(redraw_figures(args.history))
    print(
        f"  12 epochs of history:       {small:6.1f} ms median (goal <= 50 ms); "
        f"of it on the UI thread {small_ui:.1f} ms"
    )
    print(
        f"  {args.history:,} more epochs:     {big:6.1f} ms median "
        f"({(big / small - 1) * 100:+.0f}%, goal <= +20%); on the UI thread {big_ui:.1f} ms"
    )
    print(f"key latency at full pace, n={args.n:,}:")
    lat, rate = key_latency(args.n)
    print(f"  (training at about {rate} epochs/s, as the status line said)")
    print(
        f"  median {statistics.median(lat):.0f} ms, worst {max(lat):.0f} ms over {len(lat)} "
        f"presses (goal <= 150 ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
