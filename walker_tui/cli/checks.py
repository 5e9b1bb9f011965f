"""Checking a command's options against each other and the machine before any work: the one
:func:`validate` that the app, ``run``, ``bench`` and ``serve`` share (each error one line, exit
2, on the command's own parser)."""

from __future__ import annotations

import argparse
import importlib.util
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path

from walker_tui.catalog import (
    CATALOG,
    EXTRA_RACERS,
    MODEL_PROBLEMS,
    RECORD_FORMATS,
    entry,
    walker_lrs,
)
from walker_tui.cli.args import Parser
from walker_tui.config import DEFAULT_LRS, Config
from walker_tui.core.grid import parse_lrs, parse_race


def check_record(parser: Parser, path: str | None, force: bool) -> None:
    if path is None:
        return
    target = Path(path)
    if target.suffix.lower() not in RECORD_FORMATS:
        parser.error(f"argument --record: {path!r} must end in .csv, .json or .npz")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        parser.error(f"argument --record: folder {str(folder)!r} does not exist")
    try:  # a real write: os.access says yes to root even where writing fails
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError:
        parser.error(f"argument --record: folder {str(folder)!r} cannot be written")
    if target.is_dir():
        parser.error(f"argument --record: {path!r} is a folder")
    if target.exists() and not force:
        parser.error(f"argument --record: {path!r} exists; add --force to overwrite it")
    part = target.with_name(target.name + ".part")  # what a killed .npz run left behind
    if target.suffix.lower() == ".npz" and part.exists() and not force:
        parser.error(
            f"argument --record: {str(part)!r} exists (a run that was killed; walker-tui replay "
            "opens it); add --force to overwrite it"
        )


def make_config(
    args: argparse.Namespace, fresh_w0: bool = False, lrs_default: str = DEFAULT_LRS
) -> Config:
    """Turn parsed arguments into a Config (w0 from a fresh seed for the notebook's benchmark)."""
    w0 = args.w0
    if w0 is None and fresh_w0 and args.problem == "linear" and args.data is None:
        from walker_tui.core.problems.base import fresh_w0 as draw

        w0 = draw(args.seed)
    known = entry(args.problem)
    direction = args.direction
    if args.lrs:
        spec = args.lrs
    elif args.problem == "linear" and direction == "sgd":
        spec = lrs_default  # (the notebook's grids: run's and the app's, bench's)
    else:
        spec = walker_lrs(args.problem, direction)
    return Config(
        problem=args.problem,
        n=args.n,
        seed=args.seed,
        lrs=parse_lrs(spec),
        lrs_spec=spec,
        w0=w0,
        min_loss=_min_loss(args, known.min_loss),
        epochs=args.epochs or known.epochs,
        kappa=10.0 if args.kappa is None else args.kappa,
        stay=args.stay,
        grid=args.grid,
        direction=direction,
        data=args.data,
        target=args.target,
        device=args.device,
        race=racers_of(args),
        pace=known.pace if args.pace is None else args.pace,
        batch_size=args.batch_size or known.batch_size,
    )


def _min_loss(args: argparse.Namespace, default: float | None) -> float | None:
    """--min-loss as given; else the problem's default, or None (1% above its minimum loss)
    for a user's table, whose scale no fixed number fits."""
    if args.min_loss is not None:
        return args.min_loss
    return None if args.data is not None else default


def racers_of(args: argparse.Namespace) -> list[tuple[str, float]]:
    """The app's --race, or bench's racers: as given, else the problem's own defaults."""
    given = args.race or args.racers
    if given:
        return given
    if args.stepper_lrs:
        return [("stepper", lr) for lr in args.stepper_lrs]
    if args.problem == "linear":  # the notebook's: bench's four steppers, the app's and run's one
        rates = (0.1, 0.9, 0.5, 0.7) if args.command == "bench" else (0.3,)
        return [("stepper", lr) for lr in rates]
    return parse_race(entry(args.problem).racers)


def check_data(parser: Parser, args: argparse.Namespace) -> None:
    """--data: a readable, all-number table for linear or logistic regression; --w0 its size."""
    dim = {"mlp": 337}.get(args.problem, 2)
    if entry(args.problem).model and args.w0 is not None:
        parser.error(f"argument --w0: does not apply to {args.problem} (the model's own weights)")
    if args.data is not None:
        if args.problem not in ("linear", "logistic"):
            parser.error(f"argument --data: fits linear or logistic regression, not {args.problem}")
        from walker_tui.core.data import DataError, load_table

        try:
            table = load_table(args.data, args.target, binary=args.problem == "logistic")
        except DataError as e:
            parser.error(f"argument --data: {e}")
        dim = table.x.shape[1]
    elif args.target is not None:
        parser.error("argument --target: goes with --data")
    if args.w0 is not None and len(args.w0) != dim:
        got = len(args.w0)
        parser.error(
            f"argument --w0: {args.problem} has {dim} weights, got {got} number{'s' * (got != 1)}"
        )


# options one command has and another has not, at what leaving them out means: every check then
# reads them as attributes (the command itself is `args.command`: app, run or bench)
SHARED = {
    "direction": "sgd",
    "pace": 4.0,
    "race": None,
    "racers": None,
    "stepper_lrs": None,
    "optimizer": "walker",
    "lr": None,
    "sweep": False,
    "record": None,
}


def parse(parser: Parser, argv: list[str]) -> argparse.Namespace:
    """Parse, noting which defaults were taken (an option given where it does not apply is an
    error, one left out is not)."""
    args = parser.parse_args(argv)
    for name, value in SHARED.items():  # what this command has no option for
        vars(args).setdefault(name, value)
    args.n_given = args.n is not None
    args.n = 100 if args.n is None else args.n
    return args


def check_applies(parser: Parser, args: argparse.Namespace) -> None:
    """Options given that the run would ignore get an error, not silence; so do sizes the
    problem cannot use."""
    known = entry(args.problem)
    if args.batch_size is not None and not known.model:
        models = ", ".join(MODEL_PROBLEMS)
        parser.error(
            f"argument --batch-size: mini-batches are for model problems ({models}, or "
            f"FILE.py:FUNC), not {args.problem}"
        )
    if args.kappa is not None and args.problem != "quadratic":
        parser.error(f"argument --kappa: only --problem quadratic has one, not {args.problem}")
    if args.n_given and (not known.has_data or args.data is not None):
        what = (
            "the rows of --data"
            if args.data is not None
            else f"{args.problem} brings its own data"
            if known.model
            else f"{args.problem} has no data"
        )
        parser.error(f"argument --n: does not apply ({what})")
    if args.n < known.min_n:
        parser.error(f"argument --n: {args.problem} needs at least {known.min_n} points")
    optimizer = args.optimizer
    if optimizer != "walker":
        walker_only = [
            flag
            for flag, given in (
                ("--lrs", args.lrs is not None),
                ("--grid", args.grid != "fixed"),
                ("--stay", args.stay),
                ("--direction", args.direction != "sgd"),
            )
            if given
        ]
        if walker_only:
            parser.error(f"argument {walker_only[0]}: the walker's, not --optimizer {optimizer}'s")
    if args.lr is not None and optimizer in ("walker", "exact"):
        why = "its rates are --lrs" if optimizer == "walker" else "it chooses its own step"
        parser.error(f"argument --lr: does not apply to --optimizer {optimizer} ({why})")
    lr = args.lr
    if lr is not None and not (math.isfinite(lr) and lr > 0):  # (named: the rate it is)
        finite = "" if math.isfinite(lr) else " is not finite"
        why = f"{optimizer}'s rate must be positive and finite"
        parser.error(f"argument --lr: {lr:g}{finite}: {why}")
    if args.stepper_lrs and args.racers:
        parser.error("argument --stepper-lrs: give --racers or --stepper-lrs, not both")


def check_extra(parser: Parser, flag: str, names: Sequence[str]) -> None:
    """A racer of the racers extra whose package is not installed: one line naming the extra,
    before any work (found with importlib, not imported: no torch on this path)."""
    for name in names:
        module = EXTRA_RACERS.get(name)
        if module is not None and importlib.util.find_spec(module) is None:
            parser.error(
                f'{flag} {name} needs the racers extra: pip install -e ".[racers]" in the clone'
            )


def check_exact(parser: Parser, problem: str, racers: list[tuple[str, float]]) -> None:
    if any(name == "exact" for name, _ in racers) and not entry(problem).exact:
        exact = ", ".join(k for k, e in CATALOG.items() if e.exact)
        parser.error(f"the exact line search is only known for {exact}, not {problem}")


def check_model(parser: Parser, args: argparse.Namespace) -> None:
    """A user's model: found, called once and checked (its forward and loss on two samples)
    before any work, so a mistake is one line naming it (and their own line), exit 2."""
    if ":" not in args.problem:
        return
    from walker_tui.core.problems.torch_model import make_model_problem
    from walker_tui.core.problems.user_model import UserProblemError

    try:
        make_model_problem(args.problem, args.seed, "cpu")
    except UserProblemError as e:
        parser.error(f"argument --problem: {e}")


def check_device(parser: Parser, spec: str) -> object:
    from walker_tui.core.devices import resolve_device

    try:
        return resolve_device(spec)
    except ValueError as e:
        parser.error(f"argument --device: {e}")


def validate(
    parser: Parser,
    args: argparse.Namespace,
    racers_flag: str,
    racer_names: Sequence[str],
    exact: list[tuple[str, float]],
    load_torch: bool = True,
) -> None:
    """Every check the app, ``run``, ``bench`` and ``serve`` make before any work, in one order:
    the extras the racers need (``racers_flag`` names the option), the data, the options that
    apply, exact's problems, the user's model, and the device (``load_torch=False`` leaves out
    devices other than auto and cpu, which need torch loaded to check: serve answers sooner)."""
    check_extra(parser, racers_flag, racer_names)
    check_data(parser, args)
    check_applies(parser, args)
    check_exact(parser, args.problem, exact)
    check_model(parser, args)
    if load_torch or args.device not in ("auto", "cpu"):
        check_device(parser, args.device)
