"""The tuning-free racers (issue 15): L-BFGS with the strong Wolfe line search and gradient
descent with Armijo's backtracking. Each lowers the loss, counts its loss evaluations as they
happen (checked against a counting wrapper on the problem), and goes back to a saved epoch
exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from counting import counted, losses_of

from walker_tui.cli import main
from walker_tui.config import Config
from walker_tui.core.grid import GridError, parse_lrs, parse_race
from walker_tui.core.problems.zoo import make_problem
from walker_tui.core.trainers.loop import advance, run
from walker_tui.core.trainers.racers import Armijo, make_racer
from walker_tui.viewmodel.session import Session


@pytest.mark.parametrize("name", ["lbfgs", "armijo"])
@pytest.mark.parametrize("problem", ["quadratic", "rosenbrock", "himmelblau"])
def test_each_lowers_the_loss(name, problem):
    trainer = make_racer(name, make_problem(problem, 100, 17, "cpu"), 1.0)
    seen = losses_of(trainer, 20)
    assert all(np.isfinite(seen))
    # (gradient descent crawls along Rosenbrock's valley: Armijo's 20 epochs there take 1/6)
    assert seen[-1] < (0.2 if (name, problem) == ("armijo", "rosenbrock") else 0.01) * seen[0]
    assert all(b <= a for a, b in zip(seen, seen[1:], strict=False))  # both only descend


def test_lbfgs_reaches_rosenbrocks_minimum():
    trainer = make_racer("lbfgs", make_problem("rosenbrock", 100, 17, "cpu"), 1.0)
    outcome = run(trainer, epochs=10, min_loss=1e-8)
    assert outcome.state == "reached" and outcome.epochs <= 5
    assert np.allclose(trainer.w.numpy(), [1.0, 1.0], atol=1e-3)


def test_lbfgs_with_a_smaller_rate_still_descends():
    trainer = make_racer("lbfgs", make_problem("rosenbrock", 100, 17, "cpu"), 0.5)
    seen = losses_of(trainer, 6)
    assert trainer.rates == [0.5] and seen[-1] < 1e-3 * seen[0]


def test_armijo_steps_satisfy_the_armijo_condition_in_float64():
    problem = make_problem("rosenbrock", 100, 17, "cpu")
    trainer = make_racer("armijo", problem, 1.0)
    trainer.step()
    accepted = 0
    for _ in range(50):
        w, g = trainer.w.clone(), trainer.grad.clone()
        rec = trainer.step()
        a = float(rec.rates[0])
        assert a > 0, "a step is found on Rosenbrock's valley"
        assert a in [0.5**i for i in range(31)]  # a0 halved
        assert torch.equal(trainer.w, w - g * a)
        w64, g64 = w.double(), g.double()
        x, y = (w64 - a * g64).tolist()
        after = (1 - x) ** 2 + 100 * (y - x * x) ** 2  # Rosenbrock in float64
        x0, y0 = w64.tolist()
        before = (1 - x0) ** 2 + 100 * (y0 - x0 * x0) ** 2
        slope = float(g64 @ g64)
        assert after <= before - Armijo.c * a * slope + 1e-6 * abs(before)
        # and the step before it (twice as long) did not satisfy it, unless a is a0
        if a < 1.0:
            x2, y2 = (w64 - 2 * a * g64).tolist()
            longer = (1 - x2) ** 2 + 100 * (y2 - x2 * x2) ** 2
            assert longer > before - Armijo.c * 2 * a * slope - 1e-6 * abs(before)
        accepted += 1
    assert accepted == 50


def test_armijo_starts_each_epoch_from_its_rate():
    problem = make_problem("quadratic", 100, 17, "cpu")
    trainer = make_racer("armijo", problem, 10.0)
    trainer.step()
    rates = [float(trainer.step().rates[0]) for _ in range(10)]
    assert all(r in [10 * 0.5**i for i in range(31)] for r in rates)


@pytest.mark.parametrize("name", ["lbfgs", "armijo", "stepper", "momentum"])
@pytest.mark.parametrize("problem", ["quadratic", "rosenbrock"])
def test_evaluations_match_a_counting_wrapper(name, problem):
    p = counted(make_problem(problem, 100, 17, "cpu"))
    trainer = make_racer(name, p, 1.0 if name in ("lbfgs", "armijo") else 1e-3)
    per_epoch = []
    for _ in range(8):
        before = p.calls
        rec = trainer.step()
        assert rec.evals == trainer.evaluations == p.calls
        per_epoch.append(p.calls - before)
    assert per_epoch[0] == 1  # the start, evaluated once
    if name in ("stepper", "momentum"):
        assert set(per_epoch[1:]) == {1}
    else:
        assert max(per_epoch[1:]) > 1  # a line search spends more, and not the same each epoch
    if name == "lbfgs" and problem == "rosenbrock":
        assert len(set(per_epoch[1:])) > 1


def test_session_records_the_counted_evaluations():
    cfg = Config(problem="rosenbrock", lrs=[1e-3, 1e-2], race=[("lbfgs", 1.0), ("armijo", 1.0)])
    session = Session(cfg, 17, race=True)
    frames = [session.step() for _ in range(3)]
    for name in ("lbfgs 1", "armijo 1"):
        assert [f[name].evals for f in frames] == sorted({f[name].evals for f in frames})
        assert frames[-1][name].evals == session.trainers[name].evaluations
    assert [f["walker"].evals for f in frames] == [2, 4, 6]  # k an epoch, as before


@pytest.mark.parametrize("name", ["lbfgs", "armijo"])
def test_a_saved_epoch_comes_back_exactly(name):
    trainer = make_racer(name, make_problem("rosenbrock", 100, 17, "cpu"), 1.0)
    losses_of(trainer, 3 if name == "lbfgs" else 20)
    saved = trainer.state_dict()
    first = [(r.loss.item(), r.w.tolist(), r.evals) for r in (trainer.step() for _ in range(4))]
    trainer.load_state_dict(saved)
    again = [(r.loss.item(), r.w.tolist(), r.evals) for r in (trainer.step() for _ in range(4))]
    assert first == again
    trainer.reset()
    assert trainer.evaluations == 0 and trainer.epoch == 0


@pytest.mark.parametrize("name", ["lbfgs", "armijo"])
def test_a_run_stopping_inside_a_batch_rewinds_exactly(name):
    problem = make_problem("rosenbrock", 100, 17, "cpu")
    one = make_racer(name, problem, 1.0)
    by_one = run(one, epochs=3000, min_loss=1e-6)
    batched = make_racer(name, problem, 1.0)
    while True:  # 16 epochs a transfer, as on a GPU: the stop falls inside a batch
        records, outcome = advance(batched, 16, 1e-6, 3000)
        if outcome is not None:
            break
    assert (outcome.epochs, outcome.loss) == (by_one.epochs, by_one.loss)
    assert batched.evaluations == one.evaluations and records[-1].evals == one.evaluations


def test_run_prints_a_table_for_lbfgs(capsys):
    assert (
        main(["run", "--problem", "rosenbrock", "--optimizer", "lbfgs", "--min-loss", "1e-6"]) == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Epoch\tLoss"
    assert out[1] == "1\t24.200"
    assert out[-1].startswith("Final loss: ") and out[-1].endswith(" epochs.")
    assert len(out) <= 8  # a handful of epochs


def test_run_armijo_quiet(capsys):
    assert main(["run", "--optimizer", "armijo", "--quiet"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("Final loss: 0.0") and "not reached" not in line


def test_race_specs():
    assert parse_race("lbfgs,armijo:1.0,armijo:10,lbfgs:0.5") == [
        ("lbfgs", 1.0),
        ("armijo", 1.0),
        ("armijo", 10.0),
        ("lbfgs", 0.5),
    ]
    with pytest.raises(GridError, match="not positive"):
        parse_race("lbfgs:-1")


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "--racers", "lbfgs:-1"],
        ["--race", "armijo:0"],
        ["bench", "--racers", "armijo:x"],
        ["run", "--optimizer", "lbfgs", "--lr", "-1"],
    ],
)
def test_bad_specs_get_one_line_and_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1, err


def test_bench_counts_the_line_searches_evaluations(capsys):
    argv = ["bench", "--problem", "rosenbrock", "--racers", "lbfgs", "--min-loss", "1e-6"]
    assert main([*argv, "--repeat", "1", "--epochs", "50"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {r.split("\t")[0]: r.split("\t") for r in lines[2:]}
    problem = counted(make_problem("rosenbrock", 100, 17, "cpu"))
    trainer = make_racer("lbfgs", problem, 1.0)
    outcome = run(trainer, epochs=50, min_loss=1e-6)
    assert outcome.state == "reached"
    assert rows["lbfgs"][3:5] == [str(outcome.epochs), str(problem.calls)]


# --- mini-batches, the sweep, the whole field ---


def test_bench_sweep_picks_the_steppers_best_rate_on_the_walkers_grid(capsys):
    """The sweep's row is the rate that reached the target first, checked here by running a
    stepper at every rate of the grid independently."""
    from walker_tui.cli import main
    from walker_tui.core.problems.zoo import make_problem
    from walker_tui.core.trainers.loop import run
    from walker_tui.core.trainers.racers import Stepper

    code = main(["bench", "--problem", "quadratic", "--sweep", "--repeat", "1", "--device", "cpu",
                 "--racers", "stepper:0.1"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    row = next(line.split("\t") for line in out.splitlines() if "(best of 12)" in line)
    problem = make_problem("quadratic", 100, 17, "cpu")
    epochs = {}
    for lr in parse_lrs("log:0.002:0.5:12"):
        outcome = run(Stepper(problem, lr), 200, 0.1)
        if outcome.state == "reached":
            epochs[lr] = outcome.epochs
    best = min(epochs, key=lambda lr: (epochs[lr], lr))
    assert float(row[1].split()[0]) == pytest.approx(best, rel=1e-3)
    assert int(row[3]) == epochs[best]
    assert "found with" in out and "the tuning the walker does without" in out


def test_tuning_free_names_the_whole_field(capsys):
    from walker_tui.cli.args import _race

    assert [n for n, _ in _race("tuning-free")] == [
        "lbfgs", "armijo", "prodigy", "dadapt", "schedulefree"
    ]  # fmt: skip


def test_lbfgs_takes_its_step_on_all_the_data_under_mini_batches():
    """LBFGS is a full-batch method: on a model in mini-batches an epoch is one LBFGS step on all
    the data (its evaluations then see every sample), and bench says so."""
    from walker_tui.core.problems.torch_model import make_model_problem

    problem = make_model_problem("digits", 0, "cpu", batch_size=64)
    seen = []
    own = problem.use_batch
    problem.use_batch = lambda idx: (seen.append(idx), own(idx))[1]
    racer = make_racer("lbfgs", problem, 1.0)
    racer.step()
    racer.step()
    assert seen and all(idx is None for idx in seen)


def test_armijo_on_a_mini_batch_backtracks_on_that_batch():
    """Vaswani et al.'s rule: the trials are compared with w's loss on the same batch, so every
    accepted step lowers that batch's loss by the Armijo margin (recomputed here)."""
    from walker_tui.core.problems.torch_model import make_model_problem

    problem = make_model_problem("digits", 0, "cpu", batch_size=64)
    racer = make_racer("armijo", problem, 1.0).inner
    racer.step()  # the start, on all the data
    checked = 0
    for idx in list(problem.batches(64, 1))[:8]:
        problem.use_batch(idx)
        w = racer.w.clone()
        before, grad = problem.loss_grad(w)
        rec = racer.step()
        a = float(rec.rates[0])
        if a > 0:
            after = float(problem.losses(racer.w[:, None])[0])
            assert after <= float(before) - 1e-4 * a * float(grad @ grad) + 1e-6
            checked += 1
    problem.use_batch(None)
    assert checked >= 4


def test_run_says_lbfgs_is_full_batch_on_mini_batches(capsys):
    code = main(["run", "--problem", "digits", "--optimizer", "lbfgs", "--epochs", "2"])
    captured = capsys.readouterr()
    assert code == 0
    assert "lbfgs is a full-batch method: each epoch is one step on all the data" in captured.err
    assert "Final loss" in captured.out
