"""One adaptive rule (issue 20): WalkerSGD and the engine's walker take the same steps on a problem
both can run (rates tried, winners, losses), because both move the grid by
walker_tui.core.adaptive.next_grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from walker_tui import WalkerSGD
from walker_tui.core.problems.regression import LinearProblem
from walker_tui.core.trainers.loop import run
from walker_tui.core.trainers.walker import Walker


@pytest.mark.parametrize("lrs", ["0.1:1:0.1", "0.1,0.2", "0.5"])
def test_walkersgd_and_the_engine_take_the_same_adaptive_steps(lrs):
    from walker_tui.core.grid import parse_lrs

    rates = parse_lrs(lrs)
    problem = LinearProblem(n=100, seed=17)
    engine = []
    run(Walker(problem, rates, adaptive=True), 25, 0.0, on_epoch=engine.append)

    x, y = problem.xt.T.clone(), problem.y.clone()
    w = torch.nn.Parameter(problem.w0.clone())
    opt = WalkerSGD([w], lrs=lrs, grid="adaptive")

    def closure():
        opt.zero_grad()
        loss = ((x @ w - y) ** 2).mean()
        loss.backward()
        return loss

    steps = []
    for _ in range(24):
        opt.step(closure)
        steps.append(opt.last)
    # the engine's epoch 1 is the start; its epoch t + 1 is WalkerSGD's step t. Near the optimum
    # the candidates tie within float32's rounding (the engine ranks by a float64 closed form,
    # WalkerSGD by float32 forwards), so the steps are compared while the walk still descends
    for rec, step in zip(engine[1:13], steps[:12], strict=True):
        assert np.allclose(np.asarray(rec.rates, float)[: len(step.rates)], step.rates, rtol=1e-5)
        assert int(rec.winner) == int(step.winner), (rec.epoch, rec.rates, step.rates)
        assert bool(rec.moved) == bool(step.moved)
        assert float(rec.loss) == pytest.approx(step.loss, rel=1e-4, abs=1e-6)
    assert float(engine[-1].loss) == pytest.approx(steps[-1].loss, rel=1e-3)


@pytest.mark.parametrize("direction", ["momentum", "adam"])
@pytest.mark.parametrize("grid", ["fixed", "adaptive"])
def test_walkersgd_and_the_engine_take_the_same_steps_along_a_direction(direction, grid):
    """One direction rule (walker_tui.core.directions, issue 21): along momentum and adam, fixed and
    adaptive, WalkerSGD and the engine's walker try the same rates, pick the same winners and
    hold the same losses, step for step, and their direction states agree."""
    from walker_tui.catalog import walker_lrs
    from walker_tui.core.grid import parse_lrs

    lrs = walker_lrs("linear", direction)
    problem = LinearProblem(n=100, seed=17)
    walker = Walker(problem, parse_lrs(lrs), adaptive=grid == "adaptive", direction=direction)
    # along adam on a fixed grid both take the reused-rate rule (core/schedule.py); the engine
    # takes it on a model only, so here it is turned on as a model would have it
    walker.lazy = direction == "adam" and grid == "fixed"
    walker.reset()
    engine = []
    run(walker, 25, 0.0, on_epoch=engine.append)

    x, y = problem.xt.T.clone(), problem.y.clone()
    w = torch.nn.Parameter(problem.w0.clone())
    opt = WalkerSGD([w], lrs=lrs, grid=grid, direction=direction)

    def closure():
        opt.zero_grad()
        loss = ((x @ w - y) ** 2).mean()
        loss.backward()
        return loss

    steps = []
    for _ in range(24):
        opt.step(closure)
        steps.append(opt.last)
    assert len({int(rec.winner) for rec in engine[1:]}) > 1  # (the rate did change)
    assert [rec.scored for rec in engine[1:]] == [step.scored for step in steps]
    assert any(not step.scored for step in steps) == walker.lazy
    for rec, step in zip(engine[1:], steps, strict=True):
        assert rec.lr == pytest.approx(step.lr, rel=1e-5)
        assert np.allclose(np.asarray(rec.rates, float), step.rates, rtol=1e-5)
        assert int(rec.winner) == int(step.winner), (rec.epoch, rec.rates, step.rates)
        assert bool(rec.moved) == bool(step.moved)
        assert float(rec.loss) == pytest.approx(step.loss, rel=1e-4)
    mine = opt.state[w]
    for key, value in walker.along.items():
        if key in ("t", "tm"):
            assert opt.state["walker"][f"along_{key}"] == int(value)
        else:
            assert torch.allclose(mine[f"along_{key}"], value, rtol=1e-4), key


def test_walkersgd_follows_an_edit_of_its_param_groups_rates():
    """As torch optimizers honour a scheduler's edit of group["lr"], WalkerSGD honours one of
    group["lrs"] between steps (it read them once, and an edit silently did nothing)."""
    x = torch.linspace(-1, 1, 50)[:, None]
    y = 3 * x[:, 0] + 1
    model = torch.nn.Linear(1, 1)
    opt = WalkerSGD(model.parameters(), lrs="0.1,0.2,0.3")

    def closure():
        opt.zero_grad()
        loss = ((model(x)[:, 0] - y) ** 2).mean()
        loss.backward()
        return loss

    opt.step(closure)
    assert opt.last.rates == pytest.approx([0.1, 0.2, 0.3])
    for group in opt.param_groups:  # a scheduler-style edit: every rate halved
        group["lrs"] = [r * 0.5 for r in group["lrs"]]
    opt.step(closure)
    assert opt.last.rates == pytest.approx([0.05, 0.1, 0.15])
    opt.param_groups[0]["lrs"] = "log:0.01:1:5"  # the --lrs grammar works too
    opt.step(closure)
    assert opt.last.rates == pytest.approx([0.01, 0.0316, 0.1, 0.316, 1.0], rel=1e-2)
    opt.param_groups[0]["lrs"] = [0.1, -1.0]
    with pytest.raises(ValueError):
        opt.step(closure)
    state = opt.state_dict()  # the edit survives a round trip
    assert state["state"]["walker"]["rates"] == pytest.approx([0.01, 0.0316, 0.1, 0.316, 1.0],
                                                             rel=1e-2)  # fmt: skip


def test_walkersgd_and_problem_put_the_same_model_in_the_same_plane(tmp_path):
    """The plane was written three times (seed + 1 against seed, float32 against float64): the
    same model recorded by WalkerSGD and trained by --problem landed in different planes. Both
    now draw walker_tui.core.plane.directions, so the start and the first steps coincide."""
    import copy

    from walker_tui.core.problems.torch_model import ModelProblem
    from walker_tui.core.problems.user_model import ModelSpec
    from walker_tui.core.trainers.walker import Walker

    torch.manual_seed(3)
    x = torch.randn(80, 4)
    y = (x[:, 0] - x[:, 1] > 0).long()
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2))
    loss_fn = torch.nn.functional.cross_entropy
    seed = 5
    problem = ModelProblem(ModelSpec(copy.deepcopy(model), loss_fn, (x, y), None, "t"), seed, "cpu")
    walker = Walker(problem, [0.1, 0.3, 1.0, 3.0])
    engine = [walker.step() for _ in range(4)]

    opt = WalkerSGD(model.parameters(), lrs="0.1,0.3,1,3", record=tmp_path / "r.csv", seed=seed)

    def closure():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss

    steps = []
    for _ in range(3):
        opt.step(closure)
        steps.append(opt.last)
    opt.close()
    w0, dirs, _ = opt._plane
    flat = torch.stack([torch.cat([d.reshape(-1) for d in one]).double() for one in dirs], 1)
    assert torch.allclose(flat, problem.basis64, rtol=1e-6, atol=1e-9)  # the same plane
    # the same first steps, at the same plane coordinates (engine epoch t + 1 = step t)
    for rec, step in zip(engine[1:], steps, strict=True):
        assert int(rec.winner) == int(step.winner)
        got = step.coords[:, step.winner]
        want = rec.weights[:, rec.winner].double().numpy()
        assert np.allclose(got, want, atol=1e-4), (got, want)
