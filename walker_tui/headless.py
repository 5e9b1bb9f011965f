"""``walker-tui run`` and ``bench``: the engine without the app, in the notebook's format."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import TextIO

import torch

from .config import Config
from .engine import (
    HostEpoch,
    Outcome,
    Walker,
    device_name,
    evals_per_epoch,
    host_batch,
    make_racer,
    make_walker,
    resolve_device,
    run,
)
from .grids import format_rate
from .history import Recording
from .problems import Problem
from .session import build_problem, is_out_of_memory, memory_message, start_weights


def build(cfg: Config) -> tuple[Problem, torch.device]:
    """The problem of a config, on its device."""
    device = resolve_device(cfg.device)
    return build_problem(cfg, cfg.seed, device), device


def final_line(outcome: Outcome, walker: bool = True) -> str:
    if outcome.state == "diverged":
        why = "no candidate has a finite loss" if walker else "the loss is not finite"
        return f"Diverged at epoch {outcome.epochs}: {why}."
    return f"Final loss: {outcome.loss:.3f} in {outcome.epochs} epochs."


def guarded(command: str, cfg: Config, body: Callable[[], int]) -> int:
    """Run a headless command; out-of-memory becomes a one-line error (exit 1), not a traceback."""
    try:
        return body()
    except (RuntimeError, MemoryError) as error:
        if not is_out_of_memory(error):
            raise
        print(f"walker-tui {command}: error: {memory_message(cfg, error)}", file=sys.stderr)
        return 1


def run_command(cfg: Config, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Print the notebook's table for one walker or stepper run. Exit 0, 1 diverged, 130 Ctrl+C."""
    return guarded("run", cfg, lambda: _run(cfg, args, out or sys.stdout))


def _run(cfg: Config, args: argparse.Namespace, out: TextIO) -> int:
    problem, device = build(cfg)
    w0 = start_weights(cfg, problem)
    walker = args.optimizer == "walker"
    if walker:
        trainer = make_walker(problem, cfg, w0)
    else:
        trainer = make_racer(args.optimizer, problem, args.lr, w0)
    recording = Recording(
        trainer.rates, {**cfg.options(), "optimizer": args.optimizer, "lr": args.lr}
    )

    def on_epoch(rec: HostEpoch) -> None:
        if args.record:
            recording.add(rec)
        if args.quiet:
            return
        loss = "nan" if rec.loss != rec.loss else f"{rec.loss:.3f}"
        if walker:
            out.write(f"{rec.epoch}\t{format_rate(rec.lr, list(rec.rates))}\t{loss}\n")
        else:
            out.write(f"{rec.epoch}\t{loss}\n")

    if not args.quiet:
        out.write("Epoch\tLR\tLoss\n" if walker else "Epoch\tLoss\n")
    try:
        outcome = run(
            trainer, cfg.epochs, cfg.min_loss, on_epoch=on_epoch, sync_every=host_batch(device)
        )
    except KeyboardInterrupt:
        out.flush()
        print(f"Interrupted at epoch {trainer.epoch}.", file=sys.stderr)
        return _save(recording, args, 130)
    out.write(final_line(outcome, walker) + "\n")
    out.flush()
    return _save(recording, args, 1 if outcome.state == "diverged" else 0)


def _save(recording: Recording, args: argparse.Namespace, code: int) -> int:
    if args.record:
        recording.save(args.record)
    return code


def timed_round_robin(
    makers: list[Callable[[], Walker]], cfg: Config, repeat: int
) -> list[tuple[Outcome, float]]:
    """Outcome and median wall time (seconds) to the target of each trainer over ``repeat`` warm
    runs, interleaved (one run of each in turn) so a noisy machine slows them all alike."""
    device = makers[0]().problem.device
    sync = _synchronizer(device)
    every = host_batch(device)
    outcomes = [run(make(), cfg.epochs, cfg.min_loss, sync_every=every) for make in makers]
    times: list[list[float]] = [[] for _ in makers]
    for _ in range(repeat):
        for i, make in enumerate(makers):
            trainer = make()
            sync()
            t0 = time.perf_counter()
            outcomes[i] = run(trainer, cfg.epochs, cfg.min_loss, sync_every=every)
            sync()
            times[i].append(time.perf_counter() - t0)
    return [(o, statistics.median(t)) for o, t in zip(outcomes, times, strict=True)]


def _synchronizer(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def bench_command(cfg: Config, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """The notebook's benchmark: walker and steppers from the same w0 on the same data."""
    return guarded("bench", cfg, lambda: _bench(cfg, args, out or sys.stdout))


def _bench(cfg: Config, args: argparse.Namespace, out: TextIO) -> int:
    problem, device = build(cfg)
    w0 = start_weights(cfg, problem)
    out.write(
        f"Benchmark: {cfg.problem}, n={cfg.n}, seed {cfg.seed}, "
        f"w0 ({w0[0].item():.4f}, {w0[1].item():.4f}), target {cfg.min_loss:g}, "
        f"device {device_name(device)}, median of {args.repeat} runs\n"
    )
    grid = f"{cfg.lrs_spec} ({len(cfg.lrs)} rates)"
    racers: list[tuple[str, str, Callable[[], Walker]]] = [
        ("walker", grid, lambda: make_walker(problem, cfg, w0))
    ]
    if cfg.problem != "linear" and cfg.grid == "fixed":  # beyond the notebook: both walkers
        racers.append(
            (
                "walker",
                f"adaptive from {cfg.lrs_spec}",
                lambda: Walker(problem, cfg.lrs, w0, stay=cfg.stay, adaptive=True),
            )
        )
    for name, lr in cfg.race:
        label = "-" if name == "exact" else f"{lr:g}"
        racers.append((name, label, lambda n=name, lr=lr: make_racer(n, problem, lr, w0)))
    out.write(
        "Optimizer\tLR\tFinal loss\tEpochs\tEvaluations\tTime to target\tPer epoch"
        "\tWalker speed-up\n"
    )
    out.flush()
    print(f"timing {len(racers)} optimizers, {args.repeat + 1} runs each…", file=sys.stderr)
    try:
        results = timed_round_robin([make for _, _, make in racers], cfg, args.repeat)
        walker_time = results[0][1]
        for (name, label, make), (outcome, seconds) in zip(racers, results, strict=True):
            evals = outcome.epochs * evals_per_epoch(make())
            ratio = "-" if name == "walker" else f"{seconds / walker_time:.2f}x"
            loss = "diverged" if outcome.state == "diverged" else f"{outcome.loss:.3f}"
            out.write(
                f"{name}\t{label}\t{loss}\t{outcome.epochs}\t{evals}\t{seconds * 1e3:.2f} ms\t"
                f"{seconds / max(outcome.epochs, 1) * 1e3:.3f} ms\t{ratio}\n"
            )
        out.write(
            "(evaluations: loss evaluations, k an epoch for the walker; walker speed-up: the "
            "racer's time to target over the walker's, above 1x the walker gets there first)\n"
        )
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    return 0
