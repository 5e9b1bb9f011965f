"""The one registry: the problems by name, with their defaults and the class that builds each
(named, not imported: walker_tui.core.problems.zoo imports it), the racers, the directions and
the record formats. Torch-free, so the command line can list and check them without torch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """What the command line needs to know of a problem before building it."""

    summary: str
    lrs: str  # the default --lrs grid for this problem
    epochs: int  # the default --epochs
    racers: str = "stepper:0.3"  # the default racers of bench (and of the app, but for linear)
    exact: bool = False  # has an exact line search (the `exact` racer)
    # the default --min-loss; None: 1% above the problem's own minimum loss (see
    # session.resolve_target), for problems whose minimum is far from any fixed number
    min_loss: float | None = 0.1
    has_data: bool = False  # is --n its number of data points (else --n does not apply)
    min_n: int = 1  # the fewest data points it can use
    model: bool = False  # a torch model (core.problems.torch_model): --batch-size applies
    batch_size: int | None = None  # the default --batch-size (None: all the data)
    # the default grids of --direction momentum and adam (see DIRECTIONS below for
    # where they come from; --direction sgd takes lrs)
    momentum_lrs: str = "log:0.001:1:13"
    adam_lrs: str = "log:0.0001:0.1:13"
    pace: float = 4.0  # the app's default --pace: epochs a second
    # the class that builds it, "module:Class" in walker_tui.core.problems ("": a torch model,
    # torch_model.make_model_problem builds it)
    family: str = ""


CATALOG: dict[str, Entry] = {
    "linear": Entry(
        "the notebook's least squares: y = 3x + 2 + noise",
        "0.1:1:0.1",
        100,
        "stepper:0.3,momentum:0.1,adam:5,exact",
        exact=True,
        has_data=True,
        momentum_lrs="log:0.01:10:13",
        adam_lrs="log:0.1:100:13",
        pace=1.0,  # the opening (walker-tui alone): its 11 epochs last 11 s, not 3
        family="regression:LinearProblem",
    ),
    "quadratic": Entry(
        "a tilted 2-D bowl with condition number --kappa",
        "log:0.002:0.5:12",
        200,
        "stepper:0.15,momentum:0.05,adam:0.3,exact",
        exact=True,
        momentum_lrs="log:0.001:1:13",
        adam_lrs="log:0.01:10:13",
        family="functions:Quadratic",
    ),
    "rosenbrock": Entry(
        "Rosenbrock's banana valley, from (-1.2, 1)",
        "log:0.0001:0.01:9",
        5000,
        "stepper:0.001,momentum:0.0002,adam:0.05",
        momentum_lrs="log:1e-05:0.01:13",
        adam_lrs="log:0.001:1:13",
        family="functions:Rosenbrock",
    ),
    "himmelblau": Entry(
        "Himmelblau's function (four minima), from (0, 0)",
        "log:0.0001:0.1:13",
        500,
        "stepper:0.01,momentum:0.002,adam:0.1",
        momentum_lrs="log:0.0001:0.1:13",
        adam_lrs="log:0.01:10:13",
        family="functions:Himmelblau",
    ),
    "beale": Entry(
        "Beale's function, from (1, 1)",
        "log:0.0001:0.1:13",
        5000,
        "stepper:0.01,momentum:0.002,adam:0.05",
        momentum_lrs="log:0.0001:0.1:13",
        adam_lrs="log:0.001:1:13",
        family="functions:Beale",
    ),
    "logistic": Entry(
        "logistic regression on 2-feature data with label noise",
        "log:0.1:100:13",
        500,
        "stepper:3,momentum:1,adam:0.5",
        momentum_lrs="log:0.1:100:13",
        adam_lrs="log:0.01:10:13",
        min_loss=None,  # 10% label noise: the minimum loss is ~0.5, and moves with the seed
        has_data=True,
        family="regression:LogisticProblem",
    ),
    "mlp": Entry(
        "a 2-16-16-1 tanh network on two moons (a 2-D slice of its 337 weights)",
        "log:0.01:10:13",
        1000,
        "stepper:0.5,momentum:0.1,adam:0.02",
        momentum_lrs="log:0.01:10:13",
        adam_lrs="log:0.001:1:13",
        has_data=True,
        min_n=2,  # its features are standardised: one point has no spread
        family="mlp:MLPProblem",
    ),
    "digits": Entry(
        "a 64-32-10 MLP classifying the UCI 8x8 handwritten digits, 360 held out (a slice of "
        "its 2,410 weights)",
        "log:0.01:10:13",
        30,
        "stepper:0.3,momentum:0.05,adam:0.003",
        min_loss=None,  # no known minimum: run every epoch
        model=True,
        batch_size=64,
    ),
}
PROBLEMS = tuple(CATALOG)
MODEL_PROBLEMS = tuple(k for k, e in CATALOG.items() if e.model)
# a user's own model, --problem FILE.py:FUNC or package.module:FUNC
# (walker_tui.core.problems.user_model)
USER_MODEL = Entry(
    "your model",
    "log:0.001:3:13",
    20,
    "stepper:0.1,momentum:0.01,adam:0.001",
    min_loss=None,
    model=True,
)


def entry(problem: str) -> Entry:
    """The catalog entry of a built-in problem, or the one every user model shares."""
    return CATALOG.get(problem) or USER_MODEL


# --direction: what the walker walks along (walker_tui.core.directions); sgd is today's walker
DIRECTIONS = ("sgd", "momentum", "adam")
# Each direction's default grid: sgd's is the problem's own (lrs above); momentum's and adam's
# are 13 rates log-spaced over three decades, from the decade at or below a tenth of the
# problem's racer rate for that optimizer (why: docs/guides/directions.md, "Default grids").
# tests/unit/test_directions.py checks every entry keeps to this rule.


def walker_lrs(problem: str, direction: str = "sgd") -> str:
    """The default --lrs of a walker along ``direction`` on ``problem``."""
    return _direction_grid(entry(problem), direction)


def model_lrs(direction: str = "sgd") -> str:
    """The default grid along ``direction`` on a model of one's own: ``--problem FILE.py:FUNC``'s,
    and ``WalkerSGD``'s when it is given no ``lrs``."""
    return _direction_grid(USER_MODEL, direction)


def _direction_grid(known: Entry, direction: str) -> str:
    return {"sgd": known.lrs, "momentum": known.momentum_lrs, "adam": known.adam_lrs}[direction]


def walker_name(direction: str) -> str:
    """How a walker is named in legends, tables and outcomes: ``walker`` along the gradient,
    ``walker:adam`` along another direction."""
    return "walker" if direction == "sgd" else f"walker:{direction}"


RACER_NAMES = (  # racers.RACERS
    *("stepper", "momentum", "adam", "exact", "lbfgs", "armijo"),
    *("prodigy", "dadapt", "schedulefree"),
)
# racers that may be named without a rate, and the rate they then take (exact takes none; the
# line searches start from 1, their published default)
DEFAULT_RATES = {"exact": 0.0, "lbfgs": 1.0, "armijo": 1.0}
# the tuning-free racers of the racers extra: the package each needs, and its published default
# rate (Prodigy's and D-Adaptation's 1, Schedule-Free AdamW's own 0.0025)
EXTRA_RACERS = {"prodigy": "prodigyopt", "dadapt": "dadaptation", "schedulefree": "schedulefree"}
DEFAULT_RATES |= {"prodigy": 1.0, "dadapt": 1.0, "schedulefree": 0.0025}
RECORD_FORMATS = (".csv", ".json", ".npz")  # what --record writes (recording.writer)
