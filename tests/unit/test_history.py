import json

import numpy as np
import pytest

from walker_tui.core.grid import parse_lrs
from walker_tui.core.problems.regression import LinearProblem
from walker_tui.core.problems.zoo import make_problem
from walker_tui.core.trainers.loop import run
from walker_tui.core.trainers.walker import Walker
from walker_tui.recording.reader import Recording
from walker_tui.viewmodel.history import Curve, History


def recorded_run():
    rates = parse_lrs("0.1,0.5,0.9,1e30")
    rec = Recording(rates, {"seed": 17, "lrs_spec": "0.1,0.5,0.9,1e30"})
    run(Walker(LinearProblem(), rates), on_epoch=rec.add)
    return rec


@pytest.mark.parametrize("suffix", [".csv", ".json", ".npz"])
def test_record_round_trip(tmp_path, suffix):
    rec = recorded_run()
    path = tmp_path / f"run{suffix}"
    rec.save(path)
    back = Recording.load(path)
    a, b = rec.arrays(), back.arrays()
    assert back.options == rec.options
    assert np.array_equal(a["lrs"], b["lrs"])
    assert np.array_equal(a["epoch"], b["epoch"]) and np.array_equal(a["winner"], b["winner"])
    assert np.array_equal(a["rates"], b["rates"])
    assert np.array_equal(a["moved"], b["moved"]) and a["moved"].all()
    assert np.array_equal(a["weights"], b["weights"])
    # the 1e30 candidate overflows to inf: kept as such, not dropped
    assert np.array_equal(a["losses"], b["losses"])
    assert np.isinf(b["losses"][1:, 3]).all()
    assert a["weights"].shape == (len(rec.rows), 2, 4)


def test_json_is_plain_json(tmp_path):
    rec = recorded_run()
    rec.save(tmp_path / "r.json")
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["epochs"][0]["lr"] == 0.1 and doc["epochs"][1]["winner"] == 1


def test_curve_is_bounded_and_keeps_the_latest():
    c = Curve(cap=64)
    for i in range(100_000):
        c.append(i, float(i))
    xs, ys = c.columns()
    assert len(c) < 64 and xs[-1] == 99_999 and xs[0] == 0
    assert list(xs) == sorted(xs) and list(ys) == list(xs)
    assert c.columns(upto=50_000)[0].max() <= 50_000


def test_history_holds_recent_and_first_epochs_and_samples_between():
    h = History(keep=5, early=2, samples=2)
    run(Walker(LinearProblem(), parse_lrs("0.1:1:0.1")), 40, 0.0, on_epoch=h.add)
    assert h.latest.epoch == 40
    assert h.at(36).epoch == 36 and h.at(1).epoch == 1 and h.at(2).epoch == 2
    held = h.held()
    assert len(held) <= 5 + 2 + 3 and h.at(3) is None  # bounded: most epochs are not held
    assert all(h.at(e).epoch == e for e in held)


@pytest.mark.parametrize("suffix", [".csv", ".json", ".npz"])
def test_adaptive_record_keeps_each_epochs_rates(tmp_path, suffix):
    rates = parse_lrs("0.1:1:0.1")
    rec = Recording(rates, {"grid": "adaptive"})
    run(Walker(LinearProblem(), rates, adaptive=True), 30, 0.0, on_epoch=rec.add)
    path = tmp_path / f"a{suffix}"
    rec.save(path)
    back = Recording.load(path).arrays()
    assert np.array_equal(back["rates"], rec.arrays()["rates"])
    assert len({tuple(r) for r in back["rates"]}) > 1  # the grid moved


@pytest.mark.parametrize("suffix", [".csv", ".json", ".npz"])
def test_record_says_which_epochs_the_adaptive_walk_stayed_put(tmp_path, suffix):
    """From Rosenbrock's start every rate of 0.1..0.9 overshoots: epoch 2 stays put, and the
    record says so (its winner column is then the best rejected candidate)."""
    rates = parse_lrs("0.1:1:0.1")
    rec = Recording(rates, {"grid": "adaptive"})
    problem = make_problem("rosenbrock", 100, 17, "cpu")
    run(Walker(problem, rates, adaptive=True), 40, 0.0, on_epoch=rec.add)
    path = tmp_path / f"r{suffix}"
    rec.save(path)
    moved = Recording.load(path).arrays()["moved"]
    assert moved.dtype == bool and len(moved) == 40
    assert np.array_equal(moved, rec.arrays()["moved"])
    assert moved[0] and not moved[1] and moved[-10:].all()
