"""The trainers: the walker (a grid of learning rates tried at once) and the stepper (plain SGD).

Pure torch, no UI imports. One ``step()`` is one epoch and returns an :class:`Epoch` whose tensors
stay on the device; :func:`to_host` turns a batch of them into plain numbers with one transfer.
"""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
import torch

import walker_tui.core.directions as directions
from walker_tui.catalog import RACER_NAMES, walker_lrs, walker_name
from walker_tui.config import Config
from walker_tui.core.adaptive import next_grid
from walker_tui.core.grid import parse_lrs
from walker_tui.core.problems.base import Problem
from walker_tui.core.ranking import at, host64, pick_winner, rate_order, rounding_slack


@dataclass
class Epoch:
    """One epoch's record: the k candidates tried, their losses and the winner (device tensors)."""

    epoch: int
    weights: torch.Tensor  # d x k candidate weight vectors
    losses: torch.Tensor  # k candidate losses (the winner's is its exact loss)
    winner: torch.Tensor  # 0-d index of the winner; meaningless when no loss is finite
    loss: torch.Tensor  # 0-d: the winner's loss, the number the notebook printed
    finite: torch.Tensor  # 0-d bool: did any candidate have a finite loss?
    rates: torch.Tensor  # the k rates tried this epoch (they move with --grid adaptive)
    moved: torch.Tensor  # 0-d bool: did the walk take the winner's step (adaptive may stay put)
    w: torch.Tensor  # d: the weights the trainer holds after the epoch (where it walks on from)
    evals: int = 0  # loss evaluations so far, counted as they happened (the trainer's count)
    metrics: dict[str, torch.Tensor] | None = None  # 0-d: a model's held-out loss, accuracy


@dataclass
class HostEpoch:
    """An :class:`Epoch` on the host, as plain numbers."""

    epoch: int
    weights: np.ndarray
    losses: np.ndarray
    winner: int
    lr: float  # the rate of the step taken (0.0 when the walk stayed put)
    loss: float  # the loss held after the epoch, where the trainer walks on from
    diverged: bool
    rates: np.ndarray
    moved: bool = True
    w: np.ndarray | None = None  # the weights held after the epoch (None: the winner's)
    evals: int = 0  # loss evaluations so far, as the trainer counted them
    seconds: float = 0.0  # wall time spent training so far (filled in by the Session)
    metrics: dict[str, float] | None = None  # a model's held-out loss and accuracy

    @property
    def position(self) -> np.ndarray:
        """Where the trainer stands after the epoch: the winner, unless an adaptive walk stayed
        put because every candidate raised its loss."""
        return self.weights[:, self.winner] if self.w is None else self.w


class Trainer(Protocol):
    """What a Session, ``advance`` and ``run`` need of a trainer: the walker and every racer.

    A reset to a past epoch is ``load_state_dict`` of the state saved there: it brings back
    everything ``step`` reads (the walker's grid, momentum's velocity, Adam's moments), so the
    epochs that follow are the ones that followed before. ``reset()`` is the start: w0, epoch 0.
    """

    kind: str
    problem: Problem
    epoch: int  # epochs taken
    rates: list[float]  # the rates it starts with (the walker's grid; a racer's one rate)
    # loss evaluations so far, counted as they happen (a line search spends a varying number an
    # epoch): what a fair race counts; part of state_dict, so a rewind brings it back too
    evaluations: int

    @property
    def fixed_rates(self) -> list[float] | None:
        """The rates every epoch tries, when they never change (None: read them back each time)."""
        ...

    def step(self) -> Epoch:
        """Run one epoch and return its record (device tensors)."""
        ...

    def reset(self) -> None:
        """Back to the start: w0 at epoch 0, with no state carried over."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything ``step`` reads, copied: load it later to go back to this epoch."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Go back to the epoch a ``state_dict`` was taken at."""
        ...


def _start(problem: Problem, w0: torch.Tensor | None) -> torch.Tensor:
    start = problem.w0 if w0 is None else w0
    return start.to(device=problem.device, dtype=torch.float32).clone()


def _restart(trainer: Any) -> None:
    """What every trainer's reset shares: w0 at epoch 0, nothing evaluated, no gradient yet."""
    trainer.epoch = 0
    trainer.evaluations = 0
    trainer.w = trainer.w0.clone()
    trainer.grad = None
    trainer.loss = None


def _copied(state: dict[str, Any]) -> dict[str, Any]:
    """A copy of a state whose tensors are cloned (on their device: no sync)."""
    return {
        k: v.clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v) for k, v in state.items()
    }


class Walker:
    """Walker SGD: every epoch try all rates from the same weights and keep the best candidate.

    The candidates of an epoch are ``w - lr_j * u`` for the previous winner ``w`` and the update
    direction ``u`` its gradient ``g`` gives (``direction``, walker_tui.core.directions: ``u = g``
    for sgd, heavy ball's velocity for momentum, Adam's step for adam, with their state in
    ``state_dict``); at epoch 1 they are all ``w0``, and the tie goes to the first rate. A
    candidate whose loss is nan or inf never wins.
    """

    kind = "walker"

    def __init__(
        self,
        problem: Problem,
        lrs: Sequence[float],
        w0: torch.Tensor | None = None,
        stay: bool = False,
        adaptive: bool = False,
        direction: str = "sgd",
    ):
        self.problem = problem
        self.grid = [float(r) for r in lrs]  # the rates the walk starts with
        self.stay = stay  # a zero-rate candidate (keep w) is tried last
        self.adaptive = adaptive
        directions.fresh(direction, torch.zeros(1))  # (an unknown name: ValueError here)
        self.direction = direction
        self.name = walker_name(direction)
        self.slack_error = problem.rank_error()  # ties within the loss's rounding (pick_winner)
        self.rates = self.grid + ([0.0] if stay else [])
        self.w0 = _start(problem, w0)
        self.span0 = _log_span(self.grid)
        self.reset()

    @property
    def k(self) -> int:
        return len(self.rates)

    @property
    def evals_per_epoch(self) -> int:
        return self.k

    @property
    def fixed_rates(self) -> list[float] | None:
        return None if self.adaptive else self.rates

    def reset(self) -> None:
        _restart(self)
        device = self.problem.device
        self.lrs = torch.tensor(self.rates, dtype=torch.float32, device=device)
        self.span = torch.tensor(self.span0, dtype=torch.float32, device=device)
        self.along = directions.fresh(self.direction, self.w)  # the direction's own state

    def state_dict(self) -> dict[str, Any]:
        names = ("epoch", "evaluations", "w", "grad", "loss", "lrs", "span")
        state = _copied({name: getattr(self, name) for name in names})
        state["along"] = {key: value.clone() for key, value in self.along.items()}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, value in _copied(state).items():
            setattr(self, name, value)

    def _rate_order(self) -> torch.Tensor | None:
        """The rates' order for pick_winner (None: ascending), found on the host once per grid:
        a fixed grid keeps its order, an adaptive one is ascending once it has moved (with
        --stay's zero last), so only its first grid, or a zero rate, needs an order at all."""
        if getattr(self, "_order_of", None) is not self.lrs:
            if not self.adaptive or self.epoch <= 1:
                rates = self.rates
            else:  # re-centred: the log grid ascends, then --stay's 0
                rates = sorted(self.grid) + ([0.0] if self.stay else [])
            self._order, self._order_of = rate_order(rates, self.lrs.device), self.lrs
        return self._order

    def _adapt(self, winner: torch.Tensor, moved: torch.Tensor) -> None:
        """--grid adaptive: the next grid by the one rule (walker_tui.core.adaptive), on the device."""
        k = len(self.grid)
        new, self.span = next_grid(self.lrs[:k], self.span, self.span0, winner, ~moved)
        self.lrs = torch.cat([new, self.lrs[k:]])

    def step(self) -> Epoch:
        """Run one epoch and return its record."""
        if self.grad is None:
            # Epoch 1: every candidate is w0, so one evaluation serves them all (exact ties).
            self.loss, self.grad = self.problem.loss_grad(self.w)
            any_finite = torch.ones((), dtype=torch.bool, device=self.w.device)
            weights = self.w[:, None].expand(-1, self.k).clone()
            losses = self.loss.expand(self.k).clone()
            winner = torch.zeros((), dtype=torch.long, device=self.w.device)
        else:
            # the direction's u from the gradient at w, and its state fed with that gradient
            # (kept below only if the walk takes a step: walker_tui.core.directions)
            u, along = directions.propose(self.direction, self.along, self.grad)
            weights = self.w[:, None] - u[:, None] * self.lrs[None, :]
            losses = rank = None
            slack = None
            if self.k > 1 or self.adaptive:  # (an adaptive walk checks even a single rate)
                with torch.no_grad():
                    if self.direction == "sgd":  # (along the gradient: as it always was)
                        rank = self.problem.line_deltas(self.grad, self.lrs)
                    else:
                        rank = self.problem.line_deltas(self.grad, self.lrs, u)
                    if rank is not None:  # ranked by the change from L(w): see pick_winner
                        losses = self.loss.to(rank.dtype) + rank
                        current = 0.0
                    else:
                        losses = rank = self.problem.rank_losses(weights)
                        # differences within the loss sum's rounding are ties (pick_winner)
                        slack = rounding_slack(rank, self.slack_error)
                        current = self.loss.to(rank.dtype)
                        if self.adaptive and self.problem.on_batch:
                            # on a fresh mini-batch the held loss is the last batch's: the
                            # walk compares with w's loss on this one (one more evaluation)
                            current = self.problem.rank_losses(self.w[:, None])[0]
                            self.evaluations += 1
            if rank is None:
                winner = torch.zeros((), dtype=torch.long, device=self.w.device)
                any_finite = torch.ones((), dtype=torch.bool, device=self.w.device)
            else:
                # (losses = current + rank: where a rank is not finite, neither is its loss)
                finite = torch.isfinite(losses)
                any_finite = finite.any()
                ranked = torch.where(finite, rank, torch.inf)
                winner = pick_winner(ranked, self._rate_order(), slack)
            moved = weights.index_select(1, winner.reshape(1))[:, 0]  # (no host sync)
            if self.adaptive:
                # An adaptive walk never takes a step that raises the loss (or has none finite):
                # it stays put and its grid moves down to smaller rates (_adapt).
                any_finite = any_finite & (at(rank, winner) <= current)
                moved = torch.where(any_finite, moved, self.w)
            if self.direction != "sgd":
                # the state fed with this step's gradient is kept where the walk took a step;
                # where it stayed put (adaptive), --stay's zero-rate candidate won or none was
                # finite, the direction restarts (walker_tui.core.directions says why)
                took = any_finite & (winner < len(self.grid)) if self.stay else any_finite
                self.along = directions.settle(self.direction, self.along, along, took)
            self.w = moved.contiguous()  # a strided view would slow every matvec
            self.loss, self.grad = self.problem.loss_grad(self.w)
            # The winner's loss is its exact loss at the new weights (the closed form may differ
            # in the last float32 digit); it is also the loss printed and the stopping test.
            if losses is None:
                losses = self.loss[None].clone()
            elif self.adaptive:  # a walk that stayed put keeps the candidates' losses as they were
                losses = losses.float()
                losses = torch.where(
                    any_finite, losses.index_put((winner[None],), self.loss), losses
                )
            else:
                losses = losses.float().index_put((winner[None],), self.loss)
        self.epoch += 1
        # k an epoch, the first included (the README's convention since the notebook's benchmark)
        self.evaluations += self.k
        if self.adaptive:  # an adaptive walk diverges only when its own loss does
            finite = torch.isfinite(self.loss)
        else:
            finite = any_finite & torch.isfinite(self.loss)
        view = self.problem.view  # (a model's records hold plane coordinates, not weights)
        record = Epoch(
            self.epoch,
            view(weights),
            losses,
            winner,
            self.loss,
            finite,
            self.lrs,
            any_finite,
            view(self.w[:, None])[:, 0],
            self.evaluations,
        )
        if self.adaptive and self.epoch > 1:  # at epoch 1 all candidates tie: nothing to learn
            self._adapt(winner, any_finite)
        return record


def _log_span(rates: Sequence[float]) -> float:
    """Decades covered by a grid (1 for a single rate)."""
    lo, hi = min(rates), max(rates)
    return math.log10(hi / lo) if hi > lo else 1.0


def make_walker(problem: Problem, cfg: Config, w0: torch.Tensor | None = None) -> Trainer:
    """The walker a Config asks for (its grid, --stay, --grid adaptive); on a model problem, in
    mini-batches (:class:`Batched`)."""
    walker = Walker(
        problem,
        cfg.lrs,
        w0,
        stay=cfg.stay,
        adaptive=cfg.grid == "adaptive",
        direction=cfg.direction,
    )
    return Batched(walker) if problem.batched else walker


def make_walker_racer(
    name: str, problem: Problem, cfg: Config, w0: torch.Tensor | None = None
) -> Trainer:
    """A walker that races (``walker:adam`` in --race or --racers): along its own direction, on
    that direction's default grid for the problem (catalog.walker_lrs), with the run's --grid
    and --stay."""
    direction = name.partition(":")[2] or "sgd"
    spec = walker_lrs(cfg.problem, direction)
    own = replace(cfg, direction=direction, lrs=parse_lrs(spec), lrs_spec=spec)
    return make_walker(problem, own, w0)


class Batched:
    """A trainer on a model problem, epoch by epoch: the notebook's loop with a mini-batch in
    place of the full data. Epoch 1 is the start, on all the data (its loss and gradient at w0);
    every later epoch is one pass over the data shuffled by the seed, and each step of it is the
    inner trainer's step on a fresh mini-batch (the walker scores its k candidates on that batch
    and the winner's gradient on that same batch makes the next candidates). An epoch's record
    is its last step's (the candidates' losses on the last batch) with the loss on all the
    training data at the epoch's end, which the curve shows and the target is tested on; that
    evaluation is the display's, not the optimizer's, and is not counted. Without a batch size,
    an epoch is one step on all the data, as the notebook ran it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.problem = inner.problem
        self.kind = inner.kind
        self.rates = inner.rates
        self.epoch = 0

    def __getattr__(self, name: str) -> Any:  # w, grad, k, lrs...: the inner trainer's
        if name == "inner":  # (not set yet: a copy under construction)
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def evaluations(self) -> int:
        return self.inner.evaluations

    @property
    def fixed_rates(self) -> list[float] | None:
        return self.inner.fixed_rates

    def reset(self) -> None:
        self.inner.reset()
        self.epoch = 0

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "inner": self.inner.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = state["epoch"]
        self.inner.load_state_dict(state["inner"])

    def step(self) -> Epoch:
        p: Any = self.problem
        size = p.batch_size
        whole = getattr(self.inner, "full_batch", False)  # (lbfgs: a full-batch method)
        if self.epoch == 0 or not size or size >= p.n or whole:
            p.use_batch(None)
            rec = self.inner.step()
        else:
            for idx in p.batches(size, self.epoch):
                p.use_batch(idx)
                rec = self.inner.step()
            p.use_batch(None)
            loss = p.full_loss(self.inner.w)
            rec = replace(rec, loss=loss, finite=rec.finite & torch.isfinite(loss))
        self.epoch += 1
        return replace(rec, epoch=self.epoch, metrics=p.metrics(self.inner.w))


class Racer:
    """A one-candidate optimizer that races the walker: epoch 1 reports the start, each later
    epoch takes one ``update`` from the current weights and reports the loss where it lands
    (the notebook's stepper convention, so curves line up epoch for epoch). Subclasses keep
    their own state (a velocity, moments) in ``self.state``: ``reset`` clears it, ``state_dict``
    saves it with the weights. Every loss evaluation goes through :meth:`loss_grad` or
    :meth:`losses`, which count it in ``evaluations``."""

    kind = "racer"

    def __init__(self, problem: Problem, lr: float, w0: torch.Tensor | None = None):
        self.problem = problem
        self.rates = [float(lr)]
        self.w0 = _start(problem, w0)
        self.lr = torch.tensor(self.rates, dtype=torch.float32, device=problem.device)
        self.reset()

    @property
    def fixed_rates(self) -> list[float] | None:
        return self.rates

    def reset(self) -> None:
        _restart(self)
        self.state: dict[str, Any] = {}

    def state_dict(self) -> dict[str, Any]:
        own = {"epoch": self.epoch, "w": self.w, "grad": self.grad, "loss": self.loss}
        own["evaluations"] = self.evaluations
        return _copied(own) | {"state": self.save_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in ("epoch", "evaluations", "w", "grad", "loss"):
            value = state[name]
            setattr(self, name, value.clone() if isinstance(value, torch.Tensor) else value)
        self.load_state(state["state"])

    def save_state(self) -> dict[str, Any]:
        """A copy of ``self.state`` (tensors cloned)."""
        return _copied(self.state)

    def load_state(self, saved: dict[str, Any]) -> None:
        self.state = _copied(saved)

    def loss_grad(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The problem's loss and gradient at ``w``: one evaluation, counted."""
        self.evaluations += 1
        return self.problem.loss_grad(w)

    def losses(self, W: torch.Tensor) -> torch.Tensor:
        """The problem's losses of the k columns of ``W``: k evaluations, counted."""
        self.evaluations += W.shape[1]
        return self.problem.losses(W)

    def update(self, w: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """The weights after one step from ``w`` with gradient ``grad``."""
        raise NotImplementedError

    def move(self) -> None:
        """One epoch's step from ``self.w``: the new weights, their loss and gradient."""
        self.w = self.update(self.w, self.grad).contiguous()
        self.loss, self.grad = self.loss_grad(self.w)

    def taken(self) -> torch.Tensor:
        """The rate of the step just taken, as a 1-vector on the device (the racer's own rate;
        the exact line search reports the step it chose)."""
        return self.lr

    def step(self) -> Epoch:
        if self.grad is None:  # epoch 1: the start, no step yet
            self.loss, self.grad = self.loss_grad(self.w)
        else:
            self.move()
        self.epoch += 1
        finite = torch.isfinite(self.loss)
        zero = torch.zeros((), dtype=torch.long, device=self.w.device)
        took = torch.ones((), dtype=torch.bool, device=self.w.device)  # a racer always steps
        held = self.problem.view(self.w[:, None])
        return Epoch(
            self.epoch,
            held.clone(),
            self.loss[None].clone(),
            zero,
            self.loss,
            finite,
            self.taken(),
            took,
            held[:, 0],
            self.evaluations,
        )


class Stepper(Racer):
    """Vanilla SGD with one rate (the notebook's "stepper"): w = w - lr g."""

    kind = "stepper"

    def update(self, w: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        return w - grad * self.lr[0]  # (the walker's candidate arithmetic: the same floats)


class Momentum(Racer):
    """Heavy-ball SGD (Polyak 1964): v = mu v + g, w = w - lr v, mu = 0.9."""

    kind = "momentum"
    mu = 0.9

    def update(self, w: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        v = self.state.get("v")
        v = grad.clone() if v is None else self.mu * v + grad
        self.state["v"] = v
        return w - self.lr[0] * v


class Adam(Racer):
    """Adam (Kingma and Ba 2015) as torch.optim.Adam implements it, with its default betas."""

    kind = "adam"

    def reset(self) -> None:
        super().reset()
        self.param = torch.nn.Parameter(self.w.clone())
        self.opt = torch.optim.Adam([self.param], lr=self.rates[0])

    def save_state(self) -> dict[str, Any]:
        return {"param": self.param.detach().clone(), "opt": copy.deepcopy(self.opt.state_dict())}

    def load_state(self, saved: dict[str, Any]) -> None:
        with torch.no_grad():
            self.param.copy_(saved["param"])
        self.opt.load_state_dict(copy.deepcopy(saved["opt"]))  # (its moments and step count)

    def update(self, w: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        self.param.grad = grad.clone()
        self.opt.step()
        return self.param.detach().clone()


class Exact(Racer):
    """Steepest descent with an exact line search: the step a* = argmin_a L(w - a g), in closed
    form where the loss is quadratic (least squares, the quadratic bowl). The best any greedy
    one-step choice of rate can do; its rate argument is ignored."""

    kind = "exact"  # two evaluations an epoch after the first: the gradient, the curvature

    @property
    def fixed_rates(self) -> list[float] | None:
        return None  # the step changes every epoch: read back what it took

    def reset(self) -> None:
        super().reset()
        # no rate of its own: epoch 1 takes no step (0), each later one the step it chose
        self.state["taken"] = torch.zeros(1, device=self.problem.device)

    def update(self, w: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        self.state["taken"] = self.problem.exact_step(grad).reshape(1)
        self.evaluations += 1  # the curvature along the gradient (a pass over the data)
        return w - self.state["taken"] * grad

    def taken(self) -> torch.Tensor:
        return self.state["taken"]


class LBFGS(Racer):
    """L-BFGS with the strong Wolfe line search, as ``torch.optim.LBFGS(line_search_fn=
    "strong_wolfe")`` implements it, at torch's defaults (lr 1, max_iter 20, history 100). One
    epoch is one optimizer ``step``: up to 20 inner iterations, each with as many loss
    evaluations as its line search takes, all counted. A full-batch method (each evaluation
    sees all the data). An evaluation at the point just evaluated is served from the last one
    and not counted: it costs nothing."""

    kind = "lbfgs"
    full_batch = True  # on mini-batches (engine.Batched) it still takes its step on all the data

    def reset(self) -> None:
        super().reset()
        self.param = torch.nn.Parameter(self.w.clone())
        self.opt = torch.optim.LBFGS([self.param], lr=self.rates[0], line_search_fn="strong_wolfe")

    def save_state(self) -> dict[str, Any]:
        return {"opt": copy.deepcopy(self.opt.state_dict())}  # its history, directions, counts

    def load_state(self, saved: dict[str, Any]) -> None:
        self.opt.load_state_dict(copy.deepcopy(saved["opt"]))

    def move(self) -> None:
        last = [self.w, self.loss, self.grad]  # the last point evaluated, its loss and gradient

        def evaluate(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            if not torch.equal(w, last[0]):
                last[:] = [w.clone(), *self.loss_grad(w)]
            return last[1], last[2]

        def closure() -> torch.Tensor:
            loss, grad = evaluate(self.param.detach())
            self.param.grad = grad.clone()
            return loss

        with torch.no_grad():
            self.param.copy_(self.w)
        self.opt.step(closure)
        self.w = self.param.detach().clone().contiguous()
        self.loss, self.grad = evaluate(self.w)


class Armijo(Racer):
    """Gradient descent with Armijo's backtracking line search (Armijo 1966): each epoch starts
    from the step ``a0`` (its rate, 1 by default) and halves it (beta = 0.5) until
    ``L(w - a g) <= L(w) - c a |g|^2`` with c = 1e-4, the usual constants (Nocedal and Wright,
    Numerical Optimization, 2nd ed., sec. 3.1); after 30 halvings with none accepted it stays
    put. Each trial is one loss evaluation, and the accepted point's gradient one more."""

    kind = "armijo"
    beta = 0.5
    c = 1e-4
    halvings = 30

    @property
    def fixed_rates(self) -> list[float] | None:
        return None  # the step changes every epoch: read back what it took

    def reset(self) -> None:
        super().reset()
        self.state["taken"] = torch.zeros(1, device=self.problem.device)  # epoch 1: no step

    def update(self, w: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        if self.problem.on_batch:
            # on a mini-batch, as in Vaswani et al. 2019 ("Painless Stochastic Gradient", SLS):
            # the loss and the gradient at w on this batch (one evaluation), and the trials on
            # it too, with the step reset to a0 every batch
            loss_w, grad = self.loss_grad(w)
            current = float(loss_w)
        else:
            current = float(self.loss)
        slope = float(host64(grad) @ host64(grad))  # |g|^2
        a = self.rates[0]
        for _ in range(self.halvings + 1):
            trial = w - grad * a  # (the stepper's arithmetic)
            loss = float(self.losses(trial[:, None])[0])
            if math.isfinite(loss) and loss <= current - self.c * a * slope:
                self.state["taken"] = torch.full((1,), a, device=w.device)
                return trial
            a *= self.beta
        self.state["taken"] = torch.zeros(1, device=w.device)  # no step accepted: stay put
        return w.clone()

    def taken(self) -> torch.Tensor:
        return self.state["taken"]


class TuningFree(Racer):
    """A tuning-free optimizer from the ``racers`` extra (``pip install "walker-tui[racers]"``),
    at its published defaults: the rate given is its ``lr`` (1 for Prodigy and D-Adaptation, as
    their papers' READMEs say). One epoch is one optimizer step from the weights held, with the
    gradient already evaluated there, then one evaluation (loss and gradient) where it lands:
    one loss evaluation an epoch, counted as it happens, as for the stepper. The package is
    imported here, at the first reset, so the CLI can say the extra is missing before any work."""

    module = ""  # the package's import name
    cls = ""  # the optimizer's class in it

    def make(self, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        import importlib

        return getattr(importlib.import_module(self.module), self.cls)(params, lr=self.rates[0])

    def reset(self) -> None:
        super().reset()
        self.param = torch.nn.Parameter(self.w.clone())
        self.opt = self.make([self.param])

    def save_state(self) -> dict[str, Any]:
        # its moments, its distance estimate d and step counts (some live in the param groups)
        return {"opt": copy.deepcopy(self.opt.state_dict())}

    def load_state(self, saved: dict[str, Any]) -> None:
        self.opt.load_state_dict(copy.deepcopy(saved["opt"]))

    def update(self, w: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            self.param.copy_(w)
        self.param.grad = grad.clone()
        self.opt.step()
        return self.param.detach().clone()


class Prodigy(TuningFree):
    """Prodigy (Mishchenko and Defazio 2023), ``prodigyopt.Prodigy`` at its defaults (lr 1,
    betas (0.9, 0.999), d0 1e-6): Adam whose step size is learned from the distance travelled."""

    kind = "prodigy"
    module, cls = "prodigyopt", "Prodigy"


class DAdapt(TuningFree):
    """D-Adaptation (Defazio and Mishchenko 2023), its SGD variant ``dadaptation.DAdaptSGD`` at
    its defaults (lr 1, no momentum, d0 1e-6): plain gradient steps whose size is the learned
    estimate of the distance to the solution. The SGD variant, so it races the walker (a grid of
    plain gradient steps) on the same footing."""

    kind = "dadapt"
    module, cls = "dadaptation", "DAdaptSGD"


class ScheduleFree(TuningFree):
    """Schedule-Free AdamW (Defazio et al. 2024), ``schedulefree.AdamWScheduleFree`` at its
    defaults (lr 0.0025, betas (0.9, 0.999), no warm-up): the variant its authors recommend, and
    the one whose default rate is scale-free (Adam's per-coordinate normalisation; the SGD
    variant's default lr 1 diverges on Rosenbrock). It is kept in train mode
    (``optimizer.train()`` before every step), where the weights it holds are the point y at
    which it evaluates the gradient; the loss reported is the loss at y, the point it evaluates,
    not at its averaged x (which ``optimizer.eval()`` would swap in and which would cost a
    second evaluation an epoch)."""

    kind = "schedulefree"
    module, cls = "schedulefree", "AdamWScheduleFree"

    def reset(self) -> None:
        super().reset()
        self.opt.train()

    def update(self, w: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        self.opt.train()  # a no-op when already in train mode
        return super().update(w, grad)


RACERS: dict[str, type[Racer]] = {
    cls.kind: cls
    for cls in (Stepper, Momentum, Adam, Exact, LBFGS, Armijo, Prodigy, DAdapt, ScheduleFree)
}
assert tuple(RACERS) == RACER_NAMES  # one list of names: catalog's, which the CLI reads


def make_racer(name: str, problem: Problem, lr: float, w0: torch.Tensor | None = None) -> Trainer:
    """A racer by name: stepper, momentum, adam, exact, lbfgs, armijo, prodigy, dadapt or
    schedulefree (the last three need the racers extra); on a model problem, in mini-batches."""
    racer = RACERS[name](problem, lr, w0)
    return Batched(racer) if problem.batched else racer


def to_host(epochs: Sequence[Epoch], rates: Sequence[float] | None = None) -> list[HostEpoch]:
    """Move a batch of epochs to the host in one transfer per field."""
    if not epochs:
        return []
    weights = torch.stack([e.weights for e in epochs]).cpu().numpy()
    losses = torch.stack([e.losses for e in epochs]).cpu().numpy()
    winners = torch.stack([e.winner for e in epochs]).cpu().numpy()
    loss = torch.stack([e.loss for e in epochs]).cpu().numpy()
    finite = torch.stack([e.finite for e in epochs]).cpu().numpy()
    moved = torch.stack([e.moved for e in epochs]).cpu().numpy()
    held = torch.stack([e.w for e in epochs]).cpu().numpy()
    metrics: list[dict[str, float] | None] = [None] * len(epochs)
    if epochs[0].metrics:
        names = list(epochs[0].metrics)
        values = torch.stack([torch.stack([e.metrics[k] for k in names]) for e in epochs])
        metrics = [dict(zip(names, row, strict=True)) for row in host64(values).tolist()]
    if rates is not None:  # a fixed grid: its exact values, no need to read the copies back
        tried = np.broadcast_to(np.asarray(rates, dtype=np.float64), (len(epochs), len(rates)))
    else:
        tried = torch.stack([e.rates for e in epochs]).cpu().numpy().astype(np.float64)
    return [
        HostEpoch(
            e.epoch,
            weights[i],
            losses[i],
            int(winners[i]),
            float(tried[i][int(winners[i])]) if moved[i] else 0.0,
            float(loss[i]),
            not bool(finite[i]),
            tried[i],
            bool(moved[i]),
            held[i],
            e.evals,
            metrics=metrics[i],
        )
        for i, e in enumerate(epochs)
    ]


@dataclass
class Outcome:
    """How a run ended: ``reached`` (the loss went below the target), ``limit`` (the epoch limit
    came first), ``diverged`` or ``stopped`` (cancelled)."""

    state: str
    epochs: int
    loss: float


def host_batch(device: torch.device) -> int:
    """Epochs between host transfers: every epoch on the CPU (transfers are free), 16 on a GPU
    (one sync per batch, not per epoch)."""
    return 1 if device.type == "cpu" else 16


def stop_outcome(rec: HostEpoch, min_loss: float, epochs: int) -> Outcome | None:
    """The outcome if this epoch ends the run: no finite candidate, the target, or the limit."""
    if rec.diverged:
        return Outcome("diverged", rec.epoch, rec.loss)
    if rec.loss < min_loss:
        return Outcome("reached", rec.epoch, rec.loss)
    if rec.epoch >= epochs:
        return Outcome("limit", rec.epoch, rec.loss)
    return None


def advance(
    trainer: Trainer, count: int, min_loss: float, epochs: int
) -> tuple[list[HostEpoch], Outcome | None]:
    """Up to ``count`` epochs on the device, then one transfer to the host. If the run ends inside
    the batch, the records stop there and the trainer goes back to that epoch (the state saved
    before the batch, then the batch's epochs up to the stop again: exact for every trainer)."""
    count = min(count, epochs - trainer.epoch)
    saved = trainer.state_dict() if count > 1 else None
    records = to_host([trainer.step() for _ in range(count)], trainer.fixed_rates)
    for i, rec in enumerate(records):
        outcome = stop_outcome(rec, min_loss, epochs)
        if outcome is not None:
            if saved is not None and rec.epoch != trainer.epoch:
                trainer.load_state_dict(saved)
                for _ in range(i + 1):
                    trainer.step()
            return records[: i + 1], outcome
    return records, None


def run(
    trainer: Trainer,
    epochs: int = 100,
    min_loss: float = 0.1,
    stop: threading.Event | None = None,
    on_epoch: Callable[[HostEpoch], None] | None = None,
    sync_every: int = 1,
) -> Outcome:
    """Train until the printed loss is below ``min_loss``, ``epochs`` have run, or divergence.

    ``sync_every`` > 1 runs that many epochs on the device between host transfers (one sync per
    batch, not per epoch); when a stop condition falls inside a batch the trainer is rewound to that
    epoch, so the result is the same as with ``sync_every=1``.
    """
    last: HostEpoch | None = None
    while trainer.epoch < epochs and not (stop is not None and stop.is_set()):
        records, outcome = advance(trainer, sync_every, min_loss, epochs)
        for rec in records:
            last = rec
            if on_epoch is not None:
                on_epoch(rec)
        if outcome is not None:
            return outcome
    if last is None:
        return Outcome("stopped", trainer.epoch, float("nan"))
    return Outcome("stopped", last.epoch, last.loss)


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` (CUDA, then Apple MPS, then CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.

    Raises ValueError naming what is available when the asked-for device is not.
    """
    spec = spec.strip().lower()
    cuda_n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    available = ["cpu"] + (["cuda"] + [f"cuda:{i}" for i in range(cuda_n)] if cuda_n else [])
    available += ["mps"] if mps else []
    if spec == "auto":
        return torch.device("cuda" if cuda_n else "mps" if mps else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if mps:
            return torch.device("mps")
    elif spec == "cuda" or spec.startswith("cuda:"):
        index = spec.partition(":")[2]
        if index and not index.isdigit():
            raise ValueError(f"unknown device {spec!r}; available here: {', '.join(available)}")
        if cuda_n and (not index or int(index) < cuda_n):
            return torch.device(spec)
    else:
        raise ValueError(
            f"unknown device {spec!r}; use auto, cpu, cuda, cuda:N or mps "
            f"(available here: {', '.join(available)})"
        )
    return _unavailable(spec, available)


def _unavailable(spec: str, available: list[str]) -> torch.device:
    raise ValueError(f"device {spec!r} is not available here; available: {', '.join(available)}")


def device_name(device: torch.device) -> str:
    """A human name for the device: the GPU's name, or the CPU."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    return "CPU"
