import torch

from walker_tui.core.grid import parse_lrs
from walker_tui.core.problems.base import Problem
from walker_tui.core.problems.regression import LinearProblem
from walker_tui.core.trainers.loop import run
from walker_tui.core.trainers.racers import Stepper
from walker_tui.core.trainers.walker import Walker


def winners(trainer, **kw):
    rows = []
    outcome = run(trainer, on_epoch=lambda r: rows.append((r.epoch, r.lr, round(r.loss, 6))), **kw)
    return rows, outcome


def test_huge_rate_never_wins_and_changes_nothing():
    p = LinearProblem()
    base, _ = winners(Walker(p, [0.1, 0.5, 0.9]))
    wild, _ = winners(Walker(p, [0.1, 0.5, 0.9, 1e30]))
    assert base == wild


def test_tie_goes_to_the_first_rate_at_epoch_1():
    p = LinearProblem()
    rec = Walker(p, [0.9, 0.1, 0.5]).step()
    assert rec.epoch == 1 and int(rec.winner) == 0
    assert torch.equal(rec.losses, rec.losses[0].expand(3))


class Bowl(Problem):
    """L(w) = |w|^2 with losses set to nan or inf at chosen candidate indices, to test masking."""

    def __init__(self, poison: dict[int, float]):
        self.device = torch.device("cpu")
        self.w0 = torch.tensor([1.0, 1.0])
        self.poison = poison

    def losses(self, W):
        out = (W * W).sum(0)
        if W.shape[1] == 1:  # the winner's own evaluation stays clean
            return out
        for j, v in self.poison.items():
            if j < out.shape[0]:
                out = out.clone()
                out[j] = v
        return out


def test_nan_candidate_never_wins_even_first():
    # torch.argmin returns the index of the first nan: the walker must not.
    rec = None
    w = Walker(Bowl({0: float("nan"), 2: float("inf")}), [0.1, 0.25, 0.5])
    w.step()
    rec = w.step()
    assert int(rec.winner) == 1  # the only finite candidate
    assert torch.isnan(rec.losses[0]) and torch.isinf(rec.losses[2])


def test_all_nonfinite_is_diverged():
    w = Walker(Bowl({0: float("nan"), 1: float("inf")}), [0.1, 0.2])
    rows, outcome = winners(w)
    assert outcome.state == "diverged" and outcome.epochs == 2


def test_stepper_with_wild_rate_diverges():
    p = LinearProblem()
    rows, outcome = winners(Stepper(p, 1e30))
    assert outcome.state == "diverged"
    assert outcome.epochs < 10


def test_epoch_limit_and_min_loss_zero():
    p = LinearProblem()
    _, outcome = winners(Walker(p, parse_lrs("0.1:1:0.1")), epochs=40, min_loss=0)
    assert outcome.state == "limit" and outcome.epochs == 40


def test_walker_reaches_the_least_squares_minimum():
    p = LinearProblem()
    w = Walker(p, parse_lrs("0.1:1:0.1"))
    run(w, epochs=300, min_loss=0)
    assert torch.allclose(w.w.double(), p.minimum(), atol=1e-3)


def test_closed_form_candidates_match_direct_evaluation():
    p = LinearProblem(n=1000, seed=3)
    loss, grad = p.loss_grad(p.w0)
    lrs = torch.tensor(parse_lrs("0.1:1:0.1"))
    quad = loss.double() + p.line_deltas(grad, lrs)
    direct = p.losses(p.w0[:, None] - grad[:, None] * lrs[None, :])
    assert torch.allclose(quad.float(), direct, rtol=1e-4)


# devices (resolve_device, the same walk on every device): test_devices.py


def test_session_batches_stop_at_the_same_epoch_as_single_steps():
    """The GPU path (several epochs between host transfers) ends each racer where it should."""
    from walker_tui.config import Config
    from walker_tui.viewmodel.session import Session

    cfg = Config(device="cpu", race=[0.3, 0.7])
    single, batched = Session(cfg, 17, race=True), Session(cfg, 17, race=True)
    a = []
    while not single.finished:
        a.append(single.step())
    b = []
    while not batched.finished:
        b.extend(batched.advance(16))
    key = lambda frames: [{n: (r.epoch, r.winner, r.loss) for n, r in f.items()} for f in frames]  # noqa: E731
    assert key(a) == key(b)
    assert {n: o.epochs for n, o in batched.outcomes.items()} == {
        n: o.epochs for n, o in single.outcomes.items()
    }
    # the notebook's facts: walker 11 epochs, stepper 0.3 30 epochs
    assert batched.outcomes["walker"].epochs == 11
    assert batched.outcomes["stepper 0.3"].epochs == 30
