"""Learning-rate grids: the ``--lrs`` syntax, parsed and validated without importing torch."""

from __future__ import annotations

import math
from collections.abc import Iterable

from walker_tui.catalog import DEFAULT_RATES, DIRECTIONS, RACER_NAMES

MAX_RATES = 1024
"""The most rates one grid may hold: the walker evaluates all of them every epoch."""

SYNTAX = "a list 0.1,0.5,0.9, or start:stop:step, lin:start:stop:num, log:start:stop:num"


class GridError(ValueError):
    """A learning-rate grid that cannot be used; the message names the problem."""


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise GridError(f"{what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise GridError(f"{what} {text!r} is not finite")
    return value


def _count(text: str) -> int:
    try:
        num = int(text)
    except ValueError:
        raise GridError(f"the count {text!r} is not a whole number") from None
    if num < 1:
        raise GridError(f"the count {num} must be at least 1")
    return num


def _arange(start: float, stop: float, step: float) -> list[float]:
    """numpy.arange(start, stop, step) in float64, stop excluded."""
    if step == 0:
        raise GridError("the step of start:stop:step must not be 0")
    num = math.ceil((stop - start) / step)
    if num > MAX_RATES:
        raise GridError(f"{num} rates, more than the limit of {MAX_RATES}")
    return [start + i * step for i in range(max(num, 0))]


def _linspace(start: float, stop: float, num: int) -> list[float]:
    """numpy.linspace(start, stop, num): stop included, the same floats numpy gives."""
    if num == 1:
        return [start]
    step = (stop - start) / (num - 1)
    return [start + i * step for i in range(num - 1)] + [stop]


def parse_lrs(spec: str) -> list[float]:
    """Parse a ``--lrs`` value into a list of positive, finite learning rates."""
    text = spec.strip()
    if not text:
        raise GridError(f"empty; give {SYNTAX}")
    head, _, rest = text.partition(":")
    if head in ("lin", "log"):
        parts = rest.split(":")
        if len(parts) != 3:
            raise GridError(f"{head}: takes start:stop:num, got {text!r}")
        start, stop = _number(parts[0], "start"), _number(parts[1], "stop")
        num = _count(parts[2])
        if num > MAX_RATES:
            raise GridError(f"{num} rates, more than the limit of {MAX_RATES}")
        if head == "log":
            if start <= 0 or stop <= 0:
                raise GridError("log: start and stop must be above 0 (a log range cannot touch 0)")
            rates = [10**v for v in _linspace(math.log10(start), math.log10(stop), num)]
        else:
            rates = _linspace(start, stop, num)
    elif ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise GridError(f"start:stop:step takes three numbers, got {text!r}")
        start, stop, step = (
            _number(p, w) for p, w in zip(parts, ("start", "stop", "step"), strict=True)
        )
        rates = _arange(start, stop, step)
        if not rates:
            raise GridError(f"the range {text!r} yields no rate (numpy arange: stop is excluded)")
    else:
        items = [p.strip() for p in text.split(",")]
        if any(not p for p in items):
            raise GridError(f"an empty item in the list {text!r}")
        rates = [_number(p, "rate") for p in items]
    if len(rates) > MAX_RATES:
        raise GridError(f"{len(rates)} rates, more than the limit of {MAX_RATES}")
    # The rates as written: arange's 0.1 + 2 * 0.1 is 0.30000000000000004, a float64 artefact
    # of the notebook's np.arange that no user wrote; 12 significant digits drop it (the walker
    # works in float32, which cannot tell the two apart).
    rates = [float(f"{r:.12g}") for r in rates]
    for rate in rates:
        if not math.isfinite(rate) or rate <= 0:
            raise GridError(f"rate {rate:g} is not positive; learning rates must be > 0")
    return rates


def grid_and_spec(lrs: str | float | Iterable[float]) -> tuple[list[float], str]:
    """The grid and its spec: the ``--lrs`` grammar, one number, or a list of numbers."""
    if isinstance(lrs, str):
        try:
            return parse_lrs(lrs), lrs.strip()
        except GridError as error:
            raise ValueError(f"lrs={lrs!r}: {error}") from None
    if isinstance(lrs, bool):
        raise ValueError(f"lrs={lrs!r}: give the --lrs grammar (e.g. '0.1:1:0.1') or a list")
    values = [lrs] if isinstance(lrs, (int, float)) else list(lrs)
    if not values:
        raise ValueError("lrs is empty: give at least one learning rate")
    if len(values) > MAX_RATES:
        raise ValueError(f"lrs: {len(values)} rates, more than the limit of {MAX_RATES}")
    rates = []
    for value in values:
        try:
            rate = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"lrs: {value!r} is not a number") from None
        if not isinstance(value, bool) and not math.isfinite(rate):
            raise ValueError(f"lrs: rate {value!r} is not finite")
        if isinstance(value, bool) or rate <= 0:
            raise ValueError(f"lrs: rate {value!r} is not positive; learning rates must be > 0")
        rates.append(rate)
    return rates, ",".join(repr(r) for r in rates)


def format_rate(rate: float, rates: list[float] | None = None) -> str:
    """A rate with two decimals as the notebook printed it (0.70) where two decimals are the rate
    itself, and significant digits otherwise (0.0125, 0.000859, 3.16e-05): never rounded to
    another rate. A grid whose rates two decimals cannot tell apart gets four digits for all."""
    if rates is not None and len({f"{r:.2f}" for r in rates}) < len(set(rates)):
        return f"{rate:.4g}"
    two = f"{rate:.2f}"
    if 0.01 <= rate < 1e6 and abs(float(two) - rate) <= 1e-6 * rate:  # (float32 rates too)
        return two
    return f"{rate:.4g}"


def parse_race(spec: str, names: tuple[str, ...] = RACER_NAMES) -> list[tuple[str, float]]:
    """``--race``: ``0.3,0.7`` (steppers) or ``stepper:0.3,momentum:0.1,adam:0.05,exact``;
    ``lbfgs`` and ``armijo`` alone take their default rate 1 (``lbfgs:0.5``, ``armijo:10``);
    ``walker:adam`` (``walker:sgd``, ``walker:momentum``; ``walker`` alone is along sgd) is a
    walker along that direction, named so, with no rate of its own (its grid is the
    direction's default: catalog.walker_lrs)."""
    out: list[tuple[str, float]] = []
    for item in (p.strip() for p in spec.split(",")):
        if not item:
            raise GridError(f"an empty item in {spec!r}")
        name, sep, rate = item.partition(":")
        if name == "walker":
            direction = rate if sep else "sgd"
            if direction not in DIRECTIONS:
                raise GridError(
                    f"unknown direction {direction!r} in {item!r}; a racing walker is "
                    f"{', '.join('walker:' + d for d in DIRECTIONS)}"
                )
            out.append((f"walker:{direction}", 0.0))
            continue
        if not sep:
            if name in names:  # a bare name: exact needs no rate, the line searches have one
                if name not in DEFAULT_RATES:
                    raise GridError(f"{name} needs a rate, e.g. {name}:0.1")
                out.append((name, DEFAULT_RATES[name]))
                continue
            name, rate = "stepper", item
        if name not in names:
            walkers = ", ".join(f"walker:{d}" for d in DIRECTIONS)
            raise GridError(
                f"unknown racer {name!r}; choose from {', '.join(names)}, or a walker along a "
                f"direction: {walkers}"
            )
        value = _number(rate, "rate")
        if value <= 0:
            raise GridError(f"rate {value:g} is not positive; learning rates must be > 0")
        out.append((name, value))
    return out


def racer_label(name: str, rate: float) -> str:
    """A racer's name in legends and outcomes: ``stepper 0.3``, ``exact``, ``walker:adam``."""
    if name == "exact" or name.startswith("walker:"):
        return name
    return f"{name} {rate:g}"
