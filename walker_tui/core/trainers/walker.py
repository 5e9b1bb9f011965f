"""The walker: a grid of learning rates tried at once from the same weights, the best kept
(Walker), and how a Config or a racer's name makes one (make_walker, make_walker_racer)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch

import walker_tui.core.directions as directions
from walker_tui.catalog import walker_lrs, walker_name
from walker_tui.config import Config
from walker_tui.core.adaptive import log_span
from walker_tui.core.decision import Step, walk
from walker_tui.core.grid import parse_lrs
from walker_tui.core.problems.base import Problem
from walker_tui.core.ranking import rate_order, rounding_slack
from walker_tui.core.schedule import Schedule, schedules
from walker_tui.core.trainers.batched import Batched
from walker_tui.core.trainers.loop import Epoch, Trainer, copied, restart, trainer_w0


class Walker:
    """Walker SGD: every epoch try all rates from the same weights and keep the best candidate.

    The candidates of an epoch are ``w - lr_j * u`` for the previous winner ``w`` and the update
    direction ``u`` its gradient ``g`` gives (``direction``, walker_tui.core.directions: ``u = g``
    for sgd, heavy ball's velocity for momentum, Adam's step for adam, with their state in
    ``state_dict``); at epoch 1 they are all ``w0``, and the tie goes to the first rate. A
    candidate whose loss is nan or inf never wins.

    On a model, along adam on a fixed grid (no --stay), not every step scores the
    grid: between scorings the walk steps at the winners' mean rate (walker_tui.core.schedule,
    the rule WalkerSGD shares), at its direction's own cost; a record says whether its step
    scored (``Epoch.scored``; one that did not shows the last scored candidates).
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
        self.w0 = trainer_w0(problem, w0)
        self.span0 = log_span(self.grid)
        # (schedule.py's rule) along adam on a model, where scoring is k forward passes: see
        # schedule.py for why not along momentum, nor on a built-in problem
        self.lazy = schedules(direction, adaptive, stay, problem.batched)
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
        restart(self)
        device = self.problem.device
        self.lrs = torch.tensor(self.rates, dtype=torch.float32, device=device)
        self.span = torch.tensor(self.span0, dtype=torch.float32, device=device)
        self.along = directions.fresh(self.direction, self.w)  # the direction's own state
        self.schedule = Schedule() if self.lazy else None
        self.shown: tuple[torch.Tensor, ...] | None = None  # the last scored, as records hold them

    def state_dict(self) -> dict[str, Any]:
        names = ("epoch", "evaluations", "w", "grad", "loss", "lrs", "span")
        state = copied({name: getattr(self, name) for name in names})
        state["along"] = {key: value.clone() for key, value in self.along.items()}
        if self.schedule is not None:
            state["schedule"] = self.schedule.state_dict()
            state["shown"] = self.shown  # (read only, never written in place: not copied)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, value in copied(state).items():
            if name == "schedule":
                self.schedule = Schedule()
                self.schedule.load_state_dict(value)
            else:
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

    def _adapt(self, step: Step | None) -> None:
        """--grid adaptive: the next grid the decision gave (walker_tui.core.adaptive's rule,
        on the device), --stay's 0 kept last."""
        if step is not None and step.grid is not None:
            self.lrs, self.span = torch.cat([step.grid, self.lrs[len(self.grid) :]]), step.span

    def step(self) -> Epoch:
        """Run one epoch and return its record."""
        taken = step = None  # (a reused rate: not one of the candidates')
        if self.grad is None:
            weights, losses, winner, any_finite = self._first_epoch()
        elif self._reusing():
            weights, losses, winner, any_finite = self.shown  # (weights in view already)
            taken = self._reuse()
        else:
            (weights, losses, winner, any_finite), step = self._walk()
            if self.schedule is not None:  # (what later records show while a rate is reused)
                self.shown = (self.problem.view(weights), losses, winner, any_finite)  # (2 x k)
        self.epoch += 1
        # k an epoch, the first included (the README's convention since the notebook's
        # benchmark); one where the walk reused a rate (the loss and gradient where it went)
        self.evaluations += self.k if taken is None else 1
        if self.adaptive:  # an adaptive walk diverges only when its own loss does
            finite = torch.isfinite(self.loss)
        else:
            finite = any_finite & torch.isfinite(self.loss)
        view = self.problem.view  # (a model's records hold plane coordinates, not weights)
        record = Epoch(
            self.epoch,
            view(weights) if taken is None else weights,
            losses,
            winner,
            self.loss,
            finite,
            self.lrs,
            any_finite,
            view(self.w[:, None])[:, 0],
            self.evaluations,
            scored=taken is None,
            taken=taken,
        )
        self._adapt(step)  # (none at epoch 1: all candidates tie there, nothing to learn)
        return record

    def _first_epoch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Epoch 1: every candidate is w0, so one evaluation serves them all (exact ties).
        Returns (candidate weights, their losses, the winner, whether any was finite)."""
        self.loss, self.grad = self.problem.loss_grad(self.w)
        any_finite = torch.ones((), dtype=torch.bool, device=self.w.device)
        weights = self.w[:, None].expand(-1, self.k).clone()
        losses = self.loss.expand(self.k).clone()
        winner = torch.zeros((), dtype=torch.long, device=self.w.device)
        return weights, losses, winner, any_finite

    def _reusing(self) -> bool:
        """Whether this step takes the reused rate instead of scoring (walker_tui.core.schedule)."""
        return self.schedule is not None and not self.schedule.due()

    def _reuse(self) -> float:
        """One step at the schedule's reused rate along the direction (its state fed and kept),
        then the loss and gradient where it lands; returns the rate."""
        rate = self.schedule.rate
        u, self.along = directions.propose(self.direction, self.along, self.grad)
        before = self.loss
        self.w = (self.w - u * rate).contiguous()
        self.loss, self.grad = self.problem.loss_grad(self.w)
        self.schedule.reused(float(self.loss), float(before))
        return rate

    def _walk(self) -> tuple[tuple[torch.Tensor, ...], Step]:
        """One step of the walk: the candidates along the direction, ranked, the winner taken
        (or, adaptive, none that raises the loss). Returns what _first_epoch does, and the
        decision (walker_tui.core.decision.walk: WalkerSGD's too)."""
        # the direction's u from the gradient at w, and its state fed with that gradient
        # (kept below only if the walk takes a step: walker_tui.core.directions)
        u, along = directions.propose(self.direction, self.along, self.grad)
        weights = self.w[:, None] - u[:, None] * self.lrs[None, :]
        losses, rank, slack, current = self._rank(weights, u)
        if rank is None:  # one rate, fixed: nothing to rank, the one candidate wins
            rank = torch.zeros(1, device=self.w.device)
            finite = torch.ones(1, dtype=torch.bool, device=self.w.device)
        else:  # (losses = current + rank: where a rank is not finite, neither is its loss)
            finite = torch.isfinite(losses)
        # the one decision (core/decision.py, WalkerSGD's too): an adaptive walk never takes a
        # step that raises the loss (or has none finite): it stays put and its grid moves down
        # to smaller rates (step.grid, taken in _adapt)
        step = walk(
            rank, finite, self.lrs, grid=self.lrs[: len(self.grid)], adaptive=self.adaptive,
            reference=current, order=self._rate_order(), slack=slack, span=self.span,
            span0=self.span0, schedule=self.schedule,
        )  # fmt: skip
        winner, any_finite = step.winner, step.moved
        moved = weights.index_select(1, winner.reshape(1))[:, 0]  # (no host sync)
        if self.adaptive:
            moved = torch.where(any_finite, moved, self.w)
        if self.direction != "sgd":
            # the state fed with this step's gradient is kept where the walk took a step;
            # where it stayed put (adaptive), --stay's zero-rate candidate won or none was
            # finite, the direction restarts (walker_tui.core.directions says why)
            self.along = directions.settle(self.direction, self.along, along, step.took)
        self.w = moved.contiguous()  # a strided view would slow every matvec
        self.loss, self.grad = self.problem.loss_grad(self.w)
        # The winner's loss is its exact loss at the new weights (the closed form may differ
        # in the last float32 digit); it is also the loss printed and the stopping test.
        if losses is None:
            losses = self.loss[None].clone()
        elif self.adaptive:  # a walk that stayed put keeps the candidates' losses as they were
            losses = losses.float()
            losses = torch.where(any_finite, losses.index_put((winner[None],), self.loss), losses)
        else:
            losses = losses.float().index_put((winner[None],), self.loss)
        return (weights, losses, winner, any_finite), step

    def _rank(
        self, weights: torch.Tensor, u: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, torch.Tensor | float]:
        """The candidates' losses and ranks (None, None: one rate, fixed: nothing to rank), the
        slack within which ranks tie (pick_winner), and the loss a step is compared with."""
        losses = rank = slack = None
        current: torch.Tensor | float = 0.0
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
        return losses, rank, slack, current


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
