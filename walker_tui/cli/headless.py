"""``walker-tui run`` and ``bench``: the engine without the app, in the notebook's format."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TextIO

import torch

import walker_tui.parallel.sharded as distributed
from walker_tui.catalog import entry, walker_lrs, walker_name
from walker_tui.cli.signals import deferred, ending, say
from walker_tui.config import BENCH_LRS, Config
from walker_tui.core.devices import device_name, resolve_device
from walker_tui.core.grid import format_rate, parse_lrs
from walker_tui.core.problems.base import Problem
from walker_tui.core.trainers.loop import HostEpoch, Outcome, Trainer, host_batch, run
from walker_tui.core.trainers.racers import make_racer
from walker_tui.core.trainers.walker import make_walker, make_walker_racer
from walker_tui.numbers import epochs, format_loss, format_metric, format_metrics, format_target
from walker_tui.numbers import rates as count_rates
from walker_tui.recording.ends import end_record
from walker_tui.recording.writer import RecordWriter, describe_os_error
from walker_tui.viewmodel.session import (
    build_problem,
    is_out_of_memory,
    memory_message,
    resolve_target,
    start_weights,
)


def build(cfg: Config) -> tuple[Config, Problem, torch.device]:
    """The problem of a config, on its device, and the config with its target resolved."""
    device = resolve_device(cfg.device)
    problem = build_problem(cfg, cfg.seed, device)
    return replace(cfg, min_loss=resolve_target(cfg, problem)), problem, device


def final_line(outcome: Outcome, target: float, walker: bool = True) -> str:
    """The notebook's last line; a run that stopped at the epoch limit says it missed the target."""
    if outcome.state == "diverged":
        why = "no candidate has a finite loss" if walker else "the loss is not finite"
        return f"Diverged at epoch {outcome.epochs}: {why}."
    line = f"Final loss: {format_loss(outcome.loss, target)} in {epochs(outcome.epochs)}"
    if outcome.state == "limit" and target > 0:
        return f"{line} (target {format_target(target)} not reached)."
    return line + "."


def guarded(command: str, cfg: Config, body: Callable[[], int]) -> int:
    """Run a headless command; out-of-memory becomes a one-line error (exit 1), not a traceback."""
    if distributed.active():
        return body()  # one rank of many: the caller names the rank (cli._parallel)
    try:
        return body()
    except (RuntimeError, MemoryError) as error:
        if not is_out_of_memory(error):
            if ":" in cfg.problem:
                return _user_failed(command, cfg, error)
            raise
        print(f"walker-tui {command}: error: {memory_message(cfg, error)}", file=sys.stderr)
        return 1
    except Exception as error:
        if ":" not in cfg.problem:
            raise
        return _user_failed(command, cfg, error)


def _user_failed(command: str, cfg: Config, error: BaseException) -> int:
    """An error raised in the user's own model mid-run: one line with their line, exit 1."""
    from walker_tui.core.problems.user_model import spec_files, user_error

    text = user_error(error, cfg.problem, spec_files(cfg.problem))
    print(f"walker-tui {command}: error: {text}", file=sys.stderr)
    return 1


def run_command(cfg: Config, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Print the notebook's table for one walker or stepper run. Exit 0, 1 diverged (or its
    recording stopped), 130 Ctrl+C, 143 SIGTERM, 129 SIGHUP."""
    return guarded("run", cfg, lambda: _run(cfg, args, out or sys.stdout))


def _run(cfg: Config, args: argparse.Namespace, out: TextIO) -> int:
    cfg, problem, device = build(cfg)
    w0 = start_weights(cfg, problem)
    walker = args.optimizer == "walker"
    if walker:
        trainer = make_walker(problem, cfg, w0)
    else:
        trainer = make_racer(args.optimizer, problem, args.lr, w0)
    options = {**cfg.options(), "optimizer": args.optimizer, "lr": args.lr}
    # streamed to disk as it goes (flushed every second): a killed run keeps its epochs
    try:
        recording = RecordWriter(args.record, trainer.rates, options) if args.record else None
    except OSError as error:  # (a full disk: the head does not fit)
        why = describe_os_error(error)
        print(f"walker-tui run: error: cannot write {args.record}: {why}", file=sys.stderr)
        return 1
    said: list[str] = []  # the recording's failure, once said
    last: list[HostEpoch] = []  # the latest epoch (its metrics go on the final line)
    on_epoch = _epoch_lines(cfg, args, out, recording, said, last)
    try:
        if not args.quiet:  # (in the try: a reader gone already ends the file as below)
            _table_head(out, problem, cfg, args.optimizer)
        outcome = run(
            trainer, cfg.epochs, cfg.min_loss, on_epoch=on_epoch, sync_every=host_batch(device)
        )
    except KeyboardInterrupt as stop:  # Ctrl+C, SIGTERM, SIGHUP (walker_tui.cli.signals)
        with deferred():  # (a second signal does not cut the .npz's assembly short)
            words, code = ending(stop)
            try:
                out.flush()
            except (OSError, ValueError):  # (a terminal that hung up)
                pass
            say(f"{words} at epoch {trainer.epoch}.")
            how = "Ctrl+C" if words == "Interrupted" else words  # (Terminated, Hung up)
            return _save(recording, said, code, ("interrupted", how))
    except BaseException as error:  # any other failure still ends the file cleanly (npz)
        with deferred():
            _save(recording, said, 1, ("failed", type(error).__name__))
        raise
    return _run_ends(out, cfg, problem, outcome, walker, last, recording)


def _epoch_lines(
    cfg: Config,
    args: argparse.Namespace,
    out: TextIO,
    recording: RecordWriter | None,
    said: list[str],
    last: list[HostEpoch],
) -> Callable[[HostEpoch], None]:
    """What run does with each epoch: record it, and print its row of the table."""
    walker = args.optimizer == "walker"

    def on_epoch(rec: HostEpoch) -> None:
        last[:] = [rec]
        if recording is not None:
            recording.add(rec)
            if recording.failure is not None and not said:  # the run goes on without it
                said.append(recording.failure)
                say(f"walker-tui run: error: {recording.failure}; the run goes on")
        if args.quiet:
            return
        loss = format_loss(rec.loss, cfg.min_loss)
        extra = "".join(f"\t{format_metric(k, v)}" for k, v in (rec.metrics or {}).items())
        if walker:
            # the rate of the step taken; "stay" where an adaptive walk kept its weights
            rate = format_rate(rec.lr, list(rec.rates)) if rec.moved else "stay"
            if not rec.scored:  # (the winners' mean, taken without scoring: core/schedule.py)
                rate += " (reused)"
            out.write(f"{rec.epoch}\t{rate}\t{loss}{extra}\n")
        else:
            out.write(f"{rec.epoch}\t{loss}{extra}\n")

    return on_epoch


def _table_head(out: TextIO, problem: Problem, cfg: Config, optimizer: str) -> None:
    """run's table head, and on stderr what an epoch is where it takes mini-batches."""
    head = ["Epoch", "LR", "Loss"] if optimizer == "walker" else ["Epoch", "Loss"]
    head += [name.capitalize() for name in problem.metric_names()]
    out.write("\t".join(head) + "\n")
    if problem.batched and cfg.batch_size and cfg.batch_size >= problem.n:
        print(
            f"--batch-size {cfg.batch_size} is at least the {problem.n} samples: every "
            "step is on all of them (the full-data setting)",
            file=sys.stderr,
        )
    elif problem.batched and cfg.batch_size and optimizer == "lbfgs":
        print(
            "lbfgs is a full-batch method: each epoch is one step on all the data, not on "
            f"mini-batches of {cfg.batch_size}",
            file=sys.stderr,
        )
    elif problem.batched and cfg.batch_size:
        print(
            f"mini-batches of {cfg.batch_size}: an epoch is a pass over the "
            f"{problem.n} samples; Loss is on all of them at the epoch's end, LR "
            "the rate of its last step",
            file=sys.stderr,
        )


def _run_ends(
    out: TextIO,
    cfg: Config,
    problem: Problem,
    outcome: Outcome,
    walker: bool,
    last: list[HostEpoch],
    recording: RecordWriter | None,
) -> int:
    """run's final line, and its recording ended with the outcome; the exit status."""
    line = final_line(outcome, cfg.min_loss, walker)
    if last and last[0].metrics and outcome.state != "diverged":
        line = f"{line[:-1]}; {format_metrics(last[0].metrics)}."
    try:
        out.write(line + "\n")
        if problem.notice:
            print(f"note: {problem.notice}", file=sys.stderr)
        out.flush()
    except BrokenPipeError:
        # `run --record r.csv | head`: the reader left after the training was done (the
        # table's rows are flushed only now). The run itself ended as it did: the file is
        # ended with its real outcome (its rows are all there), then the pipe ends the
        # command as anywhere else (exit 141, walker_tui.cli.main)
        _end_recording(recording, outcome)
        raise
    code = 1 if outcome.state == "diverged" else 0
    if _end_recording(recording, outcome):  # the run ends with its recording's line, exit 1
        return 1
    return code


def _end_recording(recording: RecordWriter | None, outcome: Outcome) -> bool:
    """End the recording of a run that finished with its outcome (an .npz is assembled from
    its sidecar); True (and said) when the recording failed."""
    if recording is None:
        return False
    with deferred():  # ends the file cleanly (a second signal does not cut it short)
        # its end record: reached, limit or diverged (a cancelled run: interrupted)
        recording.close("interrupted" if outcome.state == "stopped" else outcome.state)
    if recording.failure is not None:
        say(f"walker-tui run: error: {recording.failure}.")
        return True
    return False


def _save(recording: RecordWriter | None, said: list[str], code: int, why: tuple[str, str]) -> int:
    """End the recording of a run cut short (an .npz is assembled from its sidecar), its end
    record saying why (outcome, how); a failure first seen now is said now."""
    if recording is not None:
        recording.close(end_record(why[0], recording.last_epoch, why[1]))
        if recording.failure is not None and not said:
            say(f"walker-tui run: error: {recording.failure}.")
    return code


def timed_round_robin(
    makers: list[Callable[[], Trainer]], cfg: Config, repeat: int
) -> list[tuple[Outcome, float, int]]:
    """Outcome, median wall time (seconds) to the target and loss evaluations (as the trainer
    counted them) of each trainer over ``repeat`` warm runs, interleaved (one run of each in
    turn) so a noisy machine slows them all alike."""
    device = makers[0]().problem.device
    sync = _synchronizer(device)
    every = host_batch(device)
    outcomes, evaluations = [], []
    for make in makers:
        trainer = make()
        outcomes.append(run(trainer, cfg.epochs, cfg.min_loss, sync_every=every))
        evaluations.append(trainer.evaluations)
    times: list[list[float]] = [[] for _ in makers]
    for _ in range(repeat):
        for i, make in enumerate(makers):
            trainer = make()
            sync()
            t0 = time.perf_counter()
            outcomes[i] = run(trainer, cfg.epochs, cfg.min_loss, sync_every=every)
            sync()
            times[i].append(time.perf_counter() - t0)
    return [
        (o, statistics.median(t) if t else 0.0, e)
        for o, t, e in zip(outcomes, times, evaluations, strict=True)
    ]


def sweep(problem: Problem, cfg: Config, w0: torch.Tensor) -> tuple[float, int, int]:
    """The stepper's best rate on the walker's own grid: the first to reach the target (fewest
    epochs; ties to the smaller rate), else the lowest final loss. Returns (rate, rates tried,
    loss evaluations spent on the whole sweep)."""
    every = host_batch(problem.device)
    results, spent = [], 0
    for lr in cfg.lrs:
        if lr <= 0:
            continue
        trainer = make_racer("stepper", problem, lr, w0)
        outcome = run(trainer, cfg.epochs, cfg.min_loss, sync_every=every)
        spent += trainer.evaluations
        reached = outcome.state == "reached"
        loss = outcome.loss if outcome.loss == outcome.loss else float("inf")
        results.append(((not reached, outcome.epochs if reached else 0, loss, lr), lr))
    return min(results)[1], len(results), spent


def _synchronizer(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


class Table:
    """Rows tab-separated when piped (for scripts), in aligned columns on a terminal (tabs run
    columns into each other there). Piped, the header goes out at once; aligned, all at the end,
    when the widths are known."""

    def __init__(self, out: TextIO, head: list[str]) -> None:
        self.out, self.rows = out, [head]
        self.aligned = bool(getattr(out, "isatty", lambda: False)())
        if not self.aligned:
            out.write("\t".join(head) + "\n")
            out.flush()

    def row(self, cells: list[object]) -> None:
        cells = [str(c) for c in cells]
        if self.aligned:
            self.rows.append(cells)
        else:
            self.out.write("\t".join(cells) + "\n")

    def end(self) -> None:
        if not self.aligned:
            return
        widths = [max(len(r[i]) for r in self.rows) for i in range(len(self.rows[0]))]
        for r in self.rows:
            self.out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
            self.out.write("\n")


def bench_command(cfg: Config, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """The notebook's benchmark: walker and steppers from the same w0 on the same data."""
    return guarded("bench", cfg, lambda: _bench(cfg, args, out or sys.stdout))


def timed_runs(repeat: int) -> str:
    """What bench's times are: ``median of 5 timed runs``, or ``one timed run`` (no median)."""
    return "one timed run" if repeat == 1 else f"median of {repeat} timed runs"


Racer = tuple[str, str, Callable[[], Trainer]]  # bench's row: name, rate label, a fresh trainer


def _bench(cfg: Config, args: argparse.Namespace, out: TextIO) -> int:
    cfg, problem, device = build(cfg)
    w0 = start_weights(cfg, problem)
    out.write(_bench_head(cfg, problem, device, w0, args.repeat))
    racers = _walker_rows(cfg, problem, w0)
    mains = len(racers)  # the walker's own rows (the fixed grid, and the adaptive one)
    note = ""
    if args.sweep:
        note = _add_swept_stepper(racers, cfg, problem, w0)
    racers += _race_rows(cfg, problem, w0)
    if problem.batched and cfg.batch_size and any(n == "lbfgs" for n, _ in cfg.race):
        note += "; lbfgs is a full-batch method: it takes its step on all the data an epoch"
    table = Table(out, BENCH_HEAD)  # (piped, the head goes out now)
    print(
        f"timing {len(racers)} optimizers, a warm-up and {args.repeat} timed "
        f"run{'s' * (args.repeat != 1)} each…",
        file=sys.stderr,
    )
    try:
        _bench_table(out, table, racers, mains, cfg, args.repeat, note)
    except KeyboardInterrupt as stop:  # Ctrl+C, SIGTERM, SIGHUP (walker_tui.cli.signals)
        words, code = ending(stop)
        say(f"{words}.")
        return code
    return 0


def _bench_head(
    cfg: Config, problem: Problem, device: torch.device, w0: torch.Tensor, repeat: int
) -> str:
    """bench's first line: the problem, its seed and start, the target, the device, the timing."""
    # n only where the problem has data; the start in full where it is two weights
    size = f", n={problem.n}" if entry(cfg.problem).has_data else ""
    start = f"w0 ({w0[0].item():.4f}, {w0[1].item():.4f})" if len(w0) == 2 else f"{len(w0)} weights"
    where = device_name(device) + distributed.ranks_note()
    return (
        f"Benchmark: {cfg.problem}{size}, seed {cfg.seed}, {start}, "
        f"target {format_target(cfg.min_loss)}, device {where}, "
        f"{timed_runs(repeat)} after a warm-up\n"
    )


def _walker_rows(cfg: Config, problem: Problem, w0: torch.Tensor) -> list[Racer]:
    """The walker on its grid, and beyond the notebook (not linear) the adaptive walker too."""
    grid = f"{cfg.lrs_spec} ({count_rates(len(cfg.lrs), cfg.stay)})"
    me = walker_name(cfg.direction)  # walker, or walker:adam along another direction
    racers: list[Racer] = [(me, grid, lambda: make_walker(problem, cfg, w0))]
    if cfg.problem != "linear" and cfg.grid == "fixed":  # beyond the notebook: both walkers
        racers.append(
            (
                me,
                f"adaptive from {cfg.lrs_spec}",
                lambda: make_walker(problem, replace(cfg, grid="adaptive"), w0),
            )
        )
    return racers


def _add_swept_stepper(racers: list[Racer], cfg: Config, problem: Problem, w0: torch.Tensor) -> str:
    """--sweep: add the best stepper on the walker's grid; the note that says what it cost."""
    swept = cfg
    if cfg.direction != "sgd":  # steppers sweep the gradient's grid, not Adam's or momentum's
        spec = BENCH_LRS if cfg.problem == "linear" else walker_lrs(cfg.problem, "sgd")
        swept = replace(cfg, lrs=parse_lrs(spec), lrs_spec=spec)
    best, tried, spent = sweep(problem, swept, w0)
    label = f"{format_rate(best, swept.lrs)} (best of {tried})"
    racers.append(("stepper", label, lambda: make_racer("stepper", problem, best, w0)))
    return (
        f"; stepper (best of N): the best of a stepper at each of the "
        f"{'' if cfg.direction == 'sgd' else 'sgd '}walker's {tried} "
        f"rates (first to the target, else the lowest final loss), found with {spent} "
        "loss evaluations in all (the tuning the walker does without)"
    )


def _race_rows(cfg: Config, problem: Problem, w0: torch.Tensor) -> list[Racer]:
    """The racers of --racers (or the problem's own set)."""
    racers: list[Racer] = []
    for name, lr in cfg.race:
        if name.startswith("walker:"):  # a walker along its own direction, on its own grid
            spec = walker_lrs(cfg.problem, name.partition(":")[2])
            label = f"{spec} ({count_rates(len(parse_lrs(spec)))})"
            if cfg.grid == "adaptive":
                label = f"adaptive from {spec}"
            make = lambda n=name: make_walker_racer(n, problem, cfg, w0)  # noqa: E731
            racers.append((name, label, make))
            continue
        label = "-" if name == "exact" else f"{lr:g}"
        racers.append((name, label, lambda n=name, lr=lr: make_racer(n, problem, lr, w0)))
    return racers


BENCH_HEAD = [
    "Optimizer", "LR", "Final loss", "Epochs", "Evaluations", "Time to target", "Per epoch",
    "Walker speed-up",
]  # fmt: skip


def _reference(racers: list[Racer], results: list[tuple[Outcome, float, int]], mains: int) -> int:
    """The row speed-ups are over: the first walker row (the walker's own, or a walker:DIR
    racer) that reached the target; the first row when none did."""
    for i, ((name, _, _), (outcome, _, _)) in enumerate(zip(racers, results, strict=True)):
        if (i < mains or name.startswith("walker:")) and outcome.state == "reached":
            return i
    return 0


def _bench_table(
    out: TextIO,
    table: Table,
    racers: list[Racer],
    mains: int,
    cfg: Config,
    repeat: int,
    note: str,
) -> None:
    """Time every racer and fill bench's table, a row each; then what its columns mean."""
    results = timed_round_robin([make for _, _, make in racers], cfg, repeat)
    ref = _reference(racers, results, mains)
    walker_outcome, walker_time, _ = results[ref]
    rows = zip(racers, results, strict=True)
    for i, ((name, label, _), (outcome, seconds, evals)) in enumerate(rows):
        reached = outcome.state == "reached"
        if outcome.state == "diverged":
            loss = "diverged"
        else:
            loss = format_loss(outcome.loss, cfg.min_loss)
        # a time to target only for a racer that got there; a speed-up only when both did
        to_target = f"{seconds * 1e3:.2f} ms" if reached else "not reached"
        if i < mains or i == ref:  # the walker's own rows, and the row it is over
            ratio = "-"
        elif reached and walker_outcome.state == "reached":
            ratio = f"{seconds / walker_time:.2f}x"
        else:
            ratio = "-"
        per_epoch = f"{seconds / max(outcome.epochs, 1) * 1e3:.3f} ms"
        table.row([name, label, loss, outcome.epochs, evals, to_target, per_epoch, ratio])
    table.end()
    over = "the first walker row's"
    if ref:  # the first walker row never got there: a later one is the reference
        name, label, _ = racers[ref]
        who = name if ref >= mains else f"walker {label}"
        over = f"the {who} row's (the first walker row that reached it)"
    out.write(
        "(evaluations: loss evaluations as they happened, k a step that scores the grid for a "
        "walker (walker:adam on a model, on a fixed grid, scores now and then: 1 a step at its "
        "reused rate), a "
        "varying number for the line searches (lbfgs, armijo); walker speed-up: the "
        f"racer's time to target over {over}, above 1x the walker gets there "
        "first, "
        "shown only when both reached the target; not reached: stopped at the epoch limit "
        f"with the final loss shown{note})\n"
    )
