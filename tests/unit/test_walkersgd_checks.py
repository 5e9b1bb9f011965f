"""WalkerSGD's checks on what the loop hands it: a closure that runs no backward or returns no
loss, groups with different lr, a model= that is not a module, a list grid with nan, an
attached model left in eval mode; and opt.flush() (attached: the pending step taken now)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from walker_tui import WalkerSGD


def _data():
    torch.manual_seed(0)
    x = torch.randn(256, 4)
    return x, x.sum(1, keepdim=True)


def test_a_closure_that_runs_no_backward_is_one_error_and_trains_nothing():
    x, y = _data()
    m = torch.nn.Linear(4, 1)
    before = [p.detach().clone() for p in m.parameters()]
    opt = WalkerSGD(m.parameters(), lrs="log:0.01:1:5")
    with pytest.raises(RuntimeError, match=r"ran no backward.*loss\.backward\(\)"):
        opt.step(lambda: F.mse_loss(m(x), y))
    assert opt.last is None
    assert all(torch.equal(a, b) for a, b in zip(before, m.parameters(), strict=True))


def test_forward_only_candidates_and_unused_parameters_need_no_gradient():
    x, y = _data()
    m = torch.nn.Linear(4, 1)
    unused = torch.nn.Parameter(torch.ones(3))  # never in the loss: never a gradient
    opt = WalkerSGD([*m.parameters(), unused], lrs="log:0.01:1:5", forward_only=True)

    def closure():
        opt.zero_grad()
        loss = F.mse_loss(m(x), y)
        if torch.is_grad_enabled():
            loss.backward()
        return loss

    with torch.no_grad():
        first = float(closure())
    for _ in range(3):
        opt.step(closure)
    with torch.no_grad():
        assert opt.last.moved and float(closure()) < first


def test_a_closure_that_returns_nothing_says_it_must_return_the_loss():
    x, y = _data()
    m = torch.nn.Linear(4, 1)
    opt = WalkerSGD(m.parameters(), lrs="log:0.01:1:5")

    def closure():
        opt.zero_grad()
        F.mse_loss(m(x), y).backward()  # forgot `return loss`

    with pytest.raises(TypeError, match=r"must return the loss \(a scalar tensor or a number\)"):
        opt.step(closure)
    m.zero_grad(set_to_none=True)
    fwd = WalkerSGD(m.parameters(), lrs="log:0.01:1:5", forward_only=True)
    with pytest.raises(TypeError, match="must return the loss"):
        fwd.step(closure)


def test_groups_with_different_lr_are_refused_at_construction_and_in_add_param_group():
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    one_lr = "every parameter group shares one lr"
    with pytest.raises(ValueError, match=rf"{one_lr}.*got \[0\.5, 1\.0\]"):
        WalkerSGD([{"params": a.parameters(), "lr": 0.5}, {"params": b.parameters()}], lrs=[0.1])
    opt = WalkerSGD(a.parameters(), lrs=[0.1])
    with pytest.raises(ValueError, match=one_lr):
        opt.add_param_group({"params": b.parameters(), "lr": 0.5})
    assert len(opt.param_groups) == 1
    opt.add_param_group({"params": b.parameters()})  # (the same lr: accepted)
    both = WalkerSGD([{"params": a.parameters(), "lr": 0.5}, {"params": b.parameters(), "lr": 0.5}])
    sched = torch.optim.lr_scheduler.StepLR(both, 1, 0.5)  # sets every group's lr alike
    x = torch.randn(8, 2)

    def closure():
        both.zero_grad()
        loss = (a(x).sum() + b(x).sum()) ** 2
        loss.backward()
        return loss

    for _ in range(2):
        both.step(closure)
        sched.step()
    assert {g["lr"] for g in both.param_groups} == {0.125} and both.last.step == 2


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 1)

    def forward(self, x, y):
        return F.mse_loss(self.lin(x), y)


def test_log_after_the_first_attached_step_explains_the_timing():
    x, y = _data()
    m = _Net()
    opt = WalkerSGD(m.parameters(), lrs="log:0.01:1:5", model=m)
    with pytest.raises(RuntimeError, match=r"no step yet"):
        opt.log(acc=0.5)
    m(x, y).backward()
    opt.step()
    assert opt.last is None
    with pytest.raises(RuntimeError, match=r"attached, the first step\(\) holds the gradient.*"
                       r"next training forward, and log\(\) adds to that step's row"):  # fmt: skip
        opt.log(acc=0.5)
    opt.zero_grad()
    m(x, y).backward()  # the walk's first step, taken at this forward
    opt.step()
    opt.log(acc=0.5)
    assert opt.last.step == 1 and opt.last.metrics == {"acc": 0.5}


def _adam_pair(steps: int):
    x, y = _data()
    torch.manual_seed(1)
    m = _Net()
    ref = _Net()
    ref.load_state_dict(m.state_dict())
    opt = WalkerSGD(m.parameters(), lrs=[0.01], direction="adam", model=m)
    adam = torch.optim.Adam(ref.parameters(), lr=0.01)
    for i in range(steps):
        xb, yb = x[i * 32 : (i + 1) * 32], y[i * 32 : (i + 1) * 32]
        m(xb, yb).backward()
        opt.step()
        opt.zero_grad()
        ref(xb, yb).backward()
        adam.step()
        adam.zero_grad()
    return x, y, m, ref, opt


def _gap(a: torch.nn.Module, b: torch.nn.Module) -> float:
    pairs = zip(a.parameters(), b.parameters(), strict=True)
    return max(float((p - q).detach().abs().max()) for p, q in pairs)


def test_flush_takes_the_pending_attached_step_once():
    x, y, m, ref, opt = _adam_pair(5)
    assert _gap(m, ref) > 1e-4  # the 5th step() is pending: Adam after 4
    assert opt.last.step == 4
    assert opt.flush() is True
    assert _gap(m, ref) < 1e-6  # now Adam after 5
    assert opt.last.step == 5 and not opt.last.scored and opt.last.lr == pytest.approx(0.01)
    assert opt.flush() is False  # nothing pending
    after = [p.detach().clone() for p in m.parameters()]
    opt.zero_grad()
    m(x[:32], y[:32]).backward()  # a training forward after flush takes no step
    assert all(torch.equal(a, b) for a, b in zip(after, m.parameters(), strict=True))
    assert opt.last.step == 5
    opt.step()  # and training goes on from there
    m(x[32:64], y[32:64])
    assert opt.last.step == 6


def test_flush_at_the_last_winning_rate_and_where_it_has_none():
    x, y = _data()
    m = _Net()
    opt = WalkerSGD(m.parameters(), lrs="log:0.01:1:5", model=m)
    assert opt.flush() is False  # nothing pending
    m(x, y).backward()
    opt.step()
    assert opt.flush() is False  # the first step(): no winner yet; it stays pending
    for _ in range(3):
        opt.zero_grad()
        m(x, y).backward()
        opt.step()
    won = opt.last.lr
    w = [p.detach().clone() for p in m.parameters()]
    g = [p.grad.detach().clone() for p in m.parameters()]
    assert opt.flush() is True
    assert opt.last.step == 4 and not opt.last.scored and opt.last.lr == won
    for p, wp, gp in zip(m.parameters(), w, g, strict=True):
        torch.testing.assert_close(p.detach(), wp - won * gp)
    closure_mode = WalkerSGD(torch.nn.Linear(2, 1).parameters(), lrs=[0.1])
    assert closure_mode.flush() is False


def test_flush_is_recorded_as_a_step_that_did_not_score(tmp_path):
    from walker_tui.viewmodel.replay import load_replay

    x, y = _data()
    m = _Net()
    path = tmp_path / "run.csv"
    with WalkerSGD(m.parameters(), lrs="log:0.01:1:5", model=m, record=path) as opt:
        for _ in range(3):
            opt.zero_grad()
            m(x, y).backward()
            opt.step()
        assert opt.flush()
    recording, _ = load_replay(path)
    assert len(recording.rows) == 3  # steps 1, 2 (scored at forwards) and 3 (flushed)
    assert recording.rows[-1].lr == pytest.approx(opt.last.lr) and opt.last.step == 3


def test_a_model_that_is_not_a_module_is_a_type_error_at_construction():
    p = [torch.nn.Parameter(torch.ones(2))]
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module.*got a function"):
        WalkerSGD(p, model=lambda x: x)
    opt = WalkerSGD(p, lrs=[0.1])
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        opt.attach(object())


@pytest.mark.parametrize("how", ["eval", "no_grad", "other"])
def test_an_unscored_attached_step_says_why(how):
    x, y = _data()
    m = _Net()
    other = _Net()
    opt = WalkerSGD(m.parameters(), lrs="log:0.01:1:5", model=m)
    if how == "eval":
        m.eval()  # left in eval mode (after a validation pass)
    m(x, y).backward()
    opt.step()  # the first: only holds the gradient
    opt.zero_grad()
    if how == "no_grad":
        with torch.no_grad():
            m(x, y)
        loss = (m.lin(x) - y).pow(2).mean()  # (a backward that is not the attached forward's)
    elif how == "other":
        loss = other(x, y) + m.lin.weight.sum()  # the forward is another module's
    else:
        loss = m(x, y)
    loss.backward()
    words = {
        "eval": r"attached model is in eval mode.*call model\.train\(\) before training forwards",
        "no_grad": r"ran with grad disabled",
        "other": r"attach the module whose forward the loop calls",
    }[how]
    with pytest.raises(RuntimeError, match=words):
        opt.step()


def test_the_forward_only_warning_lands_on_the_users_line_past_a_frameworks_frames():
    x, y = _data()
    m = torch.nn.Linear(4, 1)
    opt = WalkerSGD(m.parameters(), lrs="log:0.01:1:5", forward_only=True)

    def closure():  # as Lightning's: grad on, backward always
        with torch.enable_grad():
            opt.zero_grad()
            loss = F.mse_loss(m(x), y)
            loss.backward()
        return loss

    framework = {"__name__": "lightning.pytorch.plugins.precision.fake"}
    code = "def optimizer_step(opt, closure):\n    return opt.step(closure)\n"
    exec(compile(code, "/site-packages/lightning/pytorch/fake.py", "exec"), framework)
    with pytest.warns(UserWarning, match="forward_only=True. cannot take effect") as seen:
        framework["optimizer_step"](opt, closure)
    assert [w.filename for w in seen] == [__file__]


@pytest.mark.parametrize(
    "name,text,why",
    [
        ("junk.csv", "hello\n", "its first line, 'hello', is not a walker-tui head"),
        ("empty.csv", "", "it is empty"),
        ("cut.csv", "# walker-tui record; options: {}\n", "it was cut in its head"),
        ("junk.npz.part", "hello\n", "its first line is not a walker-tui record stream's head"),
    ],
)
def test_a_file_that_is_not_a_recording_is_named_and_said_so_once(tmp_path, name, text, why):
    from walker_tui.viewmodel.replay import ReplayError, load_replay

    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ReplayError) as error:
        load_replay(tmp_path / name.removesuffix(".part"))
    message = str(error.value)
    assert message.startswith(f"{str(path)!r} is not a walker-tui recording: {why}")
    assert message.count(str(path)) == 1  # (it named the file twice, saying it twice)


def test_flush_along_adam_takes_no_step_after_a_scoring_that_diverged():
    """Along adam, as along sgd and momentum: a last scoring whose candidates all diverged
    (the walk stayed put) leaves flush nothing to repeat; it stepped at the winners' mean."""
    torch.manual_seed(0)
    x, y = torch.randn(64, 4), torch.randn(64, 1) * 0.1

    class Exp(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 1)

        def forward(self, xb, yb):
            return torch.exp(((self.lin(xb) - yb) ** 2).mean())

    for direction in ("adam", "sgd", "momentum"):
        torch.manual_seed(3)
        model = Exp()
        opt = WalkerSGD(model.parameters(), model=model, direction=direction, lrs="log:0.001:0.1:5")
        for i in range(1, 6):
            model(x[i * 8 : (i + 1) * 8], y[i * 8 : (i + 1) * 8]).backward()
            opt.step()
            opt.zero_grad()
        model(x[48:56], torch.full((8, 1), 1e3))  # every candidate's loss inf: stays put
        assert opt.last.diverged and not opt.last.moved, direction
        model(x[:8], y[:8]).backward()
        opt.step()
        opt.zero_grad()
        before = [p.detach().clone() for p in model.parameters()]
        assert opt.flush() is False, direction
        assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_a_walk_over_frozen_parameters_says_they_are_frozen():
    """Every parameter frozen after WalkerSGD was made: the closure does call backward, so 'the
    closure ran no backward' was the wrong advice."""
    model = nn.Linear(4, 1)
    opt = WalkerSGD(model.parameters(), lrs="log:0.01:1:5")
    head = nn.Linear(4, 1)  # (the loss still needs a backward: a trainable head)
    model.requires_grad_(False)
    x = torch.randn(8, 4)

    def closure():
        opt.zero_grad()
        loss = (model(x) + head(x)).pow(2).mean()
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match="requires_grad False"):
        opt.step(closure)
