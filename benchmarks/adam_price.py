"""The walker at Adam's price (issue 32): walker:adam, which scores its grid only now and then
(walker_tui.core.schedule), against Adam and the tuning-free optimizers.

    python benchmarks/adam_price.py [--seeds 17,18,19] [--problems digits,my_model,cnn,mlp,chars]

Problems: digits (the app's 64-32-10 MLP, batches of 64, target 0.01), examples/my_model.py
(batches of 100, target 0.05), cnn (two 3x3 convolutions, 8 and 16 channels, on the same 8x8
digits, batches of 64, target 0.01), mlp (the two moons, all the data each step, target 0.1) and
chars (a character-level transformer, 2 layers 64 wide, on this repository's source, batches of
32, 10 epochs, target 2.0). Optimizers: walker:adam on its default grid with the rule;
walker:momentum on its own (it scores every step: schedule.py says why); walker:adam scoring
every step (the rule before issue 32); Adam at torch's default
1e-3 and at the best of a sweep (1e-4 to 3e-2 in half-decades, extended past an edge; its row
also gives the whole sweep's cost); heavy-ball momentum at the best of its sweep; Prodigy and
Schedule-Free AdamW at their defaults. benchmarks/directions.py's machinery: the same seeds and
starts, every epoch to the limit, the CPU time of the one thread torch runs on
(``torch.set_num_threads(1)``, ``time.thread_time``: another job on the machine inflates it
far less than the wall time). Then the ratios the issue's goal is about, from walker:adam and
Adam at the sweep's best rate run again side by side, seed by seed, their epochs taken in turn
(:func:`interleaved`: load on the machine falls on both alike): walker:adam's time to the
target over the best Adam's (goal <= 1.0, no sweep counted) and its loss after 30 epochs (10
for chars) over the best Adam's (goal <= 1.0), with the share of steps that scored the grid.
``--few``: walker:adam and Adam alone (default and swept).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import directions as bench  # noqa: E402  (benchmarks/directions.py)
from directions import Row, Run, Setting, config_for, sweep, train  # noqa: E402

from walker_tui.core.trainers.racers import make_racer  # noqa: E402
from walker_tui.core.trainers.walker import make_walker  # noqa: E402

HERE = str(Path(__file__).resolve())
bench.SETTINGS["cnn"] = Setting(f"{HERE}:cnn", "cnn", 30, 0.01, batch_size=64)
bench.SETTINGS["chars"] = Setting(f"{HERE}:chars", "chars", 10, 2.0, batch_size=32)


def cnn():
    """A small CNN on the digits (benchmarks/walkersgd.py's), as a walker-tui problem."""
    from walkersgd import CNN

    from walker_tui.core.problems.torch_model import digits

    _, loss, train_set, held = digits()
    return CNN(), loss, train_set, held


def chars():
    """benchmarks/walkersgd.py's character transformer on this repository's source."""
    import walkersgd

    make, x, y, _ = walkersgd.problem("chars", 0)
    return make().net, walkersgd.next_char_loss, (x, y)


def every_step(problem, cfg):
    """walker:adam as it was before the rule: every step scores the grid."""
    trainer = make_walker(problem, cfg)
    inner = getattr(trainer, "inner", trainer)
    inner.lazy = False
    inner.reset()
    return trainer


def counted(make, counts: list[int]):
    """``make`` whose walker counts its steps that scored the grid, and all its steps, in
    ``counts``."""

    def made(problem):
        trainer = make(problem)
        inner = getattr(trainer, "inner", trainer)
        step = inner.step

        def one():
            rec = step()
            counts[0] += bool(rec.scored)
            counts[1] += 1
            return rec

        inner.step = one
        return trainer

    return made


def interleaved(makers: dict, setting: Setting, seed: int) -> dict[str, Run]:
    """Every maker's trainer on this seed, alive at once, taking their epochs in turn (the
    first's epoch 1, the second's, ..., then epoch 2), each to the setting's limit: load that
    comes and goes on the machine then falls on all alike. Trained apart, minutes apart, the
    same walker and the same Adam gave a ratio of 1.25x one run and 0.98x the next on digits.
    A Run each, as benchmarks/directions.py's ``train`` gives (no evaluations counted)."""
    live = {}
    for name, make in makers.items():
        live[name] = (make(bench.problem_for(setting, seed)), [], [], [0.0])
    for _ in range(setting.epochs):
        for trainer, losses, seconds, spent in live.values():
            if losses and not math.isfinite(losses[-1]):
                continue
            t0 = time.thread_time()
            rec = trainer.step()
            loss = float(rec.loss)
            spent[0] += time.thread_time() - t0
            losses.append(loss if math.isfinite(loss) else math.inf)
            seconds.append(spent[0])
    return {
        name: Run(losses, [0] * len(losses), seconds, None, setting.target)
        for name, (_, losses, seconds, _) in live.items()
    }


def rows_for(
    setting: Setting, seeds: list[int], few: bool = False, lean: bool = False
) -> list[Row]:
    """Every optimizer's row; ``few``: walker:adam and Adam alone (default and swept);
    ``lean``: without walker:adam scoring every step, momentum swept over every other rate of
    its grid (half-decades: the character transformer's whole table is hours of CPU)."""
    rows = []
    for direction in ("adam",) if few else ("adam", "momentum"):
        cfg = config_for(setting, direction)
        runs = [train(lambda p, c=cfg: make_walker(p, c), setting, s) for s in seeds]
        rows.append(Row(f"walker:{direction}", cfg.lrs_spec, runs))
    cfg = config_for(setting, "adam")
    if not few and not lean:
        runs = [train(lambda p, c=cfg: every_step(p, c), setting, s) for s in seeds]
        rows.append(Row("walker:adam, every step", cfg.lrs_spec, runs))
    default = [train(lambda p: make_racer("adam", p, 1e-3), setting, s) for s in seeds]
    rows.append(Row("adam", "0.001 (torch's default)", default))
    rows.append(sweep("adam", bench.ADAM_SWEEP, "adam", setting, seeds))
    if few:
        return rows
    momentum = bench.parse_lrs(bench.walker_lrs(setting.name, "momentum"))
    if lean:
        momentum = momentum[::2]
    rows.append(sweep("momentum", momentum, "momentum", setting, seeds))
    for name, lr in (("prodigy", 1.0), ("schedulefree", 0.0025)):
        runs = [train(lambda p, n=name, lr=lr: make_racer(n, p, lr), setting, s) for s in seeds]
        rows.append(Row(name, f"{lr:g} (default)", runs))
    return rows


def ratios(rows: list[Row], setting: Setting, seeds: list[int]) -> str:
    """walker:adam over the best Adam: time to target (seeds both reached it) and final loss,
    from the two run again side by side, epochs in turn (:func:`interleaved`)."""
    best = next(row for row in rows if "best of" in row.rate)
    rate = float(best.rate.split()[0])
    at = min(30, setting.epochs)
    cfg = config_for(setting, "adam")
    times, losses, counts = [], [], [0, 0]
    for seed in seeds:
        runs = interleaved({
            "walker": counted(lambda p, c=cfg: make_walker(p, c), counts),
            "adam": lambda p: make_racer("adam", p, rate),
        }, setting, seed)  # fmt: skip
        w, a = runs["walker"], runs["adam"]
        iw, ia = w.reached(), a.reached()
        if iw is not None and ia is not None:
            times.append(w.seconds[iw] / a.seconds[ia])
        losses.append(w.at(at) / a.at(at))
    share = counts[0] / max(1, counts[1])

    def show(xs):
        if not xs:
            return "not reached by both"
        return f"{statistics.fmean(xs):.2f}x [{min(xs):.2f}, {max(xs):.2f}]"

    return (f"{setting.label}: walker:adam / adam {best.rate.split()[0]} (side by side): time to "
            f"target {show(times)} ({len(times)}/{len(seeds)} seeds), loss @{at} {show(losses)}; "
            f"steps that scored the grid {100 * share:.0f}%")  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="17,18,19")
    p.add_argument("--problems", default="digits,my_model,cnn,mlp,chars")
    p.add_argument(
        "--few", action="store_true", help="walker:adam and Adam alone (chars' whole table is slow)"
    )
    p.add_argument(
        "--lean", action="store_true",
        help="no every-step walker:adam row; momentum swept over half-decades",
    )  # fmt: skip
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    t0 = time.perf_counter()
    torch.set_num_threads(1)
    print("| problem | optimizer | LR | loss @10 | loss @30 | held-out acc. @30 "
          "| evaluations to target | time to target | sweep's whole cost |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    summary = []
    for key in args.problems.split(","):
        setting = bench.SETTINGS[key]
        rows = rows_for(setting, seeds, args.few, args.lean)
        for row in rows:
            print("| " + " | ".join(bench.cells(row, setting, len(seeds))) + " |", flush=True)
        summary.append(ratios(rows, setting, seeds))
    print()
    for line in summary:
        print(line)
    print(f"seeds {','.join(map(str, seeds))}; {time.perf_counter() - t0:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
