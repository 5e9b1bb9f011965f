"""One module per panel. Shared colours and tick helpers live here."""

from __future__ import annotations

import math
import os

import numpy as np
from textual.message import Message


class Say(Message):
    """A panel has something to tell the user (a bar's rate and loss): the app's status line
    says it. Widgets post it up rather than call the app by name, so they work in any App."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class TravelTo(Message):
    """The user clicked an epoch on a panel: the app shows it."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch


WALKER_COLOR = "cyan"
RACER_COLORS = ("orange", "magenta", "green", "yellow", "blue", "white")
WINNER_COLOR = "red"
WINNER_GLYPH = "★"


# one glyph per meaning: none of the surface's own (o start, + minimum, ★ winner, ◦ candidates,
# · the walker's path under NO_COLOR) nor the bars' * (the winning rate)
RACER_MARKERS = ("•", "x", "#", "%", "@", "=")
# NO_COLOR: light greys, each at least 3:1 against the dark themes' backgrounds (the terminal
# turns a colour into its grey: magenta became 237 on 234, about 1.5:1); glyphs tell them apart
PLAIN_COLORS = ((235, 235, 235), (190, 190, 190), (160, 160, 160), (215, 215, 215))


def series_color(name: str, index: int) -> str | tuple[int, int, int]:
    """The walker is cyan; racers take the palette in order (light greys under NO_COLOR)."""
    if no_color():
        return PLAIN_COLORS[0 if name == "walker" else 1 + (index - 1) % (len(PLAIN_COLORS) - 1)]
    return WALKER_COLOR if name == "walker" else RACER_COLORS[(index - 1) % len(RACER_COLORS)]


def bar_color() -> str | tuple[int, int, int]:
    """The candidates' bars: blue, or a light grey under NO_COLOR (blue's grey is too dark)."""
    return (150, 150, 150) if no_color() else "blue"


def series_marker(name: str, index: int) -> str:
    """The walker draws braille lines; each racer a glyph of its own, so series differ without
    colour (NO_COLOR) too."""
    return "braille" if name == "walker" else RACER_MARKERS[(index - 1) % len(RACER_MARKERS)]


def legend_glyph(marker: str) -> str:
    return "⣿" if marker == "braille" else marker


def no_color() -> bool:
    """NO_COLOR is set (https://no-color.org): shapes, not colours, must tell things apart."""
    return bool(os.environ.get("NO_COLOR"))


def decade_ticks(lo: float, hi: float, most: int = 8) -> tuple[list[float], list[str]]:
    """Ticks at whole decades between log10 values lo and hi, labelled as 1e<k>."""
    a, b = math.floor(lo), math.ceil(hi)
    if b == a:
        b = a + 1
    step = max(1, math.ceil((b - a) / most))
    ticks = list(range(a, b + 1, step))
    return [float(t) for t in ticks], [f"1e{t}" for t in ticks]


def log_ticks(lo: float, hi: float, most: int = 8) -> tuple[list[float], list[str]]:
    """Ticks for an axis of log10 values: whole decades when it spans two or more, otherwise a
    few evenly spaced values labelled with their real numbers."""
    if hi - lo >= 2:
        ticks, labels = decade_ticks(lo, hi, most)
        keep = [i for i, t in enumerate(ticks) if lo - 1e-9 <= t <= hi + 1e-9]
        return [ticks[i] for i in keep], [labels[i] for i in keep]
    count = max(2, min(4, most))
    ticks = [lo + (hi - lo) * i / (count - 1) for i in range(count)]
    return ticks, [f"{10**t:.3g}" for t in ticks]


def thin(
    indices: list[int], width: int, keep: int | list[int] | None = None, label: int = 5
) -> list[int]:
    """Tick positions from ``indices`` spaced so labels ``label`` wide never touch (plotext
    resolves touching labels in an order that varies from run to run), always with ``keep``
    (a list: each in turn, unless it would touch one kept before it)."""
    most = max(2, (width - 8) // (label + 3))
    step = max(1, math.ceil(len(indices) / most))
    out = indices[::step]
    musts: list[int] = []
    for k in [] if keep is None else [keep] if isinstance(keep, int) else keep:
        if all(abs(k - m) >= step for m in musts):
            musts.append(k)
    for k in musts:
        if k not in out:
            out = sorted([i for i in out if abs(i - k) >= step or i in musts] + [k])
    return out


def epoch_ticks(last: float, most: int) -> list[int]:
    """Whole-number ticks from 1 to ``last``, at a round step, at most ``most`` of them."""
    span = max(1.0, last - 1)
    raw = span / max(1, most - 1)
    step = 1
    mag = 10 ** math.floor(math.log10(max(raw, 1)))
    for mult in (1, 2, 5, 10):
        step = int(mult * mag)
        if step >= raw:
            break
    ticks = [1] + list(range(step, int(last) + 1, step))
    return sorted(set(t for t in ticks if t <= last))


def envelope(xs: np.ndarray, ys: np.ndarray, points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most about ``points`` points of a long series: per bucket its first, lowest and highest
    point, so spikes and the trend both survive; the last point is always kept. Vectorised (a
    stable sort by bucket, then value), as it runs every frame on series of thousands."""
    n = len(xs)
    if n <= points:
        return xs, ys
    buckets = max(1, points // 3)
    edges = np.linspace(0, n, buckets + 1).astype(int)
    bucket = np.searchsorted(edges, np.arange(n), side="right") - 1
    finite = np.isfinite(ys)
    keep = [edges[:-1][edges[1:] > edges[:-1]], np.array([n - 1])]
    for key in (np.where(finite, ys, np.inf), np.where(finite, -ys, np.inf)):
        order = np.lexsort((key, bucket))  # by bucket, then value; ties keep index order
        _, first = np.unique(bucket[order], return_index=True)
        best = order[first]
        keep.append(best[finite[best]])  # a bucket with nothing finite has no lowest point
    order = np.unique(np.concatenate(keep))
    return xs[order], ys[order]


def snap(
    xs: np.ndarray, ys: np.ndarray, window: tuple[float, float, float, float], cols: int, rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """Drop points that land on the same braille dot of a cols x rows panel (2 x 4 dots a cell):
    the picture is the same and plotext's per-point cost stays bounded by the panel's size."""
    x0, x1, y0, y1 = window
    if len(xs) == 0 or x1 <= x0 or y1 <= y0:
        return xs, ys
    gx = np.clip(((xs - x0) / (x1 - x0) * (2 * cols)).astype(np.int64), 0, 2 * cols)
    gy = np.clip(((ys - y0) / (y1 - y0) * (4 * rows)).astype(np.int64), 0, 4 * rows)
    _, first = np.unique(gx * (4 * rows + 1) + gy, return_index=True)
    first.sort()
    return xs[first], ys[first]


def no_negative_zero(label: str) -> str:
    """``-0.00`` (a tick a hair below zero, rounded) as ``0.00``: a zero has no sign."""
    if label.startswith("-") and not any(c in "123456789" for c in label.split("e")[0]):
        return label[1:]
    return label


def unsigned_zero_ticks(lo: float, hi: float, count: int) -> tuple[list[float], list[str]] | None:
    """plotext's own ticks for an axis from ``lo`` to ``hi`` (``count`` of them, its default
    5 on x and 7 on y) where its labels would print a negative zero, that label unsigned;
    None where they print none (plotext labels them itself, as before)."""
    try:  # (plotext's private helpers, no other way in: a plotext without them labels as before)
        from plotext import _utility as ut

        ticks = ut.linspace(lo, hi, count)
        labels = ut.get_labels(ticks)
    except (ImportError, AttributeError, TypeError, ValueError):
        return None
    plain = [no_negative_zero(label) for label in labels]
    return (ticks, plain) if plain != labels else None
