"""The ``walker-tui`` command: the app, ``run`` and ``bench``.

Only argparse and the torch-free grid parser are imported at start-up, so ``--help`` and argument
errors answer at once; torch and textual are imported when there is work to do.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from . import __version__
from .catalog import (
    CATALOG,
    DEFAULT_RATES,
    EXTRA_RACERS,
    MODEL_PROBLEMS,
    PROBLEMS,
    RACER_NAMES,
    RECORD_FORMATS,
    entry,
)
from .config import BENCH_LRS, DEFAULT_LRS, Config
from .grids import MAX_RATES, SYNTAX, GridError, parse_lrs, parse_race

if TYPE_CHECKING:  # (numpy-only, but kept off --help's import path)
    from .history import Recording

OPTIMIZERS = ("walker", *RACER_NAMES)
FLOAT32_MAX = 3.4028234663852886e38  # numpy.finfo(numpy.float32).max


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``walker-tui run: error: ...`` and exit status 2."""

    def error(self, message: str) -> NoReturn:
        if _torchrun() and os.environ["RANK"] != "0":
            # under torchrun every rank checks the same options and rank 0 says what is wrong;
            # the others wait a moment first, or torchrun would end rank 0 before it has said it
            time.sleep(3)
            self.exit(2)
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# --- argument types: each raises ArgumentTypeError with a message naming the problem ---


def _lrs(text: str) -> str:
    try:
        parse_lrs(text)
    except GridError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _int(low: int | None = None, what: str = "") -> type:
    def conv(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if low is not None and value < low:
            raise argparse.ArgumentTypeError(f"{value} is too small: {what}")
        return value

    return conv  # type: ignore[return-value]


def _float(positive: bool, what: str) -> type:
    def conv(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if math.isnan(value) or (positive and not math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"{text!r} is not finite: {what}")
        if value < 0 or (positive and value == 0):
            raise argparse.ArgumentTypeError(f"{text!r}: {what}")
        return value

    return conv  # type: ignore[return-value]


def _w0(text: str) -> list[float]:
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"takes numbers A,B (one per weight; two numbers for 2-D problems), got {text!r}"
        ) from None
    if not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"values must be finite, got {text!r}")
    if any(abs(v) > FLOAT32_MAX for v in values):  # the weights are float32
        raise argparse.ArgumentTypeError(
            f"values must be finite in float32 (at most {FLOAT32_MAX:.4g} in size), got {text!r}"
        )
    return values


def _problem(text: str) -> str:
    if text in PROBLEMS or ":" in text:
        return text
    raise argparse.ArgumentTypeError(
        f"invalid choice: {text!r} (choose from {', '.join(map(repr, PROBLEMS))}, or your own "
        "model as FILE.py:FUNC or package.module:FUNC)"
    )


TUNING_FREE = "lbfgs,armijo,prodigy,dadapt,schedulefree"  # --racers tuning-free


def _race(text: str) -> list[tuple[str, float]]:
    try:
        return parse_race(TUNING_FREE if text == "tuning-free" else text)
    except GridError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _rates(text: str) -> list[float]:
    try:
        return parse_lrs(text)
    except GridError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


# --- parsers ---


def _common(p: argparse.ArgumentParser, lrs_default: str) -> None:
    g = p.add_argument_group("problem and walker")
    g.add_argument(
        "--problem",
        default="linear",
        type=_problem,
        metavar="PROBLEM",
        help="what to optimise: "
        + "; ".join(f"{k}: {e.summary}" for k, e in CATALOG.items())
        + "; or your own model: FILE.py:FUNC or package.module:FUNC, where FUNC() returns "
        "(model, loss_fn, (inputs, targets)[, held-out (inputs, targets)]) (see the README)",
    )
    g.add_argument(
        "--batch-size",
        type=_int(1, "--batch-size must be at least 1"),
        default=None,
        metavar="B",
        help="model problems (digits, your own): samples per mini-batch; an epoch is a pass "
        "over the data shuffled by --seed (digits: 64; your model: all the data)",
    )
    g.add_argument(
        "--kappa",
        type=_float(True, "--kappa must be positive and finite"),
        default=None,
        help="condition number of --problem quadratic (10)",
    )
    g.add_argument(
        "--n",
        type=_int(1, "--n must be at least 1"),
        default=None,
        help="data points (100; 200 for mlp)",
    )
    g.add_argument("--seed", type=_int(), default=17, help="random seed for data and w0 (17)")
    g.add_argument(
        "--lrs",
        type=_lrs,
        default=None,
        metavar="GRID",
        help=f"the walker's rates: {SYNTAX}; at most {MAX_RATES} "
        f"({lrs_default} for linear; each problem has its own default)",
    )
    g.add_argument(
        "--grid",
        choices=("fixed", "adaptive"),
        default="fixed",
        help="adaptive: a log grid re-centred on the winner each epoch, widened when the "
        "winner sits on its edge (fixed)",
    )
    g.add_argument(
        "--stay", action="store_true", help="add a zero-rate candidate: the loss never goes up"
    )
    g.add_argument(
        "--w0", type=_w0, default=None, metavar="A,B", help="start weights (drawn from the seed)"
    )
    g.add_argument(
        "--min-loss",
        type=_float(False, "must be 0 or more (0 = never stop early)"),
        default=None,
        metavar="L",
        help="stop when the loss is below L; 0 = never stop early (0.1; for logistic and "
        "--data: 1%% above the problem's minimum loss)",
    )
    g.add_argument(
        "--epochs",
        type=_int(1, "--epochs must be at least 1"),
        default=None,
        help="most epochs (100 for linear; each problem has its own default)",
    )
    g.add_argument(
        "--data",
        metavar="FILE.csv",
        help="linear (or --problem logistic) regression on your own table: a header row, numbers "
        "only; features standardised, an intercept added",
    )
    g.add_argument("--target", metavar="COLUMN", help="--data's target column (default: last)")
    g.add_argument(
        "--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps"
    )


def _record(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--record",
        metavar="PATH",
        help="save every epoch's candidates, losses and winners (.csv, .json or .npz)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing --record file")


def app_parser() -> Parser:
    p = Parser(
        prog="walker-tui",
        description="Watch and steer the walker (SGD over a grid of learning rates) as it trains.",
        epilog=(
            "commands:\n"
            "  walker-tui [options]        the app (space pause, n step, s race, ? help)\n"
            "  walker-tui run [options]    headless: the notebook's table (walker-tui run --help)\n"
            "  walker-tui bench [options]  headless: the notebook's benchmark (bench --help)\n"
            "  walker-tui replay FILE      a recording in the app (replay --help)\n"
            "  walker-tui watch FILE...    recordings followed as they grow, side by side: a\n"
            "                              run --record or WalkerSGD(record=...) still writing\n"
            "                              (end follows, c picks a run, m metrics, e smoothing)\n"
            "  walker-tui serve [options]  the app as a web page, textual-serve (serve --help)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"walker-tui {__version__}")
    _common(p, DEFAULT_LRS)
    p.add_argument(
        "--race",
        type=_race,
        default=None,
        metavar="RACERS",
        help="who races the walker on key s: rates for steppers (0.3,0.7) or "
        "stepper:0.3,momentum:0.1,adam:0.05,exact,lbfgs,armijo:1, and with the racers extra "
        "prodigy, dadapt (DAdaptSGD), schedulefree (AdamWScheduleFree) (linear: stepper 0.3; "
        "each problem has its own)",
    )
    _pacing(p, 4.0)
    return p


def _pacing(p: argparse.ArgumentParser, pace: float) -> None:
    """--pace and --paused, for the app and replay."""
    p.add_argument(
        "--pace",
        type=_float(False, "must be 0 or more (0 = as fast as it goes)"),
        default=pace,
        metavar="EPS",
        help=f"epochs per second at start; 0 = as fast as it goes ({pace:g})",
    )
    p.add_argument("--paused", action="store_true", help="start paused (n steps one epoch)")


def run_parser() -> Parser:
    p = Parser(prog="walker-tui run", description="Train headless and print the notebook's table.")
    _common(p, DEFAULT_LRS)
    p.add_argument(
        "--optimizer",
        default="walker",
        choices=OPTIMIZERS,
        help="walker (the default) or a racer: "
        + ", ".join(RACER_NAMES)
        + " (prodigy, dadapt (DAdaptSGD) and schedulefree (AdamWScheduleFree) need the racers "
        'extra: pip install -e ".[racers]" in the clone)',
    )
    p.add_argument(
        "--lr",
        type=_float(True, "the stepper's rate must be positive and finite"),
        default=None,
        help="the rate of --optimizer stepper, momentum or adam (0.3), the first step of "
        "lbfgs or armijo (1), or the lr of prodigy or dadapt (1) or schedulefree (0.0025)",
    )
    p.add_argument("--quiet", action="store_true", help="print only the final line")
    _record(p)
    return p


def bench_parser() -> Parser:
    p = Parser(
        prog="walker-tui bench",
        description=(
            "The notebook's benchmark: the walker and steppers from the same w0 on the same data.\n"
            "Defaults are the notebook's: the grid lin:0.1:1:10 and w0 drawn from a fresh seed\n"
            "(manual_seed(seed); rand(2) * 1000 - 500), on the 100-point data."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(p, BENCH_LRS)
    p.add_argument(
        "--stepper-lrs",
        type=_rates,
        default=None,
        metavar="RATES",
        help="race steppers at these rates (linear: 0.1,0.9,0.5,0.7, the notebook's)",
    )
    p.add_argument(
        "--racers",
        type=_race,
        default=None,
        metavar="RACERS",
        help="racers instead of the steppers, e.g. stepper:0.3,momentum:0.1,adam:0.05,exact, "
        "lbfgs,armijo:1,prodigy,dadapt,schedulefree (the last three: the racers extra), or "
        "tuning-free for those five (problems other than linear race their own set by default)",
    )
    p.add_argument(
        "--sweep",
        action="store_true",
        help="add the best stepper of a sweep over the walker's own grid (one run a rate; the "
        "row says which rate won and what the sweep cost)",
    )
    p.add_argument(
        "--repeat", type=_int(1, "--repeat must be at least 1"), default=5, help="timed runs (5)"
    )
    return p


def _check_record(parser: Parser, path: str | None, force: bool) -> None:
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
        from .problems import fresh_w0 as draw

        w0 = draw(args.seed)
    known = entry(args.problem)
    spec = args.lrs or (lrs_default if args.problem == "linear" else known.lrs)
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
        data=args.data,
        target=args.target,
        device=args.device,
        race=_racers(args),
        pace=getattr(args, "pace", 4.0),
        batch_size=args.batch_size or known.batch_size,
    )


def _min_loss(args: argparse.Namespace, default: float | None) -> float | None:
    """--min-loss as given; else the problem's default, or None (1% above its minimum loss)
    for a user's table, whose scale no fixed number fits."""
    if args.min_loss is not None:
        return args.min_loss
    return None if args.data is not None else default


def _racers(args: argparse.Namespace) -> list[tuple[str, float]]:
    """The app's --race, or bench's racers: as given, else the problem's own defaults."""
    given = getattr(args, "race", None) or getattr(args, "racers", None)
    if given:
        return given
    if getattr(args, "stepper_lrs", None):
        return [("stepper", lr) for lr in args.stepper_lrs]
    if hasattr(args, "stepper_lrs") and args.problem == "linear":
        return [("stepper", lr) for lr in (0.1, 0.9, 0.5, 0.7)]
    if args.problem == "linear" and not hasattr(args, "stepper_lrs"):
        return [("stepper", 0.3)]
    return parse_race(entry(args.problem).racers)


def _check_data(parser: Parser, args: argparse.Namespace) -> None:
    """--data: a readable, all-number table for linear or logistic regression; --w0 its size."""
    dim = {"mlp": 337}.get(args.problem, 2)
    if entry(args.problem).model and args.w0 is not None:
        parser.error(f"argument --w0: does not apply to {args.problem} (the model's own weights)")
    if args.data is not None:
        if args.problem not in ("linear", "logistic"):
            parser.error(f"argument --data: fits linear or logistic regression, not {args.problem}")
        from .data import DataError, load_table

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


def _parse(parser: Parser, argv: list[str]) -> argparse.Namespace:
    """Parse, noting which defaults were taken (an option given where it does not apply is an
    error, one left out is not)."""
    args = parser.parse_args(argv)
    args.n_given = args.n is not None
    args.n = 100 if args.n is None else args.n
    return args


def _check_applies(parser: Parser, args: argparse.Namespace) -> None:
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
    optimizer = getattr(args, "optimizer", "walker")
    if optimizer != "walker":
        walker_only = [
            flag
            for flag, given in (
                ("--lrs", args.lrs is not None),
                ("--grid", args.grid != "fixed"),
                ("--stay", args.stay),
            )
            if given
        ]
        if walker_only:
            parser.error(f"argument {walker_only[0]}: the walker's, not --optimizer {optimizer}'s")
    if getattr(args, "lr", None) is not None and optimizer in ("walker", "exact"):
        why = "its rates are --lrs" if optimizer == "walker" else "it chooses its own step"
        parser.error(f"argument --lr: does not apply to --optimizer {optimizer} ({why})")
    if getattr(args, "stepper_lrs", None) and getattr(args, "racers", None):
        parser.error("argument --stepper-lrs: give --racers or --stepper-lrs, not both")


def _check_extra(parser: Parser, flag: str, names: Sequence[str]) -> None:
    """A racer of the racers extra whose package is not installed: one line naming the extra,
    before any work (found with importlib, not imported: no torch on this path)."""
    for name in names:
        module = EXTRA_RACERS.get(name)
        if module is not None and importlib.util.find_spec(module) is None:
            parser.error(
                f'{flag} {name} needs the racers extra: pip install -e ".[racers]" in the clone'
            )


def _check_exact(parser: Parser, problem: str, racers: list[tuple[str, float]]) -> None:
    if any(name == "exact" for name, _ in racers) and not entry(problem).exact:
        exact = ", ".join(k for k, e in CATALOG.items() if e.exact)
        parser.error(f"the exact line search is only known for {exact}, not {problem}")


def _check_model(parser: Parser, args: argparse.Namespace) -> None:
    """A user's model: found, called once and checked (its forward and loss on two samples)
    before any work, so a mistake is one line naming it (and their own line), exit 2."""
    if ":" not in args.problem:
        return
    from .models import UserProblemError, make_model_problem

    try:
        make_model_problem(args.problem, args.seed, "cpu")
    except UserProblemError as e:
        parser.error(f"argument --problem: {e}")


def _device(parser: Parser, spec: str) -> object:
    from .engine import resolve_device

    try:
        return resolve_device(spec)
    except ValueError as e:
        parser.error(f"argument --device: {e}")


VALUED = ("--w0", "--lrs", "--race", "--stepper-lrs", "--min-loss", "--lr", "--seed", "--n")


def _join_negative_values(argv: list[str]) -> list[str]:
    """Let ``--w0 -19,-19`` mean ``--w0=-19,-19``: argparse would take the value for an option."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in VALUED and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``walker-tui`` console script."""
    from .signals import Stopped, ending, ending_on_signals, say

    argv = list(sys.argv[1:] if argv is None else argv)
    # SIGTERM and SIGHUP end run, bench and the app as Ctrl+C does (under torchrun SIGTERM is
    # torchrun's: _parallel; serve has its own)
    ends = not _torchrun() and [a for a in argv if a != "--"][:1] != ["serve"]
    try:
        with ending_on_signals() if ends else contextlib.nullcontext():
            return _main(argv)
    except BrokenPipeError:  # `walker-tui run | head`: the reader left; stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Stopped as stop:  # before the work began (torch loading) or after it was done
        words, code = ending(stop)
        say(f"{words}.")
        return code


COMMANDS = ("run", "bench", "replay", "watch", "serve")


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `torchrun ... -m walker_tui run -- --n 1000`: torchrun reads --n as an abbreviation of its
    # own options unless a -- comes first; the -- itself means nothing here
    argv = _join_negative_values([a for a in argv if a != "--"])
    command = argv[0] if argv and argv[0] in COMMANDS else "app"
    if command == "app" and argv and not argv[0].startswith("-"):  # a word that is no command
        app_parser().error(
            f"{argv[0]!r} is not a command; the commands are {', '.join(COMMANDS)} "
            "(walker-tui alone opens the app; walker-tui COMMAND --help)"
        )
    if command == "replay":
        return _replay(argv[1:])
    if command == "watch":
        return _watch(argv[1:])
    if command == "serve":
        from .serve import serve_command

        return serve_command(argv[1:])
    if command == "run":
        parser = run_parser()
        args = _parse(parser, argv[1:])
        _check_extra(parser, "--optimizer", [args.optimizer])
        _check_record(parser, args.record, args.force)
        _check_data(parser, args)
        _check_applies(parser, args)
        _check_exact(parser, args.problem, [(args.optimizer, args.lr)])
        _check_model(parser, args)
        if args.lr is None:
            args.lr = DEFAULT_RATES.get(args.optimizer, 0.3)
        _device(parser, args.device)
        from .headless import run_command

        if _torchrun():
            return _parallel(parser, "run", make_config(args), args, run_command)
        return run_command(make_config(args), args)
    if command == "bench":
        parser = bench_parser()
        args = _parse(parser, argv[1:])
        _check_extra(parser, "--racers", [name for name, _ in args.racers or []])
        _check_data(parser, args)
        _check_applies(parser, args)
        _check_exact(parser, args.problem, _racers(args))
        _check_model(parser, args)
        _device(parser, args.device)
        from .headless import bench_command

        cfg = make_config(args, fresh_w0=True, lrs_default=BENCH_LRS)
        if _torchrun():
            return _parallel(parser, "bench", cfg, args, bench_command)
        return bench_command(cfg, args)
    parser = app_parser()
    args = _parse(parser, argv)
    _check_extra(parser, "--race", [name for name, _ in args.race or []])
    _check_data(parser, args)
    _check_applies(parser, args)
    _check_exact(parser, args.problem, _racers(args))
    _check_model(parser, args)
    _device(parser, args.device)
    if _torchrun():
        return _parallel(parser, "app", make_config(args), args, _lead_or_follow)
    return _run_app(make_config(args), args.paused)


def _torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def _parallel(parser: Parser, command: str, cfg: Config, args: argparse.Namespace, body) -> int:
    """``run`` or ``bench`` as one rank of a torchrun job (walker_tui.distributed): rank 0
    prints and records, the others print nothing; a rank that fails says so in one line naming
    itself and the cause, and leaves at once (torchrun then ends the others)."""
    import dataclasses

    from . import distributed

    if not (entry(cfg.problem).has_data or entry(cfg.problem).model):
        parser.error(
            f"under torchrun: {cfg.problem} has no data to share out (give linear, logistic, "
            "--data, mlp, digits or your own model)"
        )
    ranks = int(os.environ.get("WORLD_SIZE", "1"))
    if entry(cfg.problem).has_data and cfg.data is None and cfg.n < ranks:
        parser.error(f"argument --n: {cfg.n} data points cannot be shared out among {ranks} ranks")
    try:
        device = distributed.init(cfg.device)
    except ValueError as e:
        parser.error(f"argument --device: {e}")
    cfg = dataclasses.replace(cfg, device=str(device))
    if distributed.rank() != 0 and getattr(args, "record", None):
        args.record = None  # rank 0 writes the recording
    distributed.quiet_followers()
    if command != "app":  # (the app ends itself on SIGTERM, restoring the terminal: _run_app)
        distributed.end_on_sigterm()
    try:
        code = body(cfg, args)
    except BaseException as error:  # noqa: BLE001 (every failure: one line, and out)
        distributed.say_failure(command, error, cfg.problem)
        os._exit(130 if isinstance(error, KeyboardInterrupt) else 1)
    distributed.finish()
    return code


def _lead_or_follow(cfg: Config, args: argparse.Namespace) -> int:
    """The app under torchrun: rank 0 draws and takes the keys (keeping the whole problem on
    the CPU for the surface), every other rank runs what it sends (walker_tui.distributed)."""
    from . import distributed

    if distributed.rank() != 0:
        return distributed.follow(cfg)
    distributed.KEEP_FULL = True
    heartbeat = distributed.Heartbeat()
    try:
        return _run_app(cfg, args.paused, finish=heartbeat.close)
    finally:
        heartbeat.close()


def _run_app(
    cfg: Config,
    paused: bool,
    replay: Recording | None = None,
    finish: object = None,
) -> int:
    """Run the app (training, or playing a recording) and leave cleanly."""
    # torch and textual leave a million long-lived objects behind; a full collection that walks
    # them all stalls the UI for ~120 ms every few seconds. Freezing them keeps collections to
    # the objects made since (benchmarks/app_redraw.py: the worst key latency).
    import gc

    from .app import make_app
    from .signals import ending_on_signals, say, word

    gc.freeze()  # (no collect first: it would cost the first frame ~150 ms)
    app = make_app(cfg, start_paused=paused, replay=replay)
    ended: list[int] = []

    def leave(signum: int, frame: object) -> None:
        ended.append(signum)
        app.exit(return_code=128 + signum)  # the app restores the terminal on its way out

    guard = ending_on_signals(leave)  # SIGTERM and SIGHUP: as q, with a line and 128 + signal
    if finish is not None:  # under torchrun: another rank's failure makes torchrun end this one
        import signal

        signal.signal(signal.SIGTERM, leave)
        guard = contextlib.nullcontext()
    with guard:
        app.run()
    code = app.return_code or 0
    if ended and finish is None:  # (said once the terminal is restored)
        say(f"{word(ended[0])} at epoch {app.latest_epoch}.")
    elif ended:
        from .distributed import others_failures

        time.sleep(0.2)  # (the failing rank writes its line as it leaves)
        for line in others_failures():  # said while the app's screen was up: lost with it
            print(line, file=sys.__stderr__)
        print(
            "walker-tui: error: rank 0 stopped: torchrun ended the job (another rank failed)",
            file=sys.__stderr__,
            flush=True,
        )
        os._exit(1)
    if finish is not None:  # under torchrun: quit every rank (once the training thread is out)
        ranks = os.environ.get("WORLD_SIZE", "?")
        print(f"walker-tui: ending the {ranks} ranks…", file=sys.__stderr__, flush=True)
        app.still_busy(wait=30)
        finish()
    if app.still_busy(wait=0.2):
        # A cancelled thread is still inside a torch call (one epoch at n = 10^7 takes seconds).
        # Tearing the interpreter down under it aborts in torch's C++ teardown (exit 134 or
        # 139), so leave at once: the terminal is restored and nothing else is left to save.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def replay_parser() -> Parser:
    p = Parser(
        prog="walker-tui replay",
        description="Open a recording (run --record, or the app's w) in the app: every panel, "
        "time travel (left/right, pgup/pgdn, home/end), at the pace you set.",
    )
    p.add_argument("file", metavar="FILE", help="a recording: .csv, .json, .npz or .npz.part")
    _pacing(p, 0.0)
    return p


def _replay(argv: list[str]) -> int:
    parser = replay_parser()
    args = parser.parse_args(argv)
    from .replay import ReplayError, load_replay

    try:
        recording, cfg = load_replay(args.file)
    except ReplayError as e:
        parser.error(str(e))
    cfg.pace = args.pace
    return _run_app(cfg, args.paused, recording)


def watch_parser() -> Parser:
    p = Parser(
        prog="walker-tui watch",
        description="Follow recordings as they grow, like tail -f, side by side: a run --record "
        "or a script's WalkerSGD(record=...) still writing, or finished files. One loss curve "
        "with a line per file; end follows the newest epoch, left/pgup/home go back; c (or 1-9) "
        "picks whose candidates and path are shown, m shows the metrics a script logged "
        "(opt.log), e smooths the curves (EMA 0.6, 0.9, 0.99). Each file is looked at every "
        "0.25 s and only what it gained is read; a file not there yet is waited for.",
    )
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="recordings: .csv, .json, .npz (or the .npz.part an .npz run streams to)",
    )
    return p


def _watch(argv: list[str]) -> int:
    parser = watch_parser()
    args = parser.parse_args(argv)
    from .watch import watchable

    paths, seen = [], set()
    for name in args.files:
        path = Path(name)
        why = watchable(path)
        if why is not None:
            parser.error(why)
        key = os.path.abspath(path)
        if key not in seen:  # (the same file twice is watched once)
            seen.add(key)
            paths.append(path)
    return _run_watch(paths)


def _run_watch(paths: list[Path]) -> int:
    """The watch app, left as the app is (a line on SIGTERM or SIGHUP)."""
    import gc

    from .signals import ending_on_signals, say, word
    from .watch_app import WatchApp

    gc.freeze()
    app = WatchApp(paths)
    ended: list[int] = []

    def leave(signum: int, frame: object) -> None:
        ended.append(signum)
        app.exit(return_code=128 + signum)

    with ending_on_signals(leave):
        app.run()
    if ended:
        say(f"{word(ended[0])}: walker-tui watch stopped (the recordings are left as they are).")
    return app.return_code or 0
