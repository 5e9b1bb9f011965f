"""Loss surfaces at every size: the first view and the full grid of every problem, training beside a
surface, and `q` mid-surface.

    python benchmarks/surface.py [--quick] [--skip-app]

Goals (issue 12): a first view within 0.5 s of the window being known, for every problem and n up
to 10^7 (10^6 for mlp); logistic regression's full grid at n = 10^6 within 3 s; training goes on
while a grid computes; `q` exits within 1 s in every state, mid-surface at n = 10^7 included.

"first view" and "full" are the times from the window being known (the session built) to the
first and the last view of `surface.views`, on this thread with nothing else running; "last view"
is what the last one is (its note; "" = the full 120x120 grid on all the data). For logistic
regression from n = 10^5 the full grid is computed from binned data: "error" is its largest
relative difference from the exact losses at 40 grid points.
"""

from __future__ import annotations

import argparse
import os
import queue
import select
import statistics
import sys
import threading
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ptyrun import spawn  # noqa: E402

from walker_tui.catalog import CATALOG, PROBLEMS  # noqa: E402
from walker_tui.config import Config  # noqa: E402
from walker_tui.core.surface import GRID, views  # noqa: E402
from walker_tui.viewmodel.session import Session  # noqa: E402

SIZES = {"linear": 7, "logistic": 7, "mlp": 6}  # the largest power of ten per data problem


def session(problem: str, n: int | None) -> Session:
    spec = CATALOG[problem].lrs
    cfg = Config(problem=problem, n=n or 100, device="cpu", lrs_spec=spec, min_loss=0)
    return Session(cfg, 17)


def time_views(s: Session) -> tuple[float, float, str, float | None]:
    """(first view s, last view s, last note, error of the last view against exact losses)."""
    window = s.window_for(np.array([]), np.array([]))
    t0 = time.perf_counter()
    first = last = None
    for view in views(s.problem, window, s.plane):
        if first is None:
            first = time.perf_counter() - t0
        last = view
    full = time.perf_counter() - t0
    error = None
    if s.problem.summary() is not None and last.note == "":  # binned: check against exact
        gen = np.random.default_rng(0)
        j, i = gen.integers(0, GRID, 40), gen.integers(0, GRID, 40)
        pts = np.stack([last.xs[i], last.ys[j]])
        origin, basis = s.plane
        exact = s.problem.surface(torch.tensor(origin[:, None] + basis @ pts))
        error = float(np.max(np.abs(last.z[j, i] - exact) / np.abs(exact)))
    return first, full, last.note, error


def table(quick: bool) -> None:
    print("problem\tn\tfirst view\tfull\tlast view\terror")
    for problem in PROBLEMS:
        sizes = [None]
        if CATALOG[problem].has_data:
            top = SIZES[problem] if not quick else min(SIZES[problem], 5)
            sizes = [10**e for e in range(3, top + 1)]
        for n in sizes:
            s = session(problem, n)
            first, full, note, error = time_views(s)
            err = "-" if error is None else f"{error:.1e}"
            size = "-" if n is None else f"10^{len(str(n)) - 1}"
            print(
                f"{problem}\t{size}\t{first * 1e3:.0f} ms\t{full * 1e3:.0f} ms\t"
                f"{note or f'full {GRID}x{GRID}'}\t{err}",
                flush=True,
            )
            del s


def training_beside_a_surface(n: int = 10**6) -> None:
    """Epoch times of a logistic walker at n alone, and while a surface of the same problem
    computes on another thread (as in the app)."""
    s = session("logistic", n)
    walker = s.trainers["walker"]
    window = s.window_for(np.array([]), np.array([]))

    def epochs(count: int) -> list[float]:
        out = []
        for _ in range(count):
            t0 = time.perf_counter()
            walker.step().loss.item()
            out.append(time.perf_counter() - t0)
        return out

    epochs(2)
    alone = epochs(8)
    done = threading.Event()

    def grids() -> None:
        while not done.is_set():
            s.problem._binned = None  # (each round bins again, as a new window's first time)
            for _ in views(s.problem, window, s.plane):
                pass

    thread = threading.Thread(target=grids, daemon=True)
    thread.start()
    time.sleep(0.3)
    beside = epochs(8)
    done.set()
    thread.join()
    print(
        f"logistic n=10^{len(str(n)) - 1}: an epoch takes {statistics.median(alone) * 1e3:.0f} ms "
        f"alone, {statistics.median(beside) * 1e3:.0f} ms while surfaces compute (median of 8)"
    )


def beside_training(problem: str, n: int, timeout: float = 60.0) -> None:
    """As the app has it: a driver training at full pace, its surface on the surveyor's thread.
    Times from the Started event (the window is known then) to the first and the last view, and
    the epochs trained meanwhile."""
    import walker_tui.viewmodel.driver as drv

    events: queue.Queue = queue.Queue()
    spec = CATALOG[problem].lrs
    cfg = Config(problem=problem, n=n, device="cpu", lrs_spec=spec, min_loss=0, epochs=10**9)
    run = drv.Driver(cfg, 17, drv.Control(paused=False, pace=0.0), events.put)
    run.start()
    started = first = None
    epochs = 0
    end = time.perf_counter() + 600
    while time.perf_counter() < end:
        event = events.get(timeout=600)
        now = time.perf_counter()
        if isinstance(event, drv.Started):
            started = now
            end = now + timeout
        elif isinstance(event, drv.Epochs):
            epochs = event.epochs[-1]["walker"].epoch
        elif isinstance(event, drv.Surface):
            if first is None:
                first = now - started
                first_epochs = epochs
            if not event.surface.note.endswith("refining…"):
                break
    last = time.perf_counter() - started
    run.cancel()
    print(
        f"{problem} n=10^{len(str(n)) - 1} training at full pace: first view {first * 1e3:.0f} ms "
        f"(epoch {first_epochs}), last view {last:.1f} s ({event.surface.note or 'full grid'}), "
        f"the walker at epoch {epochs} by then",
        flush=True,
    )


def quit_times(args: list[str], delays: list[float]) -> list[float]:
    """Seconds from pressing q to the process's exit, q pressed `delay` s after the status line
    first shows a state (the app up, training and its surface under way)."""
    out = []
    for delay in delays:
        pid, fd = spawn(args)
        seen = b""
        t0 = time.perf_counter()
        while b"running" not in seen and b"paused" not in seen:
            if time.perf_counter() - t0 > 120:
                raise SystemExit("the app did not start")
            seen += drain(fd, 0.05)
        end = time.perf_counter() + delay
        while time.perf_counter() < end:  # keep reading: a full pty would block the app
            drain(fd, 0.02)
        t0 = time.perf_counter()
        os.write(fd, b"q")
        while not os.waitpid(pid, os.WNOHANG)[0]:
            drain(fd, 0.005)
            if time.perf_counter() - t0 > 30:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                break
        out.append(time.perf_counter() - t0)
        os.close(fd)
    return out


def drain(fd: int, wait: float) -> bytes:
    """What the terminal has to say within ``wait`` seconds (b"" once the app has gone)."""
    ready, _, _ = select.select([fd], [], [], wait)
    try:
        return os.read(fd, 1 << 16) if ready else b""
    except OSError:
        return b""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n up to 10^5 only")
    ap.add_argument("--skip-app", action="store_true", help="no training or q timings")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    table(args.quick)
    if args.skip_app:
        return 0
    training_beside_a_surface()
    for problem, n in (("linear", 10**7), ("logistic", 10**7), ("mlp", 10**6)):
        beside_training(problem, n)
    delays = [0.5, 1.0, 2.0, 4.0]
    for app_args in (
        ["--problem", "logistic", "--n", "10000000", "--pace", "0", "--min-loss", "0"],
        ["--problem", "mlp", "--n", "1000000", "--pace", "0"],
    ):
        times = quit_times(app_args, delays)
        shown = ", ".join(f"{t * 1e3:.0f}" for t in times)
        print(
            f"q to exit, walker-tui {' '.join(app_args)}, q at {delays} s after the first "
            f"status: {shown} ms (worst {max(times) * 1e3:.0f} ms)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
