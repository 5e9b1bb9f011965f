"""The walker against the tuning-free field on every built-in problem and the digits demo, in one
run: ``walker-tui bench --sweep --racers tuning-free`` a problem at a time, collated.

    python benchmarks/tuning_free.py [--repeat 1] [--problems linear,quadratic,...]
                                     [--markdown] [--extra ARG ...]

Each problem at its own default grid, start and target (digits: a training loss of 0.1, since a
model has no known minimum to aim 1% above). The rows: the walker (fixed grid, and adaptive from
the same grid), the best stepper of a sweep over the walker's own grid (with what the sweep cost),
and lbfgs, armijo, prodigy, dadapt and schedulefree at their published defaults.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from walker_tui.catalog import PROBLEMS  # noqa: E402
from walker_tui.cli import main as cli  # noqa: E402

TARGETS = {"digits": "0.1"}  # where the problem's own default target is 0 (never stop)


def bench(problem: str, repeat: int, extra: list[str]) -> tuple[list[list[str]], str]:
    argv = ["bench", "--problem", problem, "--sweep", "--racers", "tuning-free",
            "--repeat", str(repeat), "--device", "cpu", *extra]  # fmt: skip
    if problem in TARGETS and "--min-loss" not in extra:
        argv += ["--min-loss", TARGETS[problem]]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli(argv)
    if code != 0:
        raise SystemExit(f"{problem}: bench exited {code}: {err.getvalue().strip()}")
    lines = out.getvalue().splitlines()
    rows = [line.split("\t") for line in lines[2:] if "\t" in line]
    spent = "?"
    if "found with" in lines[-1]:
        spent = lines[-1].split("found with ", 1)[1].split(" loss")[0]
    return rows, f"{lines[0]} (sweep: {spent} evaluations)"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--problems", default=",".join(PROBLEMS))
    p.add_argument("--extra", nargs="*", default=[], help="more bench options, for every problem")
    args = p.parse_args()
    print("| problem | optimizer | LR | final loss | epochs | evaluations | time to target |")
    print("|---|---|---|---|---|---|---|")
    heads = []
    t0 = time.perf_counter()
    for problem in args.problems.split(","):
        rows, head = bench(problem, args.repeat, args.extra)
        heads.append(head)
        for r in rows:
            name, lr, loss, epochs, evals, to_target = r[:6]
            print(f"| {problem} | {name} | {lr} | {loss} | {epochs} | {evals} | {to_target} |")
        sys.stdout.flush()
    print()
    for head in heads:
        print(f"- {head}")
    print(f"\n({time.perf_counter() - t0:.0f} s in all)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
