"""WalkerSGD beyond the closure: its default grids, lr as a scale that torch's schedulers move,
the attached mode (step() without a closure), buffers and randomness untouched by scoring,
state_dict round trips, the edge warning and the errors that say what to do
(walker_tui.optim)."""

from __future__ import annotations

import copy
import math
import warnings

import pytest
import torch
from torch import nn

from walker_tui import WalkerSGD
from walker_tui.catalog import model_lrs
from walker_tui.core.grid import parse_lrs
from walker_tui.optim import LossError
from walker_tui.viewmodel.replay import load_replay


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def data(n: int = 256, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=gen)
    return x, (x[:, 0] + x[:, 1] * x[:, 2] > 0).long()


class Net(nn.Module):
    """A forward that returns the loss when given the targets (so the hook sees the batch)."""

    def __init__(self, norm: bool = False, dropout: float = 0.0, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        layers = [nn.Linear(8, 16)] + ([nn.BatchNorm1d(16)] if norm else [])
        self.f = nn.Sequential(*layers, nn.Tanh(), nn.Dropout(dropout), nn.Linear(16, 2))

    def forward(self, x, y=None):
        out = self.f(x)
        return out if y is None else nn.functional.cross_entropy(out, y)


def batches(steps: int, size: int = 32, seed: int = 1):
    x, y = data()
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(x), (size,), generator=gen)
        yield x[idx], y[idx]


def train_attached(opt, model, steps, scheduler=None):
    losses = []
    for xb, yb in batches(steps):
        loss = model(xb, yb)
        loss.backward()
        opt.step()
        opt.zero_grad()
        if scheduler is not None:
            scheduler.step()
        losses.append(float(loss.detach()))
    return losses


@pytest.mark.parametrize("direction", ["sgd", "momentum", "adam"])
def test_without_lrs_each_direction_takes_the_model_grid(direction):
    opt = WalkerSGD(nn.Linear(2, 1).parameters(), direction=direction)
    assert opt.spec == model_lrs(direction)
    assert opt.rates == pytest.approx(parse_lrs(model_lrs(direction)))
    assert model_lrs("adam") == "log:0.0001:0.1:13"  # (the figures, from the catalog)


def test_lr_is_a_scale_on_the_whole_grid_and_schedulers_move_it():
    model = Net()
    opt = WalkerSGD(model.parameters(), lrs="0.1,0.2,0.4", model=model)
    assert all(g["lr"] == 1.0 for g in opt.param_groups)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    seen = []
    for xb, yb in batches(6):
        model(xb, yb).backward()
        opt.step()
        opt.zero_grad()
        sched.step()
        if opt.last is not None:
            seen.append(opt.last.rates)
    # the step prepared under lr = 1, 1, 0.5, 0.5, 0.25 is taken at the next forward
    assert seen[0] == pytest.approx([0.1, 0.2, 0.4])
    assert seen[2] == pytest.approx([0.05, 0.1, 0.2])
    assert seen[4] == pytest.approx([0.025, 0.05, 0.1])


@pytest.mark.parametrize(
    "make",
    [
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10),
        lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=4),
        lambda o: torch.optim.lr_scheduler.OneCycleLR(
            o, max_lr=1.0, total_steps=12, cycle_momentum=False
        ),  # fmt: skip
        lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda s: min(1.0, (s + 1) / 4)),
    ],
)
def test_torch_schedulers_scale_the_grid_in_both_modes(make):
    x, y = data()
    model = Net()
    opt = WalkerSGD(model.parameters(), lrs="0.1,0.3,1")
    sched = make(opt)

    def closure():
        opt.zero_grad()
        loss = model(x, y)
        loss.backward()
        return loss

    for _ in range(8):
        lr = opt.param_groups[0]["lr"]
        opt.step(closure)
        assert opt.last.rates == pytest.approx([lr * 0.1, lr * 0.3, lr * 1.0])
        sched.step()


def test_one_cycle_with_cycle_momentum_says_what_to_pass():
    opt = WalkerSGD(nn.Linear(2, 1).parameters())
    with pytest.raises(ValueError, match="momentum"):
        torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10)


def test_groups_with_different_lrs_are_one_error():
    a, b = nn.Linear(2, 1), nn.Linear(2, 1)
    with pytest.raises(ValueError, match="one lr"):  # at construction
        WalkerSGD([{"params": a.parameters()}, {"params": b.parameters(), "lr": 0.5}])
    opt = WalkerSGD([{"params": a.parameters()}, {"params": b.parameters()}])
    opt.param_groups[1]["lr"] = 0.5  # an edit between steps: at the step
    with pytest.raises(ValueError, match="one lr"):
        opt.step(lambda: torch.tensor(0.0))


def test_attached_mode_trains_without_a_closure_and_holds_the_winners_loss():
    model = Net()
    opt = WalkerSGD(model.parameters(), lrs="log:0.01:3:9", model=model)
    losses = train_attached(opt, model, 60)
    assert opt.last.step == 59  # the first step only takes the gradient
    assert opt.scorer.vmapped and opt.last.calls == 9
    assert sum(losses[-10:]) / 10 < 0.7 * sum(losses[:10]) / 10
    # the forward after a decision runs at the winner: its loss is the winner's scored loss
    xb, yb = next(batches(1, seed=9))
    model(xb, yb).backward()
    opt.step()
    opt.zero_grad()
    loss = model(xb, yb)
    assert float(loss.detach()) == pytest.approx(opt.last.loss, rel=1e-5)


def test_eval_and_no_grad_forwards_are_never_scored():
    model = Net()
    opt = WalkerSGD(model.parameters(), lrs="0.1,0.5", model=model)
    xb, yb = data(32)
    model(xb, yb).backward()
    opt.step()
    opt.zero_grad()
    before = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        model(xb, yb)
    model.eval()
    model(xb, yb)
    model.train()
    assert opt.last is None
    assert all(torch.equal(a, b.detach()) for a, b in zip(before, model.parameters(), strict=True))
    model(xb, yb)
    assert opt.last is not None and opt.last.step == 1


def test_step_without_closure_or_model_names_both_ways():
    opt = WalkerSGD(nn.Linear(2, 1).parameters())
    with pytest.raises(RuntimeError, match="closure.*model=model"):
        opt.step()


@pytest.mark.parametrize(
    ("forward", "words"),
    [
        (lambda m, x, y: m.f(x), "not a scalar"),  # logits, no loss_fn
        (lambda m, x, y: {"logits": m.f(x)}, "with no loss"),
    ],
)
def test_an_output_without_a_loss_is_one_error_saying_what_is_expected(forward, words):
    class Odd(Net):
        def forward(self, x, y=None):
            return forward(self, x, y)

    model = Odd()
    opt = WalkerSGD(model.parameters(), model=model)
    xb, yb = data(16)
    nn.functional.cross_entropy(model.f(xb), yb).backward()
    opt.step()
    with pytest.raises(LossError, match=words) as caught:
        model(xb)
    assert ".loss" in str(caught.value) and "loss_fn" in str(caught.value)


def test_a_loss_fn_gets_the_output_and_the_forwards_inputs():
    torch.manual_seed(0)
    net = nn.Linear(8, 2)
    seen = []

    def loss_fn(out, x, y):
        seen.append(out.shape)
        return nn.functional.cross_entropy(out, y)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x, y):
            return self.net(x)

    model = Model()
    opt = WalkerSGD(model.parameters(), lrs="0.1,1", model=model, loss_fn=loss_fn)
    for xb, yb in batches(3):
        nn.functional.cross_entropy(model(xb, yb), yb).backward()
        opt.step()
        opt.zero_grad()
    assert opt.last.step == 2 and seen


@pytest.mark.parametrize("vmapped", [True, False])
def test_scoring_changes_no_buffer(vmapped):
    model = Net(norm=True)
    opt = WalkerSGD(model.parameters(), lrs="0.1,0.3,1", model=model, vmap=vmapped)
    xb, yb = data(32)
    model(xb, yb).backward()
    opt.step()
    opt.zero_grad()
    bn = model.f[1]
    before = Net(norm=True)
    before.load_state_dict(model.state_dict())
    model(xb, yb)  # scores 3 candidates, takes the winner, then its own forward
    assert int(bn.num_batches_tracked) == 2  # two forwards of the model's own: no candidate's
    # the buffers are those of one forward at the winner from the buffers before
    with torch.no_grad():
        for p, q in zip(before.parameters(), model.parameters(), strict=True):
            p.copy_(q)
    before(xb, yb)
    assert torch.allclose(before.f[1].running_mean, bn.running_mean)
    assert torch.allclose(before.f[1].running_var, bn.running_var)
    assert opt.scorer.vmapped == vmapped


@pytest.mark.parametrize("vmapped", [True, False])
def test_every_candidate_sees_the_same_dropout_mask(vmapped):
    model = Net(dropout=0.5)
    # rates so small that every candidate is w to float32: the same mask gives the same loss
    opt = WalkerSGD(model.parameters(), lrs=[1e-30, 2e-30, 3e-30, 4e-30], model=model,
                    vmap=vmapped)  # fmt: skip
    xb, yb = data(64)
    model(xb, yb).backward()
    opt.step()
    opt.zero_grad()
    state = torch.get_rng_state()
    own = model(xb, yb)
    assert len(set(opt.last.losses)) == 1
    if not vmapped:  # one at a time: the model's own forward draws the very same mask
        assert float(own) == opt.last.losses[0]
    # scoring left the random state as it found it: the model's forward drew from it
    torch.set_rng_state(state)
    assert float(model.f(xb).sum()) != 0.0


def test_closure_mode_gives_every_candidate_the_same_random_state():
    model = Net(dropout=0.5)
    x, y = data(64)
    opt = WalkerSGD(model.parameters(), lrs=[1e-30, 2e-30, 3e-30], forward_only=True)

    def closure():
        opt.zero_grad()
        loss = model(x, y)
        if torch.is_grad_enabled():
            loss.backward()
        return loss

    opt.step(closure)
    opt.step(closure)
    assert len(set(opt.last.losses)) == 1


def test_closure_mode_refuses_gradients_accumulated_before_it():
    model = Net()
    x, y = data(64)
    opt = WalkerSGD(model.parameters())
    model(x, y).backward()  # a micro-batch accumulated outside the step

    def closure():
        loss = model(x, y)
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match="accumulate_grad_batches"):
        opt.step(closure)


def test_attached_mode_walks_along_the_accumulated_gradient():
    model = Net()
    opt = WalkerSGD(model.parameters(), lrs="0.1,0.3", model=model)
    stream = batches(8, size=16)
    for _ in range(4):
        for _ in range(2):  # two micro-batches a step: the first forward takes the winner
            xb, yb = next(stream)
            (model(xb, yb) / 2).backward()
        held = [p.grad.clone() for p in model.parameters()]
        opt.step()
        assert all(torch.equal(h, opt.state[p]["walker_grad"])
                   for h, p in zip(held, model.parameters(), strict=True))  # fmt: skip
        opt.zero_grad()
    assert opt.last.step == 3


def test_a_step_with_no_forward_since_the_last_one_says_why():
    model = Net()
    opt = WalkerSGD(model.parameters(), model=model)
    xb, yb = data(16)
    model(xb, yb).backward()
    opt.step()
    with pytest.raises(RuntimeError, match="no training forward"):
        opt.step()


@pytest.mark.parametrize("kwargs", [{}, {"grid": "adaptive"}, {"stay": True, "grid": "adaptive"},
                                    {"direction": "adam"}])  # fmt: skip
def test_state_dict_round_trip_in_the_attached_mode(kwargs):
    model = Net()
    opt = WalkerSGD(model.parameters(), lrs="0.05,0.2,0.8", model=model, **kwargs)
    stream = list(batches(10))

    def run(opt, model, part):
        out = []
        for xb, yb in part:
            model(xb, yb).backward()
            opt.step()
            opt.zero_grad()
            out.append((opt.last.winner, opt.last.rates, opt.last.losses) if opt.last else None)
        return out

    run(opt, model, stream[:5])
    saved = copy.deepcopy(opt.state_dict()), copy.deepcopy(model.state_dict())
    after = run(opt, model, stream[5:])
    model2 = Net()
    model2.load_state_dict(saved[1])
    opt2 = WalkerSGD(model2.parameters(), lrs="0.05,0.2,0.8", model=model2, **kwargs)
    opt2.load_state_dict(saved[0])
    again = run(opt2, model2, stream[5:])
    for a, b in zip(after, again, strict=True):
        assert a[0] == b[0] and a[1] == pytest.approx(b[1])
        assert a[2] == pytest.approx(b[2], rel=1e-5)


def test_the_attached_mode_records_one_row_a_decision(tmp_path):
    model = Net()
    path = tmp_path / "run.csv"
    with WalkerSGD(model.parameters(), lrs="0.1,0.3,1", model=model, record=path) as opt:
        train_attached(opt, model, 6)
        opt.log(accuracy=0.5)
    recording, cfg = load_replay(path)
    assert [r.epoch for r in recording.rows] == [1, 2, 3, 4, 5]
    assert all(r.weights.shape == (2, 3) for r in recording.rows)


def test_the_edge_warning_names_the_edge_and_what_to_pass():
    x = torch.linspace(-1, 1, 64)[:, None]
    y = 3 * x[:, 0] + 1
    model = nn.Linear(1, 1)
    opt = WalkerSGD(model.parameters(), lrs="log:1e-5:1e-3:5")  # far too small

    def closure():
        opt.zero_grad()
        loss = ((model(x)[:, 0] - y) ** 2).mean()
        loss.backward()
        return loss

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(40):
            opt.step(closure)
    edge = [w for w in caught if "outside the grid" in str(w.message)]
    assert len(edge) == 1  # once
    text = str(edge[0].message)
    assert "largest rate" in text and "lrs='log:0.0001:0.01:5'" in text
    assert edge[0].filename == __file__  # at the user's line
    assert math.isfinite(opt.last.loss)


def test_options_of_the_attached_mode_without_a_model_are_one_error():
    params = list(nn.Linear(2, 1).parameters())
    with pytest.raises(ValueError, match="model="):
        WalkerSGD(params, loss_fn=nn.functional.mse_loss)
    with pytest.raises(ValueError, match="model="):
        WalkerSGD(params, vmap=False)
    with pytest.raises(ValueError, match="not the model's"):
        WalkerSGD(params, model=nn.Linear(2, 1))


def test_a_group_option_walkersgd_would_not_use_is_one_error():
    a, b = nn.Linear(2, 1), nn.Linear(2, 1)
    with pytest.raises(ValueError, match="weight_decay"):
        WalkerSGD([{"params": a.parameters(), "weight_decay": 0.01}, {"params": b.parameters()}])
