"""The panels' pure helpers: the min/max envelope that thins long curves, the bars' columns."""

import re

import numpy as np
import pytest
from textual_plotext.plot import Plot

from walker_tui.ui.widgets import envelope
from walker_tui.ui.widgets.candidates import CandidateBars, bar_columns
from walker_tui.viewmodel.frames import BarsFrame


def envelope_by_loop(xs, ys, points):
    """The envelope bucket by bucket, written plainly: what the vectorised one must match."""
    n = len(xs)
    if n <= points:
        return xs, ys
    buckets = max(1, points // 3)
    edges = np.linspace(0, n, buckets + 1).astype(int)
    keep = {n - 1}
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        if b <= a:
            continue
        seg = ys[a:b]
        finite = np.isfinite(seg)
        keep.add(a)
        if finite.any():
            idx = np.flatnonzero(finite)
            keep.add(a + int(idx[np.argmin(seg[finite])]))
            keep.add(a + int(idx[np.argmax(seg[finite])]))
    order = np.array(sorted(keep))
    return xs[order], ys[order]


@pytest.mark.parametrize("n", [5, 100, 641, 3127, 100_000])
@pytest.mark.parametrize("points", [3, 20, 320])
def test_envelope_matches_the_plain_loop(n, points):
    rng = np.random.default_rng(n + points)
    xs = np.arange(1.0, n + 1)
    ys = np.log10(1e4 * 0.9 ** np.arange(n) + 0.08) + 0.01 * rng.standard_normal(n)
    ys[rng.integers(0, n, size=max(1, n // 50))] = np.nan  # diverged epochs
    ys[rng.integers(0, n, size=max(1, n // 80))] = np.inf
    ys[:: max(1, n // 7)] = np.round(ys[:: max(1, n // 7)], 1)  # ties
    got = envelope(xs, ys, points)
    want = envelope_by_loop(xs, ys, points)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_envelope_keeps_spikes_and_the_last_point():
    ys = np.zeros(10_000)
    ys[4321], ys[777] = 5.0, -3.0
    xs = np.arange(10_000.0)
    px, py = envelope(xs, ys, 300)
    assert len(px) <= 300 + 1
    assert 4321.0 in px and 777.0 in px and px[-1] == 9999.0
    assert py.max() == 5.0 and py.min() == -3.0


@pytest.mark.parametrize("k", [1, 5, 9, 13, 17, 25])
@pytest.mark.parametrize("area", [20, 34, 45, 52, 70, 95])
def test_bar_columns_give_equal_bars_with_a_gap(k, area):
    pos, (left, right) = bar_columns(k, area)
    spans = [(p - left, p + right) for p in pos]
    assert spans[0][0] >= 0 and spans[-1][1] <= area - 1  # all inside the plot area
    if area // k >= 2:  # room for a gap: every bar stands apart from the next
        assert all(b[0] - a[1] >= 2 for a, b in zip(spans, spans[1:], strict=False))
    elif k <= area:  # one column each, side by side
        assert all(b[0] > a[1] for a, b in zip(spans, spans[1:], strict=False))
    else:  # more rates than columns: in order, sharing columns
        assert pos == sorted(pos) and pos[-1] == area - 1


@pytest.mark.parametrize("k", [5, 9, 10, 13, 17])
@pytest.mark.parametrize("width", [40, 52, 58, 61, 80, 100])
def test_every_candidate_gets_its_own_bar(k, width):
    """Drawn by plotext at this width: the row just above the axis shows k separate bars (before,
    fractional widths rounded into blocks of two or three merged bars)."""
    plt = Plot()
    plt.plotsize(width, 20)
    plt._set_size(width, 20)
    rates = list(np.geomspace(0.01, 10, k))
    losses = np.linspace(1.0, 2.0, k)
    CandidateBars().draw(plt, width, 20, BarsFrame(rates, losses, k // 2, 5))
    lines = re.sub(r"\x1b\[[0-9;]*m", "", plt.build()).split("\n")
    axis = max(i for i, line in enumerate(lines) if "└" in line)
    area = lines[axis - 1].split("┤", 1)[1] if "┤" in lines[axis - 1] else lines[axis - 1]
    bars = re.findall("█+", area)
    if (width - 8) // k >= 2:
        assert len(bars) == k
        assert len({len(b) for b in bars}) == 1  # all the same width
    assert "★" in "\n".join(lines)
