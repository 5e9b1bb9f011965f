"""WalkerSGD's steps at a reused rate: along adam on a fixed grid (no ``stay``), not
every step scores the grid; between scorings the walk steps at the mean of the last winning
rates, at its direction's own cost (walker_tui.core.schedule: the rule the engine's walker
takes). A mixin of WalkerSGD (sgd.py), which holds the state and the decision. Decisions come
from agreed numbers only (the winner of losses averaged over the ranks, the loss averaged over
them), so every rank of a distributed run takes the same steps. Pure torch."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from walker_tui.core.schedule import Schedule
from walker_tui.optim.info import StepInfo


class ReusedSteps:
    """The schedule of WalkerSGD's scorings, kept in ``state["walker"]["schedule"]`` (a dict:
    a ``state_dict`` round trip keeps it)."""

    def _lazy(self) -> bool:
        return self.direction == "adam" and self.grid == "fixed" and not self.stay

    def _schedule(self, walker: dict[str, Any]) -> Schedule:
        schedule = Schedule()
        schedule.load_state_dict(walker.get("schedule", {}))
        return schedule

    def _reusing(self, walker: dict[str, Any]) -> bool:
        """Whether this step takes the reused rate instead of scoring."""
        return self._lazy() and not self._schedule(walker).due()

    def _note_scored(self, walker: dict[str, Any], winner: int, moved: bool, losses) -> None:
        """A scoring step told to the schedule: its winner's rate on the grid (in the grid's
        units: the groups' lr scales the reused rate as it scales the grid)."""
        if not self._lazy():
            return
        schedule = self._schedule(walker)
        grid = walker["rates"]
        schedule.scored(grid[winner] if winner < len(grid) else 0.0, moved)
        walker["schedule"] = schedule.state_dict()
        walker["shown"] = (list(losses), int(winner))

    def _reuse_move(self, params: list[torch.Tensor], walker: dict[str, Any]) -> tuple:
        """The weights moved at the reused rate along the direction (its state fed and kept);
        returns the rate taken and the line (w, u), for a recording."""
        w = [p.detach().clone() for p in params]
        u, fed = self._directions(params, walker, [self.state[p]["walker_grad"] for p in params])
        rate = self._schedule(walker).rate * walker.get("scale", self._scale())
        self._set(params, w, u, rate)
        self._settle(params, walker, fed, True)
        return rate, (w, u)

    def _reused(self, walker: dict[str, Any], moved: tuple, loss: float | None, calls: int) -> None:
        """The step's bookkeeping: the schedule told of the loss where it went (None: not
        seen, attached), ``last``."""
        rate, line = moved
        schedule = self._schedule(walker)
        before = walker["loss"] if walker["loss"] is not None else math.nan
        if loss is not None:
            schedule.reused(loss, before)
            walker["loss"] = loss
        else:  # (attached: only the interval counts down)
            schedule.wait -= 1
        walker["schedule"] = schedule.state_dict()
        walker["step"] += 1
        losses, winner = walker["shown"]
        held = float(walker["loss"]) if walker["loss"] is not None else math.nan
        self.last = StepInfo(walker["step"], self.rates, list(losses), winner, rate, held,
                             calls=calls, scored=False)  # fmt: skip
        self.last.line = line if self.recorder is not None else None

    def _reuse_closure(
        self, closure: Callable[[], Any], params: list[torch.Tensor], walker: dict[str, Any],
        start: tuple,
    ) -> torch.Tensor:  # fmt: skip
        """A reused-rate step with a closure: one call, with grad, where the walk went."""
        moved = self._reuse_move(params, walker)
        value = torch.as_tensor(self._call(closure, True, params, start)).detach()
        for p, gp in zip(params, self._grads(params), strict=True):
            self.state[p] = {**self.state[p], "walker_grad": gp}
            p.grad = None
        loss = float(self._reduce(value)[0])  # (averaged over the ranks: one decision)
        self._reused(walker, moved, loss, 1)
        self.state["walker"] = walker
        return value.reshape(()) if not self._distributed() else torch.tensor(loss)

    def _reuse_attached(self, params: list[torch.Tensor], walker: dict[str, Any]) -> None:
        """A reused-rate step at the attached model's forward: the weights moved, nothing
        scored (the model's own forward then gives the loss and gradient there; the step does
        not see that loss, so here only the winners decide when to score again)."""
        self._reused(walker, self._reuse_move(params, walker), None, 0)
