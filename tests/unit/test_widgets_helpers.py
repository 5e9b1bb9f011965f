"""The panels' pure helpers: the min/max envelope that thins long curves."""

import numpy as np
import pytest

from walker_tui.widgets import envelope


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
