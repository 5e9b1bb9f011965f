"""Start-up: `walker-tui --help` and an argument error, and the app's first frame.

    python benchmarks/startup.py [--repeat 5]

The app is started in a real pseudo-terminal (120x40); "first frame" is the time until its
screen shows the header, "first epoch" until the status line shows epoch 1. Goals (issue 4):
--help and argument errors under 0.3 s; first frame within 2 s at the defaults.
"""

from __future__ import annotations

import argparse
import os
import select
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ptyrun import EXE, spawn, stop  # noqa: E402


def timed_command(argv: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(argv, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def app_times(timeout: float = 30.0) -> tuple[float, float]:
    """(first frame, first epoch) in seconds for the bare `walker-tui` in a 120x40 pty."""
    t0 = time.perf_counter()
    pid, fd = spawn([])
    seen = b""
    first_frame = first_epoch = float("nan")
    while time.perf_counter() - t0 < timeout:
        ready, _, _ = select.select([fd], [], [], 0.01)
        if not ready:
            continue
        try:
            seen += os.read(fd, 65536)
        except OSError:
            break
        now = time.perf_counter() - t0
        if first_frame != first_frame and b"walker-tui" in seen:
            first_frame = now
        if b"epoch 1 " in seen or b"epoch 1\xe2" in seen:
            first_epoch = now
            break
    stop(pid, fd)
    return first_frame, first_epoch


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    t_help = timed_command([EXE, "--help"], args.repeat)
    t_err = timed_command([EXE, "run", "--lrs", "1:0.1:0.1"], args.repeat)
    t_py = timed_command([sys.executable, "-c", "pass"], args.repeat)
    print(f"python itself:          {t_py * 1e3:7.0f} ms")
    print(f"walker-tui --help:      {t_help * 1e3:7.0f} ms (goal < 300 ms)")
    print(f"argument error:         {t_err * 1e3:7.0f} ms (goal < 300 ms)")
    frames = [app_times() for _ in range(args.repeat)]
    ff = statistics.median(f for f, _ in frames)
    fe = statistics.median(e for _, e in frames)
    print(f"app first frame:        {ff * 1e3:7.0f} ms (goal < 2000 ms)")
    print(f"app shows epoch 1:      {fe * 1e3:7.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
