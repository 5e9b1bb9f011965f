"""The walker's schedule of scorings (walker_tui.core.schedule): along adam the grid is scored
now and then and a rate reused between, in the engine's walker and in WalkerSGD alike; along the
gradient (the notebook's walker) and along momentum every step scores."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from walker_tui import WalkerSGD
from walker_tui.config import Config
from walker_tui.core.grid import parse_lrs
from walker_tui.core.problems.zoo import make_problem
from walker_tui.core.schedule import LONGEST, RISE, WINDOW, Schedule
from walker_tui.core.trainers.loop import to_host
from walker_tui.core.trainers.walker import make_walker


def test_scores_until_the_winners_mean_holds_then_ever_less_often():
    s = Schedule()
    gaps, reused = [], 0
    for _ in range(200):
        if s.due():
            gaps.append(reused)
            reused = 0
            s.scored(0.01, True)
        else:
            s.reused(1.0, 1.0)
            reused += 1
    assert gaps[:WINDOW] == [0] * WINDOW  # (every step until WINDOW winners)
    assert gaps[WINDOW : WINDOW + 4] == [1, 3, 7, 15]  # the interval doubles...
    assert max(gaps) == LONGEST - 1  # ...up to LONGEST
    assert s.rate == pytest.approx(0.01)


def test_the_reused_rate_is_the_mean_of_the_last_winners():
    s = Schedule()
    for rate in [1.0] * 4 + [0.1, 0.001] * 4:
        s.scored(rate, True)
    assert s.rate == pytest.approx((0.1 + 0.001) / 2)  # (the last WINDOW = 8)
    s.scored(0.5, False)  # a step not taken counts as rate 0 and scores again next step
    assert s.winners[-1] == 0.0 and s.due()


def _held(s: Schedule) -> Schedule:
    for _ in range(WINDOW + 3):
        s.scored(0.01, True)
    assert not s.due() and s.interval > 1
    return s


def test_a_loss_that_rises_or_is_not_finite_scores_at_once():
    s = _held(Schedule())
    s.reused(1.0, 1.0)
    s.reused(RISE * 1.0 * 0.99, 0.5)  # within RISE of the highest recent loss: no reset
    assert not s.due()
    s.reused(RISE * 1.0 * 1.01, 0.5)  # past it
    assert s.due() and s.interval == 1
    s = _held(Schedule())
    s.reused(math.nan, 1.0)
    assert s.due()


def test_a_winner_that_moves_the_mean_scores_every_step_again():
    s = _held(Schedule())
    while not s.due():
        s.reused(1.0, 1.0)
    s.scored(1.0, True)  # the mean goes from 0.01 to 0.13: more than a factor 2
    assert s.interval == 1 and s.due()


def test_state_round_trips():
    s = _held(Schedule())
    s.reused(1.0, 1.0)
    t = Schedule()
    t.load_state_dict(s.state_dict())
    assert t == s


def _records(direction: str, epochs: int = 4):
    problem = make_problem("digits", 100, 17, "cpu", batch_size=64)
    cfg = Config(problem="digits", lrs=parse_lrs("log:0.0001:0.1:13"), direction=direction,
                 batch_size=64)  # fmt: skip
    trainer = make_walker(problem, cfg)
    inner = trainer.inner
    steps = []
    step = inner.step

    def each():
        rec = step()
        steps.append((rec.scored, rec.evals, rec.taken))
        return rec

    inner.step = each
    records = [to_host([trainer.step()])[0] for _ in range(epochs)]
    return inner, steps, records


def test_the_engine_walker_along_adam_reuses_a_rate_and_counts_what_it_evaluated():
    inner, steps, records = _records("adam")
    reused = [s for s in steps if not s[0]]
    assert reused and len(reused) < len(steps)
    evals = [e for _, e, _ in steps]
    for (scored, _, _), before, after in zip(steps[1:], evals[:-1], evals[1:], strict=True):
        assert after - before == (inner.k if scored else 1)  # k scored, 1 at a reused rate
    rates = {taken for scored, _, taken in steps if not scored}
    assert all(r > 0 for r in rates)  # (the rate it took, in the record: the winners' mean)
    assert inner.schedule.rate in rates or steps[-1][0]
    host = [r for r in records if not r.scored]  # an epoch whose last step reused a rate
    assert all(r.lr > 0 and r.lr not in r.rates for r in host)


@pytest.mark.parametrize("direction", ["sgd", "momentum"])
def test_the_walker_along_the_gradient_or_momentum_scores_every_step(direction):
    inner, steps, _ = _records(direction, 2)
    assert inner.schedule is None and all(scored for scored, _, _ in steps)
    assert [e for _, e, _ in steps] == [inner.k * (i + 1) for i in range(len(steps))]


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.f = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 2))

    def forward(self, x, y):
        return nn.functional.cross_entropy(self.f(x), y)


@pytest.mark.parametrize("mode", ["closure", "attached"])
def test_walkersgd_takes_the_same_rule(mode):
    """WalkerSGD's steps follow a Schedule fed its own winners and losses (attached too: a
    reused step's loss is its model's forward's), and a reused step takes the mean of the last
    winning rates; along sgd every step scores."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(256, 8, generator=gen)
    y = (x[:, 0] * x[:, 1] > 0).long()
    for direction in ("adam", "sgd", "momentum"):
        model = _Net()
        opt = WalkerSGD(model.parameters(), direction=direction,
                        **({"model": model} if mode == "attached" else {}))  # fmt: skip
        mirror, before, flags = Schedule(), None, []
        for _ in range(40):
            idx = torch.randint(0, 256, (32,), generator=gen)
            _one_step(opt, model, mode, x[idx], y[idx])
            last = opt.last
            if last is None:
                continue
            flags.append(last.scored)
            if direction != "adam":
                continue
            if last.step > 1 or mode == "attached":
                assert mirror.due() == last.scored
            if last.scored:
                grid = opt.state["walker"]["rates"]
                mirror.scored(grid[last.winner], last.moved)
            else:  # (attached: the loss is the model's own forward's at the reused rate)
                assert last.lr == pytest.approx(mirror.rate)
                mirror.reused(last.loss, before)
            before = last.loss
        assert all(flags) if direction != "adam" else not all(flags)


def _one_step(opt, model, mode, xb, yb):
    """A loop's step on one batch: attached (forward, backward, step) or with a closure."""
    if mode == "attached":
        model(xb, yb).backward()
        opt.step()
        opt.zero_grad()
    else:
        opt.step(lambda: _closure(opt, model, xb, yb))


def _closure(opt, model, xb, yb):
    opt.zero_grad()
    loss = model(xb, yb)
    loss.backward()
    return loss


class _Boosted(_Net):
    """A net whose loss can be made to jump (a batch far off what it learnt)."""

    boost = 1.0

    def forward(self, x, y):
        return super().forward(x, y) * self.boost


def test_attached_walkersgd_scores_at_once_after_a_reused_step_whose_loss_jumps():
    """Attached, a reused-rate step's loss (the model's own forward at the rate) reaches the
    schedule, as in the closure mode and the engine: a loss past RISE times the held ones makes
    the next step score. (It was left out: only the winners decided, and the walk went on at
    the reused rate.)"""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(256, 8, generator=gen)
    y = (x[:, 0] * x[:, 1] > 0).long()
    model = _Boosted()
    opt = WalkerSGD(model.parameters(), direction="adam", model=model)

    def step(boost: float = 1.0) -> float:
        idx = torch.randint(0, 256, (32,), generator=gen)
        model.boost = boost
        loss = model(x[idx], y[idx])
        loss.backward()
        opt.step()
        opt.zero_grad()
        model.boost = 1.0
        return float(loss)

    for _ in range(200):  # until a reused step with more reused steps due after it
        step()
        last = opt.last
        if last is not None and not last.scored and opt.state["walker"]["schedule"]["wait"] >= 2:
            break
    assert not opt.last.scored and opt.state["walker"]["schedule"]["wait"] >= 2
    jumped = step(boost=10 * RISE)  # a reused step (wait >= 2) whose loss jumps
    assert not opt.last.scored
    assert opt.last.loss == pytest.approx(jumped)  # the step's loss is its forward's
    step()
    assert opt.last.scored  # the jump made this step score, though its wait was not over


@pytest.mark.parametrize("mode", ["closure", "attached"])
def test_a_reused_step_shows_the_rates_its_scoring_tried_though_a_scheduler_moved_lr(
    mode, tmp_path
):
    """A reused step's candidates are the last scoring's: its rates as they were tried, not
    today's grid times a scale a scheduler has since lowered (the losses were paired with
    rates never tried), in ``opt.last`` and in the recording."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(256, 8, generator=gen)
    y = (x[:, 0] * x[:, 1] > 0).long()
    model = _Net()
    path = tmp_path / "run.csv"
    opt = WalkerSGD(model.parameters(), direction="adam", record=str(path),
                    **({"model": model} if mode == "attached" else {}))  # fmt: skip
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1.0 / (1 + 0.05 * i))
    tried, reused = None, 0
    for _ in range(60):
        idx = torch.randint(0, 256, (32,), generator=gen)
        _one_step(opt, model, mode, x[idx], y[idx])
        sched.step()
        last = opt.last
        if last is None:
            continue
        if last.scored:
            tried = list(last.rates)
        elif tried is not None:
            assert last.rates == tried and last.losses[last.winner] is not None
            reused += 1
    opt.close()
    assert reused > 10 and tried is not None
    # the recording's reused rows repeat the scored row's rates (lr_j columns)
    import csv

    rows = list(csv.DictReader(line for line in path.read_text().splitlines()
                               if not line.startswith("#")))  # fmt: skip
    columns = sorted((c for c in rows[0] if c.startswith("lr_")), key=lambda c: int(c[3:]))
    assert len(columns) == 13 and {row["scored"] for row in rows} == {"0", "1"}
    last_scored = None
    for row in rows:
        rates = [float(row[c]) for c in columns]
        if row["scored"] == "1":
            last_scored = rates
        elif last_scored is not None:
            assert rates == pytest.approx(last_scored, rel=1e-6), row["step"]
