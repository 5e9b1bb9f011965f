"""Your own model (--problem FILE.py:FUNC), mini-batches (--batch-size) and the digits demo."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from walker_tui.cli import main
from walker_tui.config import Config
from walker_tui.core.problems.torch_model import ModelProblem, make_model_problem
from walker_tui.core.problems.user_model import UserProblemError, user_spec
from walker_tui.core.trainers.batched import Batched
from walker_tui.core.trainers.loop import advance, run, to_host
from walker_tui.core.trainers.racers import make_racer
from walker_tui.core.trainers.walker import make_walker
from walker_tui.viewmodel.session import Session

HERE = Path(__file__).parent
USER = str(HERE / "user_problems.py")


def spec(func: str) -> str:
    return f"{USER}:{func}"


def config(problem: str, **kw) -> Config:
    kw.setdefault("device", "cpu")
    kw.setdefault("min_loss", 0.0)
    kw.setdefault("epochs", 5)
    return Config(problem=problem, lrs_spec=kw.pop("lrs_spec", "log:0.001:3:9"), **kw)


# --- the contract and its errors ---


def test_a_users_file_trains_in_run_with_held_out_figures(capsys):
    code = main(["run", "--problem", spec("good"), "--epochs", "20", "--batch-size", "25"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0].split("\t") == ["Epoch", "LR", "Loss", "Held-out loss", "Held-out accuracy"]
    first, last = out[1].split("\t"), out[-2].split("\t")
    assert float(last[2]) < 0.5 * float(first[2])  # the training loss fell
    assert float(last[4].rstrip("%")) >= 80.0  # a separable set: the held-out 20 mostly right
    assert out[-1].startswith("Final loss:") and "held-out accuracy" in out[-1]


def test_run_prints_the_loss_on_all_the_data(capsys):
    """With mini-batches the printed loss is the full-data loss at the epoch's end: recomputed
    here from the walker's weights, independently of the record."""
    problem = make_model_problem(spec("regression"), 3, "cpu", batch_size=16)
    walker = make_walker(problem, config(spec("regression"), seed=3, batch_size=16))
    for _ in range(4):
        rec = walker.step()
    x, y = problem.x.double(), problem.y.double()
    w = walker.inner.w.double()
    pred = x @ w[:4] + w[4]
    assert abs(float(((pred - y) ** 2).mean()) - float(rec.loss)) < 1e-4 * max(1, float(rec.loss))


@pytest.mark.parametrize(
    ("func", "words"),
    [
        ("nope", "has no function 'nope'"),
        ("not_a_tuple", "must return (model, loss_fn, (inputs, targets))"),
        ("not_a_module", "must be a torch.nn.Module, got str"),
        ("bad_data", "data must be a tuple (inputs, targets), got list of length 3"),
        ("mismatched", "120 inputs but 50 targets"),
        ("vector_loss", "not a scalar"),
        ("frozen", "no parameter that requires a gradient"),
        ("broken_forward", "user_problems.py:66 in forward"),
        ("raises_itself", "KeyError: 'no such column' (at "),
    ],
)
def test_a_bad_problem_gets_one_line_and_exit_2(capsys, func, words):
    with pytest.raises(SystemExit) as stop:
        main(["run", "--problem", spec(func), "--quiet"])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert words in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("missing_file.py:f", "file 'missing_file.py' does not exist"),
        ("no_such_module_xyz:f", "no module named 'no_such_module_xyz'"),
        ("json:nope", "json has no function 'nope'"),
        ("json:__name__", "is a str, not a function"),
        ("linearr", "invalid choice: 'linearr'"),
        (":f", "give FILE.py:FUNC"),
    ],
)
def test_a_missing_file_module_or_function(capsys, value, words):
    with pytest.raises(SystemExit) as stop:
        main(["run", "--problem", value])
    assert stop.value.code == 2
    assert words in capsys.readouterr().err


def test_an_error_mid_run_names_the_users_line(capsys):
    code = main(["run", "--problem", spec("fails_later"), "--epochs", "60", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert "ValueError: late failure in my forward" in err
    assert "user_problems.py:89 in forward" in err and "Traceback" not in err


def test_options_that_do_not_apply_to_a_model(capsys):
    for argv, words in [
        (["--n", "50"], "--n: does not apply"),
        (["--w0", "1,2"], "--w0: does not apply"),
        (["--racers", "exact"], "exact line search is only known"),
    ]:
        command = "bench" if "--racers" in argv else "run"
        with pytest.raises(SystemExit):
            main([command, "--problem", spec("good"), *argv])
        assert words in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "--problem", "linear", "--batch-size", "8"])
    assert "mini-batches are for model problems" in capsys.readouterr().err


def test_the_seed_draws_the_initial_weights_and_leaves_torch_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = user_spec(spec("good"), 1).model[0].weight.detach().clone()
    after = torch.rand(1)
    b = user_spec(spec("good"), 1).model[0].weight.detach()
    c = user_spec(spec("good"), 2).model[0].weight.detach()
    assert torch.equal(before, after)  # the user's draw did not move the global generator
    assert torch.equal(a, b) and not torch.equal(a, c)


# --- the candidates in one vmapped pass ---


def sequential(problem: ModelProblem, W: torch.Tensor) -> torch.Tensor:
    """Each candidate through the model itself, one forward each: its parameters copied in."""
    model = problem.model
    out = []
    with torch.no_grad():
        for j in range(W.shape[1]):
            torch.nn.utils.vector_to_parameters(W[:, j], model.parameters())
            x, y = problem._data()
            out.append(problem.loss_fn(model(x), y))
        torch.nn.utils.vector_to_parameters(problem.w0, model.parameters())
    return torch.stack(out)


@pytest.mark.parametrize("name", ["good", "batchnorm"])
def test_vmapped_candidate_losses_equal_sequential_forwards(name):
    problem = make_model_problem(spec(name), 0, "cpu")
    gen = torch.Generator().manual_seed(5)
    W = problem.w0[:, None] + 0.3 * torch.randn(problem.d, 7, generator=gen)
    problem.use_batch(torch.arange(40))
    got = problem.losses(W)
    want = sequential(problem, W)
    assert got.shape == (7,)
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-6), (got, want)
    assert problem.vmapped == (name == "good")  # batch norm in training mode falls back
    assert (problem.notice is None) == (name == "good")


def test_the_walker_scores_with_one_vmapped_call(monkeypatch):
    problem = make_model_problem("digits", 0, "cpu", batch_size=100)
    calls = []
    vmap = torch.func.vmap

    def counting(*a, **kw):
        calls.append(1)
        return vmap(*a, **kw)

    monkeypatch.setattr(torch.func, "vmap", counting)
    walker = make_walker(problem, config("digits", batch_size=100))
    walker.step()  # the start: a gradient, no candidates
    walker.step()  # one pass: 15 batches
    assert len(calls) == 15  # one vmapped call per step, not k forwards


# --- mini-batches ---


def records(cfg: Config, seed: int, epochs: int) -> list:
    session = Session(dataclasses.replace(cfg, seed=seed, epochs=epochs), seed, race=True)
    out = []
    while not session.finished:
        out += session.advance(3)
    return out


def test_the_same_seed_gives_the_same_mini_batch_run_twice():
    cfg = config("digits", batch_size=50, race=[("adam", 0.003)], lrs_spec="log:0.01:3:7")
    a, b = records(cfg, 4, 4), records(cfg, 4, 4)
    c = records(cfg, 5, 4)
    assert len(a) == len(b) == 4
    for fa, fb in zip(a, b, strict=True):
        for name in fa:
            assert fa[name].loss == fb[name].loss and fa[name].winner == fb[name].winner
            assert np.array_equal(fa[name].weights, fb[name].weights)
    assert a[-1]["walker"].loss != c[-1]["walker"].loss  # another seed: another shuffle


def test_an_epoch_is_a_pass_over_the_shuffled_data():
    problem = make_model_problem("digits", 0, "cpu", batch_size=100)
    seen = [torch.cat(list(problem.batches(100, epoch))) for epoch in (1, 2)]
    for order in seen:
        assert sorted(order.tolist()) == list(range(problem.n))  # every sample once
    assert not torch.equal(seen[0], seen[1])  # reshuffled each pass
    assert [len(b) for b in problem.batches(100, 1)] == [100] * 14 + [37]
    walker = make_walker(problem, config("digits", batch_size=100))
    walker.step()
    walker.step()
    assert walker.inner.evaluations == 9 + 15 * 9  # the start, then 15 steps of 9 candidates


def test_a_rewind_inside_a_batch_of_epochs_is_exact():
    """advance() rewinds to the epoch a run stopped at: the replayed passes must be the same
    ones (the shuffle is a function of seed and pass, not of a generator's state)."""
    cfg = config("digits", batch_size=200, lrs_spec="log:0.01:3:5")
    problem = make_model_problem("digits", 0, "cpu", batch_size=200)
    straight = make_walker(problem, cfg)
    losses = [float(straight.step().loss) for _ in range(6)]
    target = (losses[3] + losses[4]) / 2  # reached at epoch 5
    rewound = make_walker(problem, cfg)
    recs, outcome = advance(rewound, 6, target, 10)
    assert outcome.state == "reached" and outcome.epochs == 5 and rewound.epoch == 5
    assert [r.loss for r in recs] == pytest.approx(losses[:5], rel=1e-6)
    assert float(rewound.step().loss) == pytest.approx(losses[5], rel=1e-6)


def test_every_racer_trains_a_model_in_mini_batches():
    problem = make_model_problem(spec("good"), 0, "cpu", batch_size=20)
    for name, lr in [("stepper", 0.5), ("momentum", 0.1), ("adam", 0.01), ("lbfgs", 1.0),
                     ("armijo", 1.0)]:  # fmt: skip
        racer = make_racer(name, problem, lr)
        assert isinstance(racer, Batched)
        outcome = run(racer, epochs=15, min_loss=0.0)
        first = float(problem.full_loss(problem.w0))
        assert outcome.loss < 0.7 * first, (name, outcome.loss, first)


def test_records_hold_plane_coordinates_that_match_the_weights():
    problem = make_model_problem("digits", 0, "cpu", batch_size=300)
    walker = make_walker(problem, config("digits", batch_size=300))
    walker.step()
    rec = to_host([walker.step()])[0]
    assert rec.weights.shape == (2, 9) and rec.w.shape == (2,)
    # the held weights, projected independently in float64 (least squares on the basis)
    B = problem.basis64.numpy()
    delta = (walker.inner.w.double() - problem.w0.double()).numpy()
    coords, *_ = np.linalg.lstsq(B, delta, rcond=None)
    assert np.allclose(rec.w, coords, rtol=1e-3, atol=1e-6)


def test_the_surface_is_the_full_data_loss_on_the_plane():
    problem = make_model_problem(spec("good"), 0, "cpu")
    points = torch.tensor([[0.0, 0.3, -0.2], [0.0, 0.1, 0.4]], dtype=torch.float64)
    got = problem.surface(points)
    W = problem.w0[:, None] + (problem.basis64 @ points).float()
    want = sequential(problem, W).numpy()
    assert np.allclose(got, want, rtol=1e-5)
    assert got[0] == pytest.approx(float(problem.full_loss(problem.w0)), rel=1e-6)


# --- the digits demo ---


def test_the_demo_ships_inside_the_package_and_is_small():
    from walker_tui.core.problems.torch_model import DIGITS_FILE

    assert DIGITS_FILE.stat().st_size <= 200 * 1024
    problem = make_model_problem("digits", 0, "cpu")
    assert problem.n == 1437 and len(problem.held[0]) == 360 and problem.d == 2410
    assert sorted(set(problem.y.tolist())) == list(range(10))


def test_the_demo_beats_chance_by_a_wide_margin_after_a_short_run(capsys):
    code = main(["run", "--problem", "digits", "--epochs", "4", "--quiet"])
    line = capsys.readouterr().out.strip()
    assert code == 0
    accuracy = float(line.rsplit("held-out accuracy ", 1)[1].rstrip("%."))
    assert accuracy > 80.0, line  # chance is 10%


def test_a_model_session_races_and_reports_metrics():
    cfg = config("digits", batch_size=128, race=[("stepper", 0.3), ("adam", 0.003)], epochs=3)
    session = Session(cfg, 17, race=True)
    frames = []
    while not session.finished:
        frames += session.advance(2)
    last = frames[-1]
    assert set(last) == {"walker", "stepper 0.3", "adam 0.003"}
    for rec in last.values():
        assert set(rec.metrics) == {"held-out loss", "held-out accuracy"}
        assert 0.0 <= rec.metrics["held-out accuracy"] <= 1.0
    assert session.start.shape == (2,) and np.allclose(session.start, 0.0)


def test_user_problem_errors_are_value_errors():
    with pytest.raises(UserProblemError):
        make_model_problem(spec("mismatched"), 0, "cpu")


def test_an_adaptive_walk_on_mini_batches_compares_with_w_on_the_same_batch():
    """--grid adaptive takes the best candidate when it lowers the loss and stays put otherwise:
    on a mini-batch, "the loss" is w's loss on that same batch (the held loss is the last
    batch's), recomputed here. Comparing with the last batch's loss made it stay when a
    candidate was better (and its grid then shrank for nothing), or step uphill."""
    problem = make_model_problem(spec("regression"), 0, "cpu", batch_size=5)
    walker = make_walker(problem, config(spec("regression"), grid="adaptive",
                                         lrs_spec="log:0.1:100:5"))  # fmt: skip
    inner = walker.inner
    inner.step()  # the start, on all the data
    moved = stayed = 0
    for epoch in (1, 2):
        for idx in problem.batches(5, epoch):
            problem.use_batch(idx)
            before = float(problem.losses(inner.w[:, None])[0])
            rec = inner.step()
            after = float(problem.losses(inner.w[:, None])[0])
            best = float(rec.losses.min())
            if bool(rec.moved):
                assert after <= before * (1 + 1e-6), (before, after)
                moved += 1
            else:
                assert best >= before * (1 - 1e-6), (before, best)  # nothing was better
                stayed += 1
    problem.use_batch(None)
    assert moved >= 10 and stayed >= 1
