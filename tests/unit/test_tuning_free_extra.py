"""The tuning-free racers of the racers extra (issue 15): Prodigy, D-Adaptation (DAdaptSGD) and
Schedule-Free AdamW, at their published defaults. Each lowers the loss, counts one loss
evaluation an epoch as it happens (checked against a counting wrapper on the problem), goes back
to a saved epoch exactly, and asking for one without the extra installed gets one line."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from counting import counted, losses_of

from walker_tui.catalog import DEFAULT_RATES, EXTRA_RACERS
from walker_tui.cli import main
from walker_tui.core.grid import parse_race
from walker_tui.core.problems.zoo import make_problem
from walker_tui.core.trainers.racers import make_racer

EXTRA = ("prodigy", "dadapt", "schedulefree")
# epochs each takes, and how far below its start it then is, at its defaults (D-Adaptation's SGD
# variant on the bowl lowers the loss, then its step outgrows 2/L and it diverges: 30 epochs)
LOWERS = {"prodigy": (200, 0.02), "dadapt": (30, 0.5), "schedulefree": (200, 0.9)}


def make(name, problem="rosenbrock", rate=None):
    rate = DEFAULT_RATES[name] if rate is None else rate
    return make_racer(name, make_problem(problem, 100, 17, "cpu"), rate)


@pytest.mark.parametrize("name", EXTRA)
@pytest.mark.parametrize("problem", ["quadratic", "rosenbrock"])
def test_each_lowers_the_loss(name, problem):
    epochs, below = LOWERS[name]
    seen = losses_of(make(name, problem), epochs)
    assert all(np.isfinite(seen))
    assert seen[-1] < below * seen[0]


def test_the_published_defaults():
    assert [DEFAULT_RATES[n] for n in EXTRA] == [1.0, 1.0, 0.0025]
    prodigy, dadapt, schedulefree = (make(n).opt for n in EXTRA)
    assert type(prodigy).__name__ == "Prodigy" and prodigy.defaults["d0"] == 1e-6
    assert type(dadapt).__name__ == "DAdaptSGD" and dadapt.defaults["momentum"] == 0
    assert type(schedulefree).__name__ == "AdamWScheduleFree"
    assert schedulefree.defaults["lr"] == 0.0025 and schedulefree.defaults["warmup_steps"] == 0


def test_an_optional_rate():
    assert parse_race("prodigy,dadapt,schedulefree,prodigy:0.5") == [
        ("prodigy", 1.0),
        ("dadapt", 1.0),
        ("schedulefree", 0.0025),
        ("prodigy", 0.5),
    ]
    trainer = make("prodigy", rate=0.5)
    assert trainer.rates == [0.5] and trainer.opt.param_groups[0]["lr"] == 0.5


def test_schedulefree_reports_the_loss_where_it_evaluates():
    trainer = make("schedulefree")
    for _ in range(5):
        rec = trainer.step()
        assert trainer.opt.param_groups[0]["train_mode"]  # y in the weights: its gradient point
        loss, grad = trainer.problem.loss_grad(trainer.w)
        assert rec.loss.item() == loss.item() and torch.equal(trainer.grad, grad)


@pytest.mark.parametrize("name", EXTRA)
@pytest.mark.parametrize("problem", ["quadratic", "rosenbrock"])
def test_evaluations_match_a_counting_wrapper(name, problem):
    p = counted(make_problem(problem, 100, 17, "cpu"))
    trainer = make_racer(name, p, DEFAULT_RATES[name])
    for epoch in range(1, 9):
        rec = trainer.step()
        assert rec.evals == trainer.evaluations == p.calls == epoch  # one a step, the start's too


@pytest.mark.parametrize("name", EXTRA)
def test_a_saved_epoch_comes_back_exactly(name):
    trainer = make(name)
    losses_of(trainer, 20)
    saved = trainer.state_dict()
    first = [(r.loss.item(), r.w.tolist(), r.evals) for r in (trainer.step() for _ in range(6))]
    trainer.load_state_dict(saved)
    again = [(r.loss.item(), r.w.tolist(), r.evals) for r in (trainer.step() for _ in range(6))]
    assert first == again
    trainer.load_state_dict(saved)  # the saved state was copied, not shared: it replays again
    assert [r.loss.item() for r in (trainer.step() for _ in range(6))] == [f[0] for f in first]
    trainer.reset()
    assert trainer.evaluations == 0 and trainer.epoch == 0


def test_run_prints_a_table_for_prodigy(capsys):
    assert main(["run", "--problem", "quadratic", "--optimizer", "prodigy", "--quiet"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("Final loss: ")


@pytest.mark.parametrize("name", EXTRA)
@pytest.mark.parametrize(
    "argv",
    [["run", "--optimizer", "{}"], ["--race", "stepper:0.3,{}"], ["bench", "--racers", "{}:0.5"]],
)
def test_a_missing_extra_gets_one_line_and_exit_2(name, argv, monkeypatch, capsys):
    find_spec = importlib.util.find_spec
    missing = EXTRA_RACERS[name]
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda m, *a: None if m == missing else find_spec(m, *a)
    )
    with pytest.raises(SystemExit) as exc:
        main([a.format(name) for a in argv])
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1, err
    flag = argv[-2]
    assert f'{flag} {name} needs the racers extra: pip install -e ".[racers]" in the clone' in err
