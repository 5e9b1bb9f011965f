"""The walker along a direction (issue 21): --direction sgd|momentum|adam turns the gradient at the
walk's point into an update direction u with state of its own (walker_tui.core.directions), and the
candidates are w - lr_j * u. Hand computations of the first steps, Adam's racer matched, the
state restarted where the walk stays put, exact rewinds, WalkerSGD's state round trip, racing
walkers, the catalog's default grids, each direction lowering a model's loss."""

from __future__ import annotations

import copy
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from walker_tui import WalkerSGD
from walker_tui.catalog import CATALOG, DIRECTIONS, USER_MODEL, walker_lrs
from walker_tui.config import Config
from walker_tui.core.grid import GridError, parse_lrs, parse_race, racer_label
from walker_tui.core.problems.regression import LinearProblem
from walker_tui.core.problems.zoo import make_problem
from walker_tui.core.trainers.loop import advance, run
from walker_tui.core.trainers.racers import make_racer
from walker_tui.core.trainers.walker import Walker, make_walker

RATES = [0.0001, 0.001, 0.01]


def rosenbrock_grad(a: float, b: float) -> tuple[float, float]:
    return (-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a))


def walk3(direction: str) -> list:
    """The rosenbrock walker along ``direction``: its epochs 1 to 3 (the start, two steps)."""
    p = make_problem("rosenbrock", 100, 17, "cpu")
    walker = Walker(p, RATES, direction=direction)
    return [walker.step() for _ in range(3)]


def assert_candidates(rec, w: np.ndarray, u: np.ndarray) -> None:
    want = w[:, None] - u[:, None] * np.asarray(RATES)[None, :]
    assert np.allclose(rec.weights.double().numpy(), want, rtol=1e-5, atol=1e-7), (rec.weights,
                                                                                  want)  # fmt: skip


def test_momentums_first_two_steps_by_hand():
    recs = walk3("momentum")
    w0 = np.array([-1.2, 1.0])
    g0 = np.array(rosenbrock_grad(*w0))
    v1 = g0  # v = 0.9 * 0 + g
    assert_candidates(recs[1], w0, v1)
    w1 = recs[1].w.double().numpy()
    assert np.allclose(w1, w0 - RATES[int(recs[1].winner)] * v1, rtol=1e-6)
    g1 = np.array(rosenbrock_grad(*w1))
    v2 = 0.9 * v1 + g1
    assert_candidates(recs[2], w1, v2)


def test_adams_first_two_steps_by_hand():
    recs = walk3("adam")
    b1, b2, eps = 0.9, 0.999, 1e-8
    w0 = np.array([-1.2, 1.0])
    g0 = np.array(rosenbrock_grad(*w0))
    m1, v1 = (1 - b1) * g0, (1 - b2) * g0**2
    u1 = (m1 / (1 - b1)) / (np.sqrt(v1) / math.sqrt(1 - b2) + eps)  # = g0 / (|g0| + eps)
    assert np.allclose(u1, np.sign(g0), atol=1e-6)
    assert_candidates(recs[1], w0, u1)
    w1 = recs[1].w.double().numpy()
    g1 = np.array(rosenbrock_grad(*w1))
    m2, v2 = b1 * m1 + (1 - b1) * g1, b2 * v1 + (1 - b2) * g1**2
    u2 = (m2 / (1 - b1**2)) / (np.sqrt(v2) / math.sqrt(1 - b2**2) + eps)
    assert_candidates(recs[2], w1, u2)
    assert not np.allclose(u2, np.sign(g1), atol=1e-3)  # (the moments matter by step 2)


def test_sgd_is_todays_walker_to_the_float():
    """Along sgd, u is the gradient itself: the candidates are w - g * lr bitwise, as before
    directions existed, with no state."""
    p = LinearProblem(n=100, seed=17)
    walker = Walker(p, parse_lrs("0.1:1:0.1"), direction="sgd")
    walker.step()
    for _ in range(12):
        w, g = walker.w.clone(), walker.grad.clone()
        rec = walker.step()
        assert torch.equal(rec.weights, w[:, None] - g[:, None] * walker.lrs[None, :])
    assert walker.along == {} and walker.state_dict()["along"] == {}


@pytest.mark.parametrize("rate", [0.05, 0.001])
def test_one_rate_along_adam_is_adams_racer(rate):
    """A walker along adam with one rate takes Adam's steps at that rate: torch.optim.Adam's, to
    float32's rounding, for 30 epochs."""
    p = make_problem("rosenbrock", 100, 17, "cpu")
    walker, adam = Walker(p, [rate], direction="adam"), make_racer("adam", p, rate)
    for _ in range(30):
        rw, ra = walker.step(), adam.step()
        assert torch.allclose(rw.w, ra.w, rtol=1e-5, atol=1e-6), (rw.epoch, rw.w, ra.w)


def test_one_rate_along_momentum_is_the_momentum_racer():
    p = LinearProblem(n=100, seed=17)
    walker, racer = Walker(p, [0.01], direction="momentum"), make_racer("momentum", p, 0.01)
    for _ in range(30):
        rw, rr = walker.step(), racer.step()
        assert torch.allclose(rw.w, rr.w, rtol=1e-5), (rw.epoch, rw.w, rr.w)


@pytest.mark.parametrize("direction", ["momentum", "adam"])
def test_staying_put_restarts_the_direction(direction):
    """An adaptive walk that stays put takes no step: the state fed that step is dropped and the
    direction restarts (momentum's velocity at 0; Adam's first moment and its count at 0, its
    second moments kept), so the next u is a descent direction and the walk cannot stay put for
    good on all the data."""
    p = make_problem("rosenbrock", 100, 17, "cpu")
    walker = Walker(p, parse_lrs(walker_lrs("rosenbrock", direction)), adaptive=True,
                    direction=direction)  # fmt: skip
    stays, restarted = 0, False
    for _ in range(200):
        before = {k: v.clone() for k, v in walker.along.items()}
        w, g, lrs = walker.w.clone(), walker.grad, walker.lrs.clone()
        rec = walker.step()
        if restarted:  # the step after a stay: along g (momentum), Adam's scaled g (adam)
            if direction == "momentum":
                u = g
            else:
                t = float(before["t"]) + 1
                v = 0.999 * before["v"] + 0.001 * g * g
                u = g / ((v / (1 - 0.999**t)).sqrt() + 1e-8)
            want = w[:, None] - u[:, None] * lrs[None, :]
            assert torch.allclose(rec.weights, want, rtol=1e-5, atol=1e-7)
        restarted = rec.epoch > 1 and not bool(rec.moved)
        if rec.epoch > 1 and not bool(rec.moved):
            stays += 1
            if direction == "momentum":
                assert torch.count_nonzero(walker.along["v"]) == 0
            else:
                assert torch.count_nonzero(walker.along["m"]) == 0
                assert float(walker.along["tm"]) == 0
                assert torch.equal(walker.along["v"], before["v"])  # kept, not fed
                assert torch.equal(walker.along["t"], before["t"])
        elif rec.epoch > 1 and direction == "adam":
            assert float(walker.along["t"]) == float(before["t"]) + 1
    assert stays > 0  # (the control: the walk did stay put)
    assert float(rec.loss) < 0.1  # and it reached rosenbrock's target all the same


def test_the_zero_rate_winning_restarts_too():
    p = LinearProblem(n=100, seed=17)
    walker = Walker(p, [1e3], stay=True, direction="momentum")  # 1e3 only raises the loss
    walker.step()
    rec = walker.step()
    assert int(rec.winner) == 1 and float(rec.rates[1]) == 0
    assert torch.count_nonzero(walker.along["v"]) == 0


def trainers():
    lin = LinearProblem()
    ros = make_problem("rosenbrock", 100, 17, "cpu")
    digits = make_problem("digits", 100, 17, "cpu", batch_size=256)
    out = {}
    for d in ("momentum", "adam"):
        grid = parse_lrs(walker_lrs("linear", d))
        out[f"{d}-fixed"] = Walker(lin, grid, direction=d)
        out[f"{d}-adaptive-stay"] = Walker(ros, parse_lrs(walker_lrs("rosenbrock", d)),
                                           adaptive=True, stay=True, direction=d)  # fmt: skip
        cfg = Config(problem="digits", lrs_spec=walker_lrs("digits", d), direction=d,
                     grid="adaptive", batch_size=256)  # fmt: skip
        out[f"{d}-digits"] = make_walker(digits, cfg)
    return out


def trace(trainer, epochs: int) -> list:
    out = []
    for _ in range(epochs):
        rec = trainer.step()
        out.append((rec.epoch, rec.loss.item(), rec.w.tolist(), rec.rates.tolist(),
                    int(rec.winner)))  # fmt: skip
    return out


REWINDS = ["momentum-fixed", "adam-fixed", "momentum-adaptive-stay", "adam-adaptive-stay",
           "momentum-digits", "adam-digits"]  # fmt: skip


@pytest.mark.parametrize("name", REWINDS)
def test_a_rewind_comes_back_exactly(name):
    trainer = trainers()[name]
    trace(trainer, 4)
    saved = trainer.state_dict()
    after = trace(trainer, 4)
    trace(trainer, 2)  # (on past it, so the load has something to undo)
    trainer.load_state_dict(saved)
    assert trace(trainer, 4) == after
    # the direction's state is part of what came back: without it the walk differs
    trainer.load_state_dict(saved)
    inner = getattr(trainer, "inner", trainer)
    inner.along = {k: torch.zeros_like(v) for k, v in inner.along.items()}
    assert trace(trainer, 4) != after


@pytest.mark.parametrize("direction", ["momentum", "adam"])
def test_a_batch_that_stops_inside_rewinds_to_the_stop(direction):
    """The GPU path runs 16 epochs between host transfers and goes back to the stop with
    state_dict: the direction's state comes back with it."""
    p = make_problem("rosenbrock", 100, 17, "cpu")
    grid = parse_lrs(walker_lrs("rosenbrock", direction))
    one, batched = (Walker(p, grid, adaptive=True, direction=direction) for _ in range(2))
    singles = []
    while True:
        recs, outcome = advance(one, 1, 0.1, 500)
        singles += recs
        if outcome is not None:
            break
    recs, outcome = advance(batched, 16, 0.1, 500)
    while outcome is None:
        more, outcome = advance(batched, 16, 0.1, 500)
        recs += more
    assert outcome.state == "reached"
    assert [r.loss for r in recs] == [r.loss for r in singles]
    assert trace(batched, 3) == trace(one, 3)


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_each_direction_lowers_a_models_loss(direction):
    """Each direction, on its default grid, lowers the training loss of a model this test
    builds (a small tanh network on a two-class set), in mini-batches, in 5 epochs."""
    from walker_tui.core.problems.torch_model import ModelProblem
    from walker_tui.core.problems.user_model import ModelSpec

    gen = torch.Generator().manual_seed(4)
    x = torch.randn(400, 5, generator=gen)
    y = ((x[:, 0] * x[:, 1] + x[:, 2]) > 0).long()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    spec = ModelSpec(model, torch.nn.functional.cross_entropy, (x, y), None, "test")
    problem = ModelProblem(spec, 17, "cpu", batch_size=50)
    cfg = Config(problem="my.py:f", lrs_spec=walker_lrs("my.py:f", direction),
                 direction=direction, batch_size=50)  # fmt: skip
    recs = []
    run(make_walker(problem, cfg), 5, 0.0, on_epoch=recs.append)
    start, end = recs[0].loss, recs[-1].loss
    assert end < 0.75 * start, (direction, start, end)


@pytest.mark.parametrize("direction", ["momentum", "adam"])
def test_walkersgd_state_dict_round_trip_per_direction(direction):
    torch.manual_seed(1)
    x = torch.randn(64, 3)
    y = (x.sum(1) > 0).long()
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    loss_fn = torch.nn.CrossEntropyLoss()

    def make(m):
        opt = WalkerSGD(m.parameters(), lrs="log:1e-4:1e-1:7", direction=direction,
                        grid="adaptive")  # fmt: skip

        def closure():
            opt.zero_grad()
            loss = loss_fn(m(x), y)
            loss.backward()
            return loss

        return opt, closure

    opt, closure = make(model)
    for _ in range(5):
        opt.step(closure)
    saved_opt, saved_model = copy.deepcopy(opt.state_dict()), copy.deepcopy(model.state_dict())
    after = []
    for _ in range(4):
        opt.step(closure)
        after.append((opt.last.rates, opt.last.losses, opt.last.winner))
    model2 = copy.deepcopy(model)
    model2.load_state_dict(saved_model)
    opt2, closure2 = make(model2)
    opt2.load_state_dict(saved_opt)
    again = []
    for _ in range(4):
        opt2.step(closure2)
        again.append((opt2.last.rates, opt2.last.losses, opt2.last.winner))
    assert again == after
    # the control: without the direction's state the same weights walk another way
    model3 = copy.deepcopy(model)
    model3.load_state_dict(saved_model)
    opt3, closure3 = make(model3)
    bare = copy.deepcopy(saved_opt)
    for state in bare["state"].values():
        for key in [k for k in state if k.startswith("along_")]:
            del state[key]
    opt3.load_state_dict(bare)
    opt3.step(closure3)
    assert (opt3.last.rates, opt3.last.losses, opt3.last.winner) != after[0]
    if direction == "adam":  # its step count is saved (a number, not cast to float32)
        assert saved_opt["state"]["walker"]["along_t"] == 5


def test_walkersgd_rejects_an_unknown_direction():
    w = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match="direction='rmsprop'"):
        WalkerSGD([w], direction="rmsprop")


def test_walkers_race_by_name():
    assert parse_race("walker:adam,adam:0.001") == [("walker:adam", 0.0), ("adam", 0.001)]
    assert parse_race("walker,walker:momentum") == [("walker:sgd", 0.0), ("walker:momentum", 0.0)]
    assert racer_label("walker:adam", 0.0) == "walker:adam"
    with pytest.raises(GridError, match="unknown direction 'rms'"):
        parse_race("walker:rms")


def test_a_racing_walker_in_a_session_walks_its_own_direction():
    from walker_tui.viewmodel.session import Session

    cfg = Config(problem="rosenbrock", lrs_spec=walker_lrs("rosenbrock", "sgd"),
                 race=[("walker:adam", 0.0)], min_loss=0.0, epochs=20)  # fmt: skip
    session = Session(cfg, 17, race=True)
    racer = session.trainers["walker:adam"]
    assert racer.direction == "adam" and racer.grid == parse_lrs(walker_lrs("rosenbrock", "adam"))
    for _ in range(6):
        session.step()
    alone = Walker(session.problem, racer.grid, direction="adam")
    assert trace(alone, 6)[-1][2] == session.trainers["walker:adam"].w.tolist()


def decade_below(rate: float) -> float:
    return 10 ** math.floor(math.log10(rate / 10) + 1e-9)


@pytest.mark.parametrize("name", [*CATALOG, "user"])
def test_default_grids_keep_the_catalogs_rule(name):
    """13 rates over three decades from the decade at or below a tenth of the problem's racer
    rate for that optimizer (catalog.DIRECTIONS's comment)."""
    known = USER_MODEL if name == "user" else CATALOG[name]
    rates = dict(parse_race(known.racers))
    for direction in ("momentum", "adam"):
        grid = parse_lrs(walker_lrs("x.py:f" if name == "user" else name, direction))
        lo = decade_below(rates[direction])
        assert len(grid) == 13
        assert grid[0] == pytest.approx(lo) and grid[-1] == pytest.approx(lo * 1000)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "walker_tui", *args], capture_output=True,
                          text=True, timeout=60)  # fmt: skip


def test_a_bad_direction_is_one_line_and_exit_2():
    for command in (["run"], ["bench"], []):
        done = cli(*command, "--direction", "rmsprop")
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "argument --direction: invalid choice: 'rmsprop'" in lines[0]
    done = cli("run", "--optimizer", "adam", "--direction", "adam")
    assert done.returncode == 2 and "the walker's, not --optimizer adam's" in done.stderr
    done = cli("run", "--race", "walker:rms")  # (run has no --race: argparse's own line)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    done = cli("bench", "--racers", "walker:rms")
    assert done.returncode == 2 and "unknown direction 'rms'" in done.stderr


def test_run_prints_the_direction_and_records_it(tmp_path):
    from walker_tui.viewmodel.replay import load_replay

    path = tmp_path / "r.csv"
    done = cli("run", "--problem", "rosenbrock", "--direction", "adam", "--epochs", "20",
               "--record", str(path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [line.split("\t") for line in done.stdout.splitlines()[1:-1]]
    assert float(rows[1][1]) in parse_lrs(walker_lrs("rosenbrock", "adam"))  # Adam's grid
    recording, cfg = load_replay(path)
    assert recording.options["direction"] == "adam" and cfg.direction == "adam"
    assert cfg.lrs == pytest.approx(parse_lrs(walker_lrs("rosenbrock", "adam")))


def test_bench_races_walkers_along_each_direction():
    done = cli("bench", "--problem", "rosenbrock", "--racers", "walker:momentum,walker:adam",
               "--repeat", "1", "--epochs", "300")  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    names = [r[0] for r in rows[2:-1]]
    assert names == ["walker", "walker", "walker:momentum", "walker:adam"]
    adam = rows[2 + names.index("walker:adam")]
    assert adam[1] == f"{walker_lrs('rosenbrock', 'adam')} (13 rates)"
    assert adam[2] != "diverged" and float(adam[2]) < 0.1  # it reached the target


def test_walkersgd_recording_names_the_direction(tmp_path):
    from walker_tui.viewmodel.replay import load_replay

    w = torch.nn.Parameter(torch.tensor([-1.2, 1.0]))
    with WalkerSGD([w], lrs="log:1e-3:1:13", direction="adam", record=tmp_path / "a.json") as opt:

        def closure():
            opt.zero_grad()
            loss = (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2
            loss.backward()
            return loss

        for _ in range(5):
            opt.step(closure)
    recording, cfg = load_replay(tmp_path / "a.json")
    assert recording.options["direction"] == "adam" and cfg.direction == "adam"


def test_a_recording_with_an_unknown_direction_is_one_error(tmp_path):
    from walker_tui.viewmodel.replay import ReplayError, load_replay

    path = tmp_path / "r.json"
    assert cli("run", "--epochs", "3", "--record", str(path)).returncode == 0
    path.write_text(path.read_text().replace('"direction": "sgd"', '"direction": "rmsprop"'))
    with pytest.raises(ReplayError, match="its direction 'rmsprop' is not one of"):
        load_replay(path)
