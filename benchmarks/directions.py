"""The walker along each direction (issue 21) against tuned and tuning-free optimizers, over seeds.

    python benchmarks/directions.py [--seeds 17,18,19] [--problems digits,mlp,...]
                                    [--epochs-scale 1.0] [--markdown]

Problems: digits (mini-batches of 64), examples/my_model.py (batches of 100), mlp, logistic and
rosenbrock (all the data each step). Optimizers: the walker along sgd, momentum and adam, each on
its own default grid (catalog.walker_lrs) with the fixed grid; Adam at torch's default rate 1e-3;
Adam, the stepper and heavy-ball momentum each at the best rate of a sweep (Adam over 1e-4 to
3e-2 in half-decades, the stepper over the sgd walker's grid, momentum over the momentum walker's
grid; a sweep whose best rate is at its edge is extended past it, half a decade or one grid step
at a time, up to 6 more rates); Prodigy, D-Adaptation (SGD) and Schedule-Free AdamW at their
published defaults. Each runs every seed from the same start (the seed's), every epoch up to the
problem's limit (not stopping at the target, so the losses at 10 and 30 epochs are there for
all), on the CPU.

Figures, mean [min, max] over the seeds: the training loss after 10 and 30 epochs (all the
training data; for mini-batches an epoch is a pass), held-out accuracy after 30 epochs where the
problem has held-out data, and the loss evaluations and the wall time to the target (the first
epoch whose loss is below it; counted as the trainers count them: k a step for a walker, one for
a stepper; the wall time is the trainer's steps, with the loss on all the data each epoch, which
every optimizer pays alike), on the seeds that reached it. Time is the CPU time of the one
thread torch runs on here (``torch.set_num_threads(1)``, ``time.thread_time``): on a quiet
machine that is the wall time, and on a shared one (another job on the second core) it is not
inflated by waiting for the core, which the wall time was, 2x to 10x, in a trial run. A
sweep's rate (:func:`score`): on mini-batches the lowest mean log loss at 30 epochs; on all the
data the fewest mean epochs to the target on every seed, else the lowest mean log loss at the
limit; its row also gives what the whole sweep cost: every rate's evaluations and time, all
seeds. Then the cost
of one step on a mini-batch: the walker along adam (k forwards, vmapped, then one forward and
backward at the winner) against one Adam step, medians of interleaved steps (CPU time, one
thread).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from walker_tui.catalog import walker_lrs  # noqa: E402
from walker_tui.config import Config  # noqa: E402
from walker_tui.core.grid import parse_lrs  # noqa: E402
from walker_tui.core.problems.zoo import make_problem  # noqa: E402
from walker_tui.core.trainers.loop import Trainer  # noqa: E402
from walker_tui.core.trainers.racers import make_racer  # noqa: E402
from walker_tui.core.trainers.walker import make_walker  # noqa: E402
from walker_tui.viewmodel.session import resolve_target  # noqa: E402

MY_MODEL = str(Path(__file__).resolve().parent.parent / "examples" / "my_model.py") + ":problem"


@dataclass
class Setting:
    name: str  # the problem's name as walker-tui takes it
    label: str
    epochs: int  # the limit
    target: float | None  # None: 1% above the problem's minimum (session.resolve_target)
    batch_size: int | None = None
    n: int = 100


SETTINGS = {
    "digits": Setting("digits", "digits", 30, 0.01, batch_size=64),
    "my_model": Setting(MY_MODEL, "my_model.py", 30, 0.05, batch_size=100),
    "mlp": Setting("mlp", "mlp", 300, 0.1, n=200),
    "logistic": Setting("logistic", "logistic", 100, None),
    "rosenbrock": Setting("rosenbrock", "rosenbrock", 2000, 0.1),
}
ADAM_SWEEP = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2]
MORE = 6  # rates a sweep may add past an edge


@dataclass
class Run:
    losses: list[float]  # after each epoch (epoch 1 is the start)
    evals: list[int]
    seconds: list[float]
    accuracy: float | None
    target: float

    def at(self, epoch: int) -> float:
        return self.losses[min(epoch, len(self.losses)) - 1]

    def reached(self) -> int | None:
        """The first epoch (0-based index) whose loss is below the target."""
        return next((i for i, v in enumerate(self.losses) if v < self.target), None)


@dataclass
class Row:
    name: str
    rate: str
    runs: list[Run]
    sweep_evals: int = 0
    sweep_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def problem_for(setting: Setting, seed: int):
    return make_problem(setting.name, setting.n, seed, "cpu", batch_size=setting.batch_size)


def config_for(setting: Setting, direction: str = "sgd") -> Config:
    spec = walker_lrs(setting.name, direction)
    return Config(problem=setting.name, n=setting.n, lrs_spec=spec, lrs=parse_lrs(spec),
                  direction=direction, batch_size=setting.batch_size, min_loss=0.0)  # fmt: skip


def train(make, setting: Setting, seed: int) -> Run:
    """One optimizer on one seed, every epoch to the limit (or past 30 once at the target)."""
    problem = problem_for(setting, seed)
    target = setting.target
    if target is None:
        target = resolve_target(Config(problem=setting.name, n=setting.n, min_loss=None), problem)
    trainer: Trainer = make(problem)
    losses, evals, seconds = [], [], []
    spent, accuracy = 0.0, None
    while trainer.epoch < setting.epochs:
        t0 = time.thread_time()
        rec = trainer.step()
        loss = float(rec.loss)
        spent += time.thread_time() - t0
        losses.append(loss if math.isfinite(loss) else math.inf)
        evals.append(trainer.evaluations)
        seconds.append(spent)
        if rec.metrics and rec.epoch <= 30:
            accuracy = float(rec.metrics.get("held-out accuracy", math.nan))
        if not math.isfinite(loss):
            break
        if rec.epoch >= 30 and loss < target:
            break
    return Run(losses, evals, seconds, accuracy, target)


def score(runs: list[Run], setting: Setting) -> tuple:
    """What a sweep ranks its rates by (lowest first). Mini-batches (a 30-epoch limit): the mean
    log training loss at 30 epochs. All the data (limits of 100 to 2,000 epochs): the fewest
    mean epochs to the target where every seed reaches it, else the lowest mean log loss at the
    limit (walker-tui bench --sweep's rule)."""
    at = 30 if setting.batch_size else setting.epochs
    log_loss = statistics.fmean(math.log(max(r.at(at), 1e-300)) for r in runs)
    if setting.batch_size:
        return (log_loss,)
    hits = [r.reached() for r in runs]
    if all(h is not None for h in hits):
        return (0, statistics.fmean(hits), log_loss)
    return (1, log_loss)


def sweep(name: str, rates: list[float], kind: str, setting: Setting, seeds: list[int]) -> Row:
    """The best rate of ``rates`` for the racer ``kind``, extended past an edge it sits on."""
    rates = sorted(rates)
    given = len(rates)
    ratio = (rates[-1] / rates[0]) ** (1 / (given - 1)) if given > 1 else 10**0.5
    tried: dict[float, list[Run]] = {}
    while True:
        for lr in rates:
            if lr not in tried:
                tried[lr] = [train(lambda p, lr=lr: make_racer(kind, p, lr), setting, s)
                             for s in seeds]  # fmt: skip
        best = min(tried, key=lambda lr: score(tried[lr], setting))
        if len(rates) - given >= MORE or given == 1:
            break
        if best == rates[-1]:
            rates.append(rates[-1] * ratio)
        elif best == rates[0]:
            rates.insert(0, rates[0] / ratio)
        else:
            break
    evals = sum(r.evals[-1] for runs in tried.values() for r in runs)
    secs = sum(r.seconds[-1] for runs in tried.values() for r in runs)
    shown = f"{best:.3g} (best of {len(tried)}, {min(tried):.3g}-{max(tried):.3g})"
    row = Row(name, shown, tried[best], evals, secs)
    if best in (min(tried), max(tried)):
        row.notes.append(f"{name}: its best rate {best:.3g} is still the sweep's edge")
    return row


def rows_for(setting: Setting, seeds: list[int]) -> list[Row]:
    rows = []
    for direction in ("sgd", "momentum", "adam"):
        cfg = config_for(setting, direction)
        runs = [train(lambda p, c=cfg: make_walker(p, c), setting, s) for s in seeds]
        name = "walker" if direction == "sgd" else f"walker:{direction}"
        rows.append(Row(name, f"{cfg.lrs_spec}", runs))
    default = [train(lambda p: make_racer("adam", p, 1e-3), setting, s) for s in seeds]
    rows.append(Row("adam", "0.001 (torch's default)", default))
    rows.append(sweep("adam", ADAM_SWEEP, "adam", setting, seeds))
    sgd = parse_lrs(walker_lrs(setting.name, "sgd"))
    rows.append(sweep("stepper", sgd, "stepper", setting, seeds))
    rows.append(sweep("momentum", parse_lrs(walker_lrs(setting.name, "momentum")), "momentum",
                      setting, seeds))  # fmt: skip
    for name, lr in (("prodigy", 1.0), ("dadapt", 1.0), ("schedulefree", 0.0025)):
        runs = [train(lambda p, n=name, lr=lr: make_racer(n, p, lr), setting, s) for s in seeds]
        rows.append(Row(name, f"{lr:g} (default)", runs))
    return rows


def spread(values: list[float], fmt) -> str:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "-"
    if any(math.isinf(v) for v in values):
        if all(math.isinf(v) for v in values):
            return "diverged"
        return f"{fmt(min(values))} [diverged on some]"
    mean = statistics.fmean(values)
    if len(values) == 1 or min(values) == max(values):
        return fmt(mean)
    return f"{fmt(mean)} [{fmt(min(values))}, {fmt(max(values))}]"


def loss_text(v: float) -> str:
    return f"{v:.3g}" if v >= 1e-3 else f"{v:.2e}"


def cells(row: Row, setting: Setting, seeds: int) -> list[str]:
    at10 = spread([r.at(10) for r in row.runs], loss_text)
    at30 = spread([r.at(30) for r in row.runs], loss_text)
    acc = spread([r.accuracy for r in row.runs if r.accuracy is not None],
                 lambda v: f"{100 * v:.1f}%")  # fmt: skip
    hits = [(r.evals[i], r.seconds[i]) for r in row.runs if (i := r.reached()) is not None]
    if hits:
        suffix = "" if len(hits) == seeds else f" ({len(hits)}/{seeds} seeds)"
        evals = spread([float(e) for e, _ in hits], lambda v: f"{v:,.0f}") + suffix
        secs = spread([s for _, s in hits], lambda v: f"{v * 1e3:.1f} ms") + suffix
    else:
        evals = secs = "not reached"
    cost = f"{row.sweep_evals:,} evals, {row.sweep_seconds:.1f} s" if row.sweep_evals else "-"
    return [setting.label, row.name, row.rate, at10, at30, acc, evals, secs, cost]


def step_cost(setting: Setting, steps: int = 200) -> tuple[float, float, int]:
    """Median seconds of a walker:adam step and of an Adam step on one mini-batch (interleaved),
    and the walker's k."""
    problem = problem_for(setting, 17)
    walker = make_walker(problem, config_for(setting, "adam"))
    adam = make_racer("adam", problem, 1e-3)
    idx = next(iter(problem.batches(setting.batch_size, 1)))
    walker.step()
    adam.step()  # (epoch 1: the start, on all the data)
    problem.use_batch(idx)
    inner_w, inner_a = walker.inner, adam.inner
    times: dict[str, list[float]] = {"walker": [], "adam": []}
    for _ in range(steps):
        for name, trainer in (("walker", inner_w), ("adam", inner_a)):
            t0 = time.thread_time()
            trainer.step()
            times[name].append(time.thread_time() - t0)
    problem.use_batch(None)
    return statistics.median(times["walker"]), statistics.median(times["adam"]), inner_w.k


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="17,18,19")
    p.add_argument("--problems", default=",".join(SETTINGS))
    p.add_argument("--epochs-scale", type=float, default=1.0,
                   help="the full-batch problems' limits times this (a quicker look)")  # fmt: skip
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    t0 = time.perf_counter()
    torch.set_num_threads(1)  # (its time is then this thread's CPU time: see the docstring)
    print(
        "| problem | optimizer | LR | loss @10 | loss @30 | held-out acc. @30 "
        "| evaluations to target | time to target | sweep's whole cost |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    notes, heads = [], []
    for key in args.problems.split(","):
        setting = SETTINGS[key]
        if setting.batch_size is None and args.epochs_scale != 1.0:
            setting.epochs = max(30, int(setting.epochs * args.epochs_scale))
        started = time.perf_counter()
        rows = rows_for(setting, seeds)
        for row in rows:
            print("| " + " | ".join(cells(row, setting, len(seeds))) + " |", flush=True)
            notes += [f"{setting.label}: {n}" for n in row.notes]
        target = rows[0].runs[0].target
        heads.append(f"{setting.label}: target {target:.4g}, limit {setting.epochs} epochs, "
                     f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    print()
    for setting in (SETTINGS[k] for k in args.problems.split(",")):
        if setting.batch_size:
            w, a, k = step_cost(setting)
            print(f"{setting.label}: a step on a batch of {setting.batch_size}: walker:adam "
                  f"(k = {k}) {w * 1e3:.2f} ms, adam {a * 1e3:.2f} ms: {w / a:.1f}x")  # fmt: skip
    print("; ".join(heads))
    for note in notes:
        print(f"note: {note}")
    print(f"seeds {','.join(map(str, seeds))}; {time.perf_counter() - t0:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
