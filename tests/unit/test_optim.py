"""WalkerSGD: the walker as a torch.optim.Optimizer in a plain training loop (walker_tui.optim)."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from walker_tui import WalkerSGD
from walker_tui.core.adaptive import adapt_rates
from walker_tui.viewmodel.replay import Playback, load_replay


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny problems: threads only contend on a shared machine
    yield
    torch.set_num_threads(threads)


def classification(seed: int = 0) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """A small MLP and a synthetic two-class set (the sign of x0 * x1: not linearly separable)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(200, 2, generator=gen)
    y = (x[:, 0] * x[:, 1] > 0).long()
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    return model, x, y


def least_squares(seed: int = 0) -> tuple[torch.nn.Linear, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(100, 3, generator=gen)
    y = x @ torch.tensor([1.5, -2.0, 0.5]) + 0.7 + 0.1 * torch.randn(100, generator=gen)
    torch.manual_seed(seed)
    return torch.nn.Linear(3, 1), x, y


def lbfgs_closure(opt, model, x, y, loss_fn, log=None):
    """A closure as torch.optim.LBFGS takes it: zero_grad, forward, backward, return the loss.
    ``log`` (a list) gets whether grad was enabled at each call."""

    def closure():
        if log is not None:
            log.append(torch.is_grad_enabled())
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss

    return closure


def forward_only_closure(opt, model, x, y, loss_fn, log=None):
    def closure():
        if log is not None:
            log.append(torch.is_grad_enabled())
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        if torch.is_grad_enabled():
            loss.backward()
        return loss

    return closure


def mse(out, y):
    return ((out[:, 0] - y) ** 2).mean()


def test_plain_loop_trains_a_classifier_with_an_lbfgs_closure():
    model, x, y = classification()
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = WalkerSGD(model.parameters(), lrs="0.1:1:0.1")
    closure = lbfgs_closure(opt, model, x, y, loss_fn)
    with torch.no_grad():
        start = float(loss_fn(model(x), y))
    for _ in range(60):
        loss = opt.step(closure)
    assert isinstance(loss, torch.Tensor) and loss.dim() == 0
    with torch.no_grad():
        end = float(loss_fn(model(x), y))
        accuracy = float((model(x).argmax(1) == y).float().mean())
    assert end == pytest.approx(float(loss), rel=1e-5)  # step returns the loss where it stands
    assert end < 0.6 * start
    assert accuracy > 0.8


@pytest.mark.parametrize("grid", ["fixed", "adaptive"])
def test_least_squares_reaches_numpy_lstsq(grid):
    model, x, y = least_squares()
    opt = WalkerSGD(model.parameters(), lrs="0.1:1:0.1", grid=grid)
    closure = lbfgs_closure(opt, model, x, y, mse)
    for _ in range(60):
        opt.step(closure)
    a = np.hstack([x.double().numpy(), np.ones((len(x), 1))])
    coef, *_ = np.linalg.lstsq(a, y.double().numpy(), rcond=None)
    best = float(np.mean((a @ coef - y.double().numpy()) ** 2))
    got = np.concatenate([model.weight.detach().double().numpy()[0], [float(model.bias.detach())]])
    assert np.allclose(got, coef, atol=1e-3)
    assert opt.last.loss == pytest.approx(best, rel=1e-3)


def test_forward_only_takes_the_same_walk_with_one_more_call_a_step():
    model_a, x, y = classification(1)
    model_b = copy.deepcopy(model_a)
    loss_fn = torch.nn.CrossEntropyLoss()
    rates = "0.2,0.5,1,2"
    k = 4
    opt_a = WalkerSGD(model_a.parameters(), lrs=rates)
    opt_b = WalkerSGD(model_b.parameters(), lrs=rates, forward_only=True)
    log_a: list[bool] = []
    log_b: list[bool] = []
    closure_a = forward_only_closure(opt_a, model_a, x, y, loss_fn, log_a)  # (works for both)
    closure_b = forward_only_closure(opt_b, model_b, x, y, loss_fn, log_b)
    for step in range(8):
        del log_a[:], log_b[:]
        opt_a.step(closure_a)
        opt_b.step(closure_b)
        first = 1 if step == 0 else 0  # the first step evaluates the start once
        assert len(log_a) == k + first and all(log_a)
        assert len(log_b) == k + 1 + first
        assert log_b.count(False) == k  # the candidates: forward only
        assert opt_a.last.calls == k + first and opt_b.last.calls == k + 1 + first
        assert opt_a.last.winner == opt_b.last.winner
        assert opt_a.last.lr == opt_b.last.lr
        assert np.allclose(opt_a.last.losses, opt_b.last.losses, rtol=1e-6, atol=0)
    for pa, pb in zip(model_a.parameters(), model_b.parameters(), strict=True):
        assert torch.allclose(pa, pb, rtol=1e-6, atol=1e-7)


def test_forward_only_names_the_fix_when_the_closure_always_backwards():
    model, x, y = least_squares()
    opt = WalkerSGD(model.parameters(), lrs="0.1,0.2", forward_only=True)
    with pytest.raises(RuntimeError, match="is_grad_enabled"):
        opt.step(lbfgs_closure(opt, model, x, y, mse))


def big_rates_problem():
    """Least squares on which rates above ~1 diverge (the Hessian's top eigenvalue is ~2)."""
    return least_squares(2)


@pytest.mark.parametrize(
    "lrs, kwargs",
    [
        ("3,10,1e20", {"stay": True}),  # (1e20: an inf loss)
        ("3,10,1e20", {"grid": "adaptive"}),
        ("3,10,30", {"grid": "adaptive"}),
        ("3,10,1e20", {"grid": "adaptive", "stay": True}),
        ("3,10,30", {"grid": "adaptive", "stay": True}),
    ],
)
def test_stay_and_adaptive_never_raise_the_loss(lrs, kwargs):
    model, x, y = big_rates_problem()
    opt = WalkerSGD(model.parameters(), lrs=lrs, **kwargs)  # every rate too big
    closure = lbfgs_closure(opt, model, x, y, mse)
    with torch.no_grad():
        losses = [float(mse(model(x), y))]
    for _ in range(25):
        opt.step(closure)
        assert opt.last.loss <= losses[-1]
        losses.append(opt.last.loss)
        assert math.isfinite(opt.last.loss)
        assert math.isfinite(opt.last.losses[opt.last.winner])  # a non-finite loss never wins
    if kwargs.get("grid") == "adaptive" and lrs == "3,10,30":
        assert losses[-1] < 0.1 * losses[0]  # the grid moved down to rates that work
        assert max(opt.rates) < 3


@pytest.mark.parametrize("stay", [False, True])
def test_adaptive_on_minibatches_compares_with_w_on_the_same_batch(stay):
    model, x, y = least_squares(3)
    batches = [(x[:50], y[:50]), (x[50:], y[50:])]
    opt = WalkerSGD(model.parameters(), lrs="0.3,1,3", grid="adaptive", stay=stay)
    k = 4 if stay else 3
    for step in range(20):
        xb, yb = batches[step % 2]
        with torch.no_grad():
            here = float(mse(model(xb), yb))  # w's loss on this step's batch
        opt.step(lbfgs_closure(opt, model, xb, yb, mse))
        assert opt.last.loss <= here * (1 + 1e-6)
        if not opt.last.moved:
            assert opt.last.loss == pytest.approx(here, rel=1e-6)
        # w's loss on the batch: --stay's candidate, else one more call (not on the first step,
        # which evaluates w on its batch anyway); an exact tie costs one call more
        finite = [v for v in opt.last.losses if math.isfinite(v)]
        tie = opt.last.losses.index(min(finite)) != opt.last.winner
        assert opt.last.calls == k + (1 if step == 0 or not stay else 0) + tie


def test_a_fixed_grid_without_stay_does_raise_it():
    """The control for the test above: the same rates on a fixed grid walk uphill."""
    model, x, y = big_rates_problem()
    opt = WalkerSGD(model.parameters(), lrs="3,10")
    closure = lbfgs_closure(opt, model, x, y, mse)
    with torch.no_grad():
        start = float(mse(model(x), y))
    for _ in range(3):
        opt.step(closure)
    assert opt.last.loss > start


@pytest.mark.parametrize(
    "lrs, words",
    [
        ("0.1:1", "three numbers"),
        ("log:0:1:5", "above 0"),
        ("", "empty"),
        ("abc", "not a number"),
        ("0.1,,0.2", "empty item"),
        ("0.5,-1", "not positive"),
        ([], "empty"),
        ([0.1, 0.0], "not positive"),
        ([0.1, float("nan")], "nan is not finite"),
        (["x"], "not a number"),
    ],
)
def test_bad_grids_raise_value_errors_that_say_why(lrs, words):
    model = torch.nn.Linear(2, 1)
    with pytest.raises(ValueError, match=words):
        WalkerSGD(model.parameters(), lrs=lrs)


def test_bad_grid_kind_and_no_parameters_raise():
    with pytest.raises(ValueError, match="adaptive"):
        WalkerSGD(torch.nn.Linear(2, 1).parameters(), grid="log")
    with pytest.raises(ValueError):
        WalkerSGD([], lrs="0.1")
    with pytest.raises(RuntimeError, match="closure"):
        WalkerSGD(torch.nn.Linear(2, 1).parameters()).step()


def test_the_grammar_and_a_list_give_the_same_grid():
    params = torch.nn.Linear(2, 1).parameters()
    assert WalkerSGD(params, lrs="lin:0.1:1:10").rates == pytest.approx(np.linspace(0.1, 1, 10))
    opt = WalkerSGD(torch.nn.Linear(2, 1).parameters(), lrs=[0.3, 0.1], stay=True)
    assert opt.rates == [0.3, 0.1, 0.0]


def test_last_says_what_each_step_tried_and_took():
    model, x, y = classification(3)
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = WalkerSGD(model.parameters(), lrs="log:0.01:100:9")  # the top rates blow up
    closure = lbfgs_closure(opt, model, x, y, loss_fn)
    for step in range(1, 6):
        returned = opt.step(closure)
        last = opt.last
        assert last.step == step
        assert len(last.rates) == len(last.losses) == 9
        finite = [v for v in last.losses if math.isfinite(v)]
        assert last.losses[last.winner] == min(finite)
        assert last.lr == last.rates[last.winner] and last.moved
        assert last.loss == last.losses[last.winner] == pytest.approx(float(returned))
        with torch.no_grad():  # the parameters are the winner's
            assert float(loss_fn(model(x), y)) == pytest.approx(last.loss, rel=1e-5)


def test_exact_ties_go_to_the_median_rate_with_its_own_gradient():
    w = torch.nn.Parameter(torch.ones(3))
    opt = WalkerSGD([w], lrs="0.1,0.2,0.3,0.4,0.5")
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = (w * 0).sum() + 1.0  # flat: every candidate ties
        loss.backward()
        return loss

    opt.step(closure)
    opt.step(closure)
    assert opt.last.winner == 2  # the median of the five tied rates, not the first
    assert opt.last.calls == 5 + 1  # the winner was not the first best: one call for its grad


def test_record_writes_a_recording_that_replay_opens(tmp_path):
    model, x, y = classification(4)
    loss_fn = torch.nn.CrossEntropyLoss()
    path = tmp_path / "run.csv"
    steps = 7
    with WalkerSGD(model.parameters(), lrs="0.2,0.6,1.2", record=path, seed=5) as opt:
        closure = lbfgs_closure(opt, model, x, y, loss_fn)
        for _ in range(steps):
            opt.step(closure)
        w0, dirs, _ = opt._plane
        last = opt.last
    options = json.loads(path.read_text().split("options: ", 1)[1].split("\n", 1)[0])
    assert options["problem"] == "recorded" and options["source"] == "WalkerSGD"
    recording, cfg = load_replay(path)
    assert cfg.problem == "recorded" and cfg.lrs == [0.2, 0.6, 1.2] and cfg.seed == 5
    assert len(recording.rows) == steps
    row = recording.rows[-1]
    assert row.weights.shape == (2, 3)  # two plane coordinates per candidate
    assert row.winner == last.winner and row.lr == pytest.approx(last.lr)
    assert np.allclose(row.losses, last.losses, rtol=1e-6)
    # filter-normalised directions (Li et al. 2018): each row the norm of the weights' row,
    # none along biases
    params = list(model.parameters())
    for d in dirs:
        for p, dp, p0 in zip(params, d, w0, strict=True):
            if p.dim() >= 2:
                assert torch.allclose(dp.norm(dim=1), p0.norm(dim=1), rtol=1e-4)
            else:
                assert not dp.any()
    # the winner's coordinates: the least-squares projection of w - w0 onto the plane
    flat = lambda ts: torch.cat([t.detach().reshape(-1) for t in ts]).double().numpy()  # noqa: E731
    basis = np.stack([flat(d) for d in dirs], axis=1)
    delta = flat(params) - flat(w0)
    coords, *_ = np.linalg.lstsq(basis, delta, rcond=None)
    assert np.allclose(row.weights[:, row.winner], coords, rtol=1e-3, atol=1e-5)
    assert np.abs(coords).max() > 1e-3  # (it did walk off the start)

    session = Playback(recording, cfg)
    assert session.problem is None  # a training loop's recording: no problem stands in
    frames = []
    while True:
        got = session.advance(3)
        if not got:
            break
        frames += got
    assert len(frames) == steps
    assert [f["walker"].epoch for f in frames] == list(range(1, steps + 1))
    assert np.allclose(frames[-1]["walker"].position, row.weights[:, row.winner])
    assert session.outcomes["walker"] is not None


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_record_in_the_other_formats_with_stay_and_adaptive(tmp_path, suffix):
    model, x, y = least_squares()
    path = tmp_path / f"run{suffix}"
    opt = WalkerSGD(model.parameters(), lrs="0.1,0.5,3", stay=True, grid="adaptive", record=path)
    closure = lbfgs_closure(opt, model, x, y, mse)
    for _ in range(4):
        opt.step(closure)
    opt.close()
    recording, cfg = load_replay(path)
    assert cfg.stay and cfg.grid == "adaptive" and cfg.lrs == [0.1, 0.5, 3.0]
    assert [r.epoch for r in recording.rows] == [1, 2, 3, 4]
    assert all(r.weights.shape == (2, 4) for r in recording.rows)
    assert len(Playback(recording, cfg).advance(100)) == 4


def test_a_model_of_biases_alone_still_gets_a_plane(tmp_path):
    w = torch.nn.Parameter(torch.tensor([3.0, -1.0, 2.0]))
    target = torch.tensor([1.0, 1.0, 1.0])
    with WalkerSGD([w], lrs="0.1,0.3", record=tmp_path / "v.csv") as opt:

        def closure():
            opt.zero_grad()
            loss = ((w - target) ** 2).sum()
            loss.backward()
            return loss

        for _ in range(3):
            opt.step(closure)
    recording, _ = load_replay(tmp_path / "v.csv")
    coords = recording.rows[-1].weights
    assert np.isfinite(coords).all() and np.abs(coords).max() > 0


def test_state_dict_round_trip_continues_the_same_walk():
    model, x, y = classification(5)
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = WalkerSGD(model.parameters(), lrs="0.1,0.3,1", grid="adaptive", stay=True)
    closure = lbfgs_closure(opt, model, x, y, loss_fn)
    for _ in range(5):
        opt.step(closure)
    saved_opt = copy.deepcopy(opt.state_dict())
    saved_model = copy.deepcopy(model.state_dict())
    assert saved_opt["state"]["walker"]["rates"] != [0.1, 0.3, 1]  # the adapted grid is saved
    assert saved_opt["state"]["walker"]["step"] == 5
    after = []
    for _ in range(4):
        opt.step(closure)
        after.append((opt.last.rates, opt.last.losses, opt.last.winner, opt.last.calls))

    model2, *_ = classification(5)
    model2.load_state_dict(saved_model)
    opt2 = WalkerSGD(model2.parameters(), lrs="0.1,0.3,1", grid="adaptive", stay=True)
    opt2.load_state_dict(saved_opt)
    closure2 = lbfgs_closure(opt2, model2, x, y, loss_fn)
    again = []
    for _ in range(4):
        opt2.step(closure2)
        again.append((opt2.last.rates, opt2.last.losses, opt2.last.winner, opt2.last.calls))
    assert again[0][3] == 4  # the held gradient came back: no extra call for it
    assert opt2.last.step == 9
    for (r1, l1, w1, c1), (r2, l2, w2, c2) in zip(after, again, strict=True):
        assert r1 == pytest.approx(r2) and w1 == w2 and c1 == c2
        assert np.allclose(l1, l2, rtol=1e-6)

    # without the state, a fresh optimizer starts over (the control: the state mattered)
    model3, *_ = classification(5)
    model3.load_state_dict(saved_model)
    opt3 = WalkerSGD(model3.parameters(), lrs="0.1,0.3,1", grid="adaptive", stay=True)
    opt3.step(lbfgs_closure(opt3, model3, x, y, loss_fn))
    assert opt3.last.calls == 5 and opt3.last.rates != after[0][0]


def test_adapt_rates_recentres_and_moves_down():
    grid, span = adapt_rates([0.1, 1.0, 10.0], 2.0, 2.0, 1, False)  # the middle won
    assert grid == pytest.approx([0.1, 1.0, 10.0]) and span == 2.0
    grid, span = adapt_rates([0.1, 1.0, 10.0], 2.0, 2.0, 2, False)  # the edge: wider, re-centred
    assert span == 4.0 and grid == pytest.approx([0.1, 10.0, 1000.0])
    grid, _ = adapt_rates([0.1, 1.0, 10.0], 2.0, 2.0, 1, True)  # stayed put: down
    assert max(grid) < 1.0
    assert adapt_rates([0.5], 1.0, 1.0, 0, False)[0] == pytest.approx([0.55])  # bold driver
    assert adapt_rates([0.5], 1.0, 1.0, 0, True)[0] == pytest.approx([0.25])


def test_importing_the_package_stays_light_and_the_optimizer_ui_free():
    code = (
        "import json, sys\n"
        "import walker_tui\n"
        "light = 'torch' not in sys.modules\n"
        "from walker_tui import WalkerSGD\n"
        "ui = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('textual', 'rich', 'plotext', 'textual_plotext'))\n"
        "print(json.dumps([light, ui, WalkerSGD.__module__]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(out.stdout) == [True, [], "walker_tui.optim"]
