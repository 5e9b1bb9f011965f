"""UI-free pieces of the app's panels (issue 11): the path keeps its shape over long runs, time
travel reaches every part of a long run in bounded memory, paths leave the window with an arrow,
bar ticks tell close losses apart, the status line wraps whole items."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from walker_tui.numbers import format_eps
from walker_tui.ui.widgets.candidates import linear_ticks, rate_label
from walker_tui.ui.widgets.status import wrap_items
from walker_tui.ui.widgets.surface_plot import clip_path
from walker_tui.viewmodel.history import Curve, History, Path2D


def zigzag_then_crawl(n: int):
    """A walk that zigzags for 12 epochs across a wide valley, then crawls for n more."""
    pts = [(-65.0, 35.0)]
    for i in range(12):
        x, y = pts[-1]
        pts.append((x + 60 * (-0.6) ** i, y - 30 * (0.7) ** i * (-1) ** i))
    x, y = pts[-1]
    for i in range(n):
        pts.append((x + 1e-3 * np.cos(i / 50), y + 1e-3 * np.sin(i / 50)))
    return pts


def test_a_long_run_keeps_its_early_zigzag():
    for crawl in (3_000, 67_000):
        path = Path2D(cap=512)
        pts = zigzag_then_crawl(crawl)
        for e, (x, y) in enumerate(pts, start=1):
            path.append(e, x, y)
        xs, ys = path.columns()
        assert len(xs) <= 513
        # every corner of the zigzag is still there, exactly
        for x, y in pts[:13]:
            assert np.min(np.hypot(xs - x, ys - y)) < 1e-9, (crawl, x, y)
        assert (xs[-1], ys[-1]) == pts[-1]  # it ends where the walk is


def test_the_old_epoch_thinning_lost_the_zigzag():
    """What the path used to be drawn from: a curve thinned by epoch keeps epoch 1 and every
    64th after 67,000 epochs, so the corners of epochs 2 to 12 were gone."""
    curve = Curve(cap=512, head=0)
    for e, (x, y) in enumerate(zigzag_then_crawl(67_000), start=1):
        curve.append(e, x, y)
    kept = set(curve.columns()[0].astype(int))
    assert not {2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12} <= kept


def test_curve_keeps_its_head_whole():
    curve = Curve(cap=256, head=64)
    for e in range(1, 100_001):
        curve.append(e, 1.0 / e)
    epochs = curve.columns()[0]
    assert list(epochs[:64]) == list(range(1, 65)) and epochs[-1] == 100_000
    assert len(curve) <= 256


def rec(epoch: int):
    return SimpleNamespace(
        epoch=epoch, loss=1.0 / epoch, position=np.array([epoch, 0.0]), evals=epoch, seconds=0.0
    )


def test_time_travel_reaches_the_whole_run_in_bounded_memory():
    h = History(keep=100, early=50, samples=64)
    for e in range(1, 84_001):
        h.add(rec(e))
    held = h.held()
    assert len(held) <= 100 + 50 + 65
    assert held[0] == 1 and held[-1] == 84_000
    assert h.at(1).epoch == 1 and h.at(83_950).epoch == 83_950
    # from the middle, back and forth land on held epochs, and Home reaches epoch 1
    mid = h.nearest(42_000)
    assert h.at(mid) is not None and abs(mid - 42_000) <= 84_000 / 64 * 2
    assert h.nearest(mid - 1, -1) < mid < h.nearest(mid + 1, 1)
    assert h.nearest(0, -1) == 1 and h.nearest(10**9, 1) == 84_000
    # the gaps between held epochs are bounded (a page key always lands somewhere new)
    gaps = np.diff(held)
    assert gaps.max() <= 2 * 84_000 / 64


def test_a_path_that_leaves_the_window_ends_at_its_edge_with_an_arrow():
    xs = np.array([0.0, 0.5, 0.9, 3.0, 1e19, np.nan])
    ys = np.array([0.0, 0.2, 0.4, 0.5, 1e19, np.nan])
    runs, exits = clip_path(xs, ys, (-1, 1, -1, 1))
    assert len(runs) == 1 and len(exits) == 1
    rx, ry = runs[0]
    assert rx[-1] == 1.0 and -1 <= ry[-1] <= 1  # ends on the right edge
    assert exits[0][2] == "→"
    assert np.all(np.abs(rx) <= 1) and np.all(np.abs(ry) <= 1)


def test_bar_ticks_tell_close_losses_apart():
    ticks, labels = linear_ticks(0.094201, 0.094209, 4)
    assert len(set(labels)) == len(labels) == 4
    assert all(abs(float(lab) - t) < 2e-6 for lab, t in zip(labels, ticks, strict=True))
    _, labels = linear_ticks(-1e-9, 1.0, 3)
    assert "-0" not in labels[0]
    assert rate_label(0.0, [0.1, 0.0]) == "stay"


def test_status_items_wrap_whole():
    items = [("epoch limit, target not reached", "")] + [(f"item {i}", "") for i in range(8)]
    lines = wrap_items(items, 40)
    assert lines[0][0][0] == "epoch limit, target not reached"  # the state comes first
    for line in lines:
        assert sum(len(t) for t, _ in line) + 3 * (len(line) - 1) <= 40
    assert [t for line in lines for t, _ in line] == [t for t, _ in items]


def test_epochs_per_second_read_as_numbers():
    assert format_eps(3360.0) == "3360" and format_eps(0.5) == "0.5" and format_eps(4.0) == "4"


def test_level_lines_are_joined_and_follow_the_valley():
    from walker_tui.core.surface import contour_levels, contour_points

    xs, ys = np.linspace(-2, 2, 120), np.linspace(-1, 3, 120)
    gx, gy = np.meshgrid(xs, ys)
    z = (1 - gx) ** 2 + 100 * (gy - gx * gx) ** 2  # Rosenbrock's banana valley
    level = np.array([1.0])
    ((px, py),) = contour_points(xs, ys, z, level, per_cell=4)
    # every point lies on the level (to the grid's interpolation), and no point is alone: each
    # has a neighbour within a quarter cell, so the line is drawn joined at any panel size
    on = (1 - px) ** 2 + 100 * (py - px * px) ** 2
    assert np.median(np.abs(np.log10(on))) < 0.05
    pts = np.stack([px, py], 1)
    cell = xs[1] - xs[0]
    d = np.hypot(pts[:, None, 0] - pts[None, :, 0], pts[:, None, 1] - pts[None, :, 1])
    np.fill_diagonal(d, np.inf)
    assert np.max(d.min(1)) <= cell * 0.75  # (a segment's points: at most a cell's diagonal/4)
    # most levels fall where the path walks (its losses 1e-3 to 24 of a 1e-3..1e4 grid)
    levels = contour_levels(z, focus=(1e-3, 24))
    assert np.sum((levels >= 1e-3) & (levels <= 24)) >= 2 * len(levels) // 3


def test_the_window_stays_on_start_and_minimum_when_a_path_diverges():
    from walker_tui.config import Config
    from walker_tui.viewmodel.session import Session

    session = Session(Config(device="cpu"), 17)
    first = session.window_for(np.array([]), np.array([]))
    assert first is not None
    far = session.window_for(np.array([1e19, 3e3]), np.array([1e19, 0.0]))
    assert far is None or max(far.x1 - far.x0, far.y1 - far.y0) < 1e5
