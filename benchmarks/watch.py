"""walker-tui watch (issue 22): what following a recording costs.

    python benchmarks/watch.py [--rows 1000000] [--skip-csv]

1. latency: a writer in another process adds a row and flushes; how long until the watch app's
   status line shows that row (the app in-process, headless, polling every 0.25 s);
2. idle CPU: `walker-tui watch FILE` in a real 120x40 pseudo-terminal, a finished file, nothing
   changing: its CPU time (every thread, /proc) over 10 s, as a share of one core;
3. opening a long recording: from the app's start to every row taken in and drawn, and the
   process's resident memory after (.npz and .csv of --rows epochs; .json of a tenth of them);
4. cost per update as the file grows: reading and taking in 10 new rows appended to a file of
   1e3 .. --rows rows (the follower's poll and the app's absorb, no drawing).

Files are made once in /tmp/walker-tui-watch-bench (their writing is not timed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from ptyrun import spawn, stop  # noqa: E402

from walker_tui.recording.schema import Row  # noqa: E402
from walker_tui.recording.writer import RecordWriter  # noqa: E402
from walker_tui.ui.device_monitor import resident_bytes  # noqa: E402

CACHE = Path("/tmp/walker-tui-watch-bench")
K, D = 10, 2  # a WalkerSGD recording of the default grid: 10 rates, 2 plane coordinates
LRS = [0.1 * i for i in range(1, K + 1)]
OPTIONS = {"problem": "recorded", "source": "WalkerSGD", "unit": "step", "min_loss": 0}


def row(step: int, rng: np.random.Generator) -> Row:
    losses = (1.0 / step + 0.01 * rng.random(K)).astype(np.float32)
    winner = int(np.argmin(losses))
    weights = rng.standard_normal((D, K)).astype(np.float32)
    return Row(
        step, weights, losses, winner, np.asarray(LRS), True, LRS[winner], float(losses[winner])
    )


def make(path: Path, rows: int) -> Path:
    """A finished recording of ``rows`` steps (made once, then reused)."""
    if path.exists():
        return path
    CACHE.mkdir(exist_ok=True)
    tmp = path.with_name("tmp-" + path.name)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    with RecordWriter(tmp, LRS, OPTIONS, flush_every=None) as out:
        for step in range(1, rows + 1):
            out.add(row(step, rng))
    tmp.rename(path)
    print(f"  (made {path.name}: {rows:,} rows, {path.stat().st_size / 2**20:,.0f} MiB, "
          f"{time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
    return path


WRITER = """
import sys, time
import numpy as np
sys.path.insert(0, {here!r})
from watch import LRS, OPTIONS, row
from walker_tui.recording.writer import RecordWriter
out = RecordWriter(sys.argv[1], LRS, OPTIONS, flush_every=None)
rng = np.random.default_rng(1)
for step in range(1, int(sys.argv[2]) + 1):
    out.add(row(step, rng))
    out.flush()
    print(step, repr(time.time()), flush=True)
    time.sleep(0.6)
out.close()
"""


async def latency(samples: int = 12) -> list[float]:
    from walker_tui.ui.app import make_watch_app

    path = CACHE / "live.csv"
    path.unlink(missing_ok=True)
    app = make_watch_app([path])
    out: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER.format(here=str(HERE)), str(path), str(samples)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(samples):
            step, flushed = proc.stdout.readline().split()
            while f"step {step}" not in app.query_one("#status").plain:
                await pilot.pause(0.01)
            out.append(time.time() - float(flushed))
        proc.wait(30)
    return out


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drain(fd: int, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                os.read(fd, 1 << 16)
            except OSError:
                return


def idle_cpu(path: Path, seconds: float = 10.0) -> float:
    pid, fd = spawn(["watch", str(path)])
    try:
        drain(fd, 8.0)  # started, read, drawn
        before = cpu_seconds(pid)
        drain(fd, seconds)
        return (cpu_seconds(pid) - before) / seconds
    finally:
        stop(pid, fd)


async def open_time(path: Path) -> tuple[float, float, int]:
    """(seconds from the app's start to every row drawn, resident bytes then, rows)."""
    from walker_tui.ui.app import WalkerApp, make_watch_app

    WalkerApp.frames_drawn = lambda self: all(not p.pending for p in self._plots())
    t0 = time.perf_counter()
    app = make_watch_app([path])
    async with app.run_test(size=(120, 40)) as pilot:
        while not (app.view.picked.ended and app.settled and app.frames_drawn()):
            await pilot.pause(0.02)
        seconds = time.perf_counter() - t0
        rows = app.view.picked.rows
    return seconds, resident_bytes()[0], rows


def update_cost(sizes: list[int]) -> list[tuple[int, float]]:
    from walker_tui.viewmodel.watch import Reader, Run

    out = []
    rng = np.random.default_rng(2)
    for n in sizes:
        src = make(CACHE / f"long-{n}.csv", n)
        path = CACHE / "growing.csv"
        shutil.copyfile(src, path)
        with open(path, "r+b") as fh:  # (its end record off: a file still being written)
            size = fh.seek(0, os.SEEK_END)
            fh.seek(size - 4096)
            fh.truncate(size - 4096 + fh.read().rfind(b"# end"))
        reader, run = Reader(0, path), Run(0, path, "g")
        while (feed := reader.poll(8 << 20)) is not None:
            run.absorb(feed)
        times = []
        step = n
        with open(path, "a") as fh:
            for _ in range(20):
                lines = []
                for _ in range(10):
                    step += 1
                    r = row(step, rng)
                    per = np.empty((K, D + 2))
                    per[:, 0], per[:, 1], per[:, 2:] = r.rates, r.losses, r.weights.T
                    head = [r.epoch, r.winner, r.lr, r.loss, 1]
                    lines.append(",".join(map(repr, head + per.ravel().tolist())))
                fh.write("\n".join(lines) + "\n")
                fh.flush()
                t0 = time.perf_counter()
                feed = reader.poll(8 << 20)
                run.absorb(feed)
                times.append(time.perf_counter() - t0)
        assert run.rows == n + 200
        out.append((n, statistics.median(times)))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=10**6)
    p.add_argument("--skip-csv", action="store_true", help="no .csv of --rows (870 MB at 10^6)")
    p.add_argument("--open-one", metavar="PATH", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.open_one:  # (one open in a fresh process, for its memory)
        seconds, rss, rows = asyncio.run(open_time(Path(args.open_one)))
        print(json.dumps({"seconds": seconds, "rss": rss, "rows": rows}))
        return
    CACHE.mkdir(exist_ok=True)
    print("walker-tui watch: latency, idle CPU, opening and updating a recording")
    lat = asyncio.run(latency())
    print(f"latency flush -> status line: median {statistics.median(lat):.2f} s, "
          f"max {max(lat):.2f} s over {len(lat)} rows (goal: 2 s)")  # fmt: skip
    small = make(CACHE / "idle.npz", 5000)
    cpu = idle_cpu(small)
    print(f"idle CPU (a real terminal, 10 s, nothing changing): {100 * cpu:.1f}% of a core "
          "(goal: at most 5%)")  # fmt: skip
    formats = [(".npz", args.rows)] + ([] if args.skip_csv else [(".csv", args.rows)])
    formats.append((".json", args.rows // 10))
    for suffix, rows in formats:
        path = make(CACHE / f"long-{rows}{suffix}", rows)
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, __file__, "--open-one", str(path)],
            capture_output=True, text=True, timeout=900, check=True,
        )  # fmt: skip
        whole = time.perf_counter() - t0
        got = json.loads(done.stdout.strip().splitlines()[-1])
        seconds, rss = got["seconds"], got["rss"]
        assert got["rows"] == rows, (got, rows)
        size = path.stat().st_size / 2**20
        print(f"open {rows:,} steps ({suffix}, {size:,.0f} MiB): {seconds:.1f} s from the app's "
              f"start to every row drawn ({whole:.1f} s with the process's start and imports); "
              f"resident memory then {rss / 2**20:,.0f} MiB")  # fmt: skip
    top = 100_000 if args.skip_csv else args.rows
    sizes = [n for n in (1000, 100_000, args.rows) if n <= top]
    for n, cost in update_cost(sizes):
        print(f"10 rows appended to a file of {n:,}: {cost * 1e3:.2f} ms to read and take in")


if __name__ == "__main__":
    main()
