"""The command line's parsers, every command's here (:data:`PARSERS`), the problem and walker
options shared through one parent (:func:`problem_options`), and the option types that check a
value as it is read (one line and exit 2 for a bad one). Only argparse, the catalog and the
torch-free grid parser: ``--help`` and argument errors answer at once."""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable
from typing import Any, NoReturn

from walker_tui import __version__
from walker_tui.catalog import CATALOG, DIRECTIONS, PROBLEMS, RACER_NAMES
from walker_tui.config import BENCH_LRS, DEFAULT_LRS
from walker_tui.core.grid import MAX_RATES, SYNTAX, GridError, parse_lrs, parse_race
from walker_tui.core.seeds import SEED_MAX, SEED_MIN

OPTIMIZERS = ("walker", *RACER_NAMES)
FLOAT32_MAX = 3.4028234663852886e38  # numpy.finfo(numpy.float32).max


def under_torchrun() -> bool:
    """Under torchrun (each rank has RANK and WORLD_SIZE)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``walker-tui run: error: ...`` and exit status 2; no
    abbreviations (``--epoch 3`` was taken as ``--epochs``); ``--version`` on every command."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        if not kwargs.get("parents"):  # (problem_options brings it, in the same place: after -h)
            add_version(self)

    def error(self, message: str) -> NoReturn:
        if under_torchrun() and os.environ["RANK"] != "0":
            # under torchrun every rank checks the same options and rank 0 says what is wrong;
            # the others wait a moment first, or torchrun would end rank 0 before it has said it
            time.sleep(3)
            self.exit(2)
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_version(p: argparse.ArgumentParser) -> None:
    p.add_argument("--version", action="version", version=f"walker-tui {__version__}")


# --- argument types: each raises ArgumentTypeError with a message naming the problem ---


def _lrs(text: str) -> str:
    try:
        parse_lrs(text)
    except GridError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _int(low: int | None = None, what: str = "") -> Callable[[str], int]:
    def conv(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if low is not None and value < low:
            raise argparse.ArgumentTypeError(f"{value} is too small: {what}")
        return value

    return conv


def _seed(text: str) -> int:
    """A seed torch takes: a whole number from -2**63 to 2**64 - 1."""
    value = _int()(text)
    if not SEED_MIN <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(
            f"{value} is out of range: a seed is from {SEED_MIN} to {SEED_MAX}"
        )
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _float(positive: bool, what: str) -> Callable[[str], float]:
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

    return conv


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


# --- parsers: one per command, the problem and walker options shared through one parent ---


def problem_options(lrs_default: str) -> argparse.ArgumentParser:
    """The parent of the app's, run's, bench's and serve's parsers (argparse ``parents=``): what to
    optimise and how the walker walks. ``lrs_default`` is the grid --lrs's help names."""
    parent = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    add_version(parent)
    g = parent.add_argument_group("problem and walker")
    _what_to_optimise(g)
    _how_to_walk(g, lrs_default)
    _data_and_device(g)
    return parent


def _what_to_optimise(g: argparse._ArgumentGroup) -> None:
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
    g.add_argument("--seed", type=_seed, default=17, help="random seed for data and w0 (17)")


def _how_to_walk(g: argparse._ArgumentGroup, lrs_default: str) -> None:
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
        "--direction",
        choices=DIRECTIONS,
        default="sgd",
        help="what the walker walks along: sgd (the gradient, the notebook's walker), momentum "
        "(heavy ball 0.9) or adam (Adam's step, betas 0.9, 0.999): its k candidates are "
        "w - lr * u along that direction; each has its own default --lrs (sgd)",
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


def _data_and_device(g: argparse._ArgumentGroup) -> None:
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


APP_EPILOG = (
    "commands:\n"
    "  walker-tui [options]        the app (space pause, n step, s race, ? help)\n"
    "  walker-tui run [options]    headless: the notebook's table (walker-tui run --help)\n"
    "  walker-tui bench [options]  headless: the notebook's benchmark (bench --help)\n"
    "  walker-tui replay FILE      a recording in the app (replay --help)\n"
    "  walker-tui watch FILE...    recordings followed as they grow, side by side: a\n"
    "                              run --record or WalkerSGD(record=...) still writing\n"
    "                              (end follows, c picks a run, m metrics, e smoothing)\n"
    "  walker-tui serve [options]  the app as a web page, textual-serve (serve --help)"
)


def app_parser() -> Parser:
    p = Parser(
        prog="walker-tui",
        description="Watch and steer the walker (SGD over a grid of learning rates) as it trains.",
        epilog=APP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[problem_options(DEFAULT_LRS)],
    )
    _app_options(p)
    return p


def _app_options(p: argparse.ArgumentParser) -> None:
    """The app's own options (beside the parent's): --race and the pacing; serve takes them too."""
    p.add_argument(
        "--race",
        type=_race,
        default=None,
        metavar="RACERS",
        help="who races the walker on key s: rates for steppers (0.3,0.7) or "
        "stepper:0.3,momentum:0.1,adam:0.05,exact,lbfgs,armijo:1, and with the racers extra "
        "prodigy, dadapt (DAdaptSGD), schedulefree (AdamWScheduleFree), and walkers along a "
        "direction, walker:sgd, walker:momentum, walker:adam (on that direction's default grid) "
        "(linear: stepper 0.3; each problem has its own)",
    )
    add_pacing(p, None)
    p.set_defaults(command="app")


def add_pacing(p: argparse.ArgumentParser, pace: float | None) -> None:
    """--pace and --paused, for the app (None: the problem's pace) and replay."""
    default = "1 for linear, 4 for the others" if pace is None else f"{pace:g}"
    p.add_argument(
        "--pace",
        type=_float(False, "must be 0 or more (0 = as fast as it goes)"),
        default=pace,
        metavar="EPS",
        help=f"epochs per second at start; 0 = as fast as it goes ({default})",
    )
    p.add_argument("--paused", action="store_true", help="start paused (n steps one epoch)")


def run_parser() -> Parser:
    p = Parser(
        prog="walker-tui run",
        description="Train headless and print the notebook's table.",
        parents=[problem_options(DEFAULT_LRS)],
    )
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
        type=_number,  # (its range checked once --optimizer is known: checks.check_applies)
        default=None,
        help="the rate of --optimizer stepper, momentum or adam (0.3), the first step of "
        "lbfgs or armijo (1), or the lr of prodigy or dadapt (1) or schedulefree (0.0025)",
    )
    p.add_argument("--quiet", action="store_true", help="print only the final line")
    _record(p)
    p.set_defaults(command="run")
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
        parents=[problem_options(BENCH_LRS)],
    )
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
        "lbfgs,armijo:1,prodigy,dadapt,schedulefree (the last three: the racers extra), "
        "walker:momentum,walker:adam (walkers along a direction, on its default grid), or "
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
    p.set_defaults(command="bench")
    return p


def replay_parser() -> Parser:
    p = Parser(
        prog="walker-tui replay",
        description="Open a recording (run --record, or the app's w) in the app: every panel, "
        "time travel (left/right, pgup/pgdn, home/end), at the pace you set.",
    )
    p.add_argument("file", metavar="FILE", help="a recording: .csv, .json, .npz or .npz.part")
    add_pacing(p, 0.0)
    return p


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


WEB_EXTRA = 'pip install -e ".[web]" in the clone'  # what serve needs (textual-serve)
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def serve_parser() -> Parser:
    """The app's options, with --host and --port added (its help lists every app option)."""
    p = Parser(
        prog="walker-tui serve",
        description="Serve the app as a web page (textual-serve): every browser that opens it "
        "gets its own app, run with the app options given here.",
        epilog=(
            "examples:\n"
            "  walker-tui serve                        http://127.0.0.1:8000 on this machine\n"
            "  walker-tui serve --port 8123 --paused   app options pass through\n"
            "  ssh -L 8123:localhost:8123 HOST         on your laptop, for a server on HOST\n"
            "textual-serve has no authentication: whoever reaches the port controls the app.\n"
            f"needs the web extra: {WEB_EXTRA}"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[problem_options(DEFAULT_LRS)],
    )
    _app_options(p)
    g = p.add_argument_group("serving")  # (serve passes on the rest: these spellings only)
    g.add_argument(
        "--host",
        default=DEFAULT_HOST,
        metavar="H",
        help=f"address to bind (default {DEFAULT_HOST}, this machine only; 0.0.0.0 for every "
        "interface: anyone who reaches the port controls the app)",
    )
    g.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        metavar="P",
        help=f"port to listen on (default {DEFAULT_PORT})",
    )
    return p


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port: it must be 1 to 65535")
    return value


# every command's parser, by the word that names it ("app": walker-tui alone)
PARSERS: dict[str, Callable[[], Parser]] = {
    "app": app_parser,
    "run": run_parser,
    "bench": bench_parser,
    "replay": replay_parser,
    "watch": watch_parser,
    "serve": serve_parser,
}


VALUED = ("--w0", "--lrs", "--race", "--stepper-lrs", "--min-loss", "--lr", "--seed", "--n")


def join_negative_values(argv: list[str]) -> list[str]:
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
