"""The functional core under WalkerSGD (sgd.py), as torch.optim's functional ``sgd()`` sits under
``SGD``: plain functions on explicit state, a :class:`Walk` the optimizer hands in each step,
shared by the closure mode (closure.py), the attached mode (attached.py) and the steps at a
reused rate (reuse.py). The decision itself is walker_tui.core.decision's, the engine's
walker's. Pure torch, no I/O."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import torch

import walker_tui.core.directions as along
from walker_tui.core.decision import decide
from walker_tui.core.edges import EdgeWatch, shifted_grid
from walker_tui.core.ranking import host64, wide_dtype
from walker_tui.core.schedule import Schedule, schedules
from walker_tui.optim.info import StepInfo
from walker_tui.optim.scoring import warn_at_user

__all__ = [
    *("Walk", "conclude", "distributed", "everywhere", "propose", "reduce", "schedule_of"),
    *("set_weights", "settle"),
]


@dataclass
class Walk:
    """What one WalkerSGD step works on. ``state``: the optimizer's (per parameter: the held
    gradient ``walker_grad`` and the direction's ``along_*`` tensors); ``walker``: a copy of
    ``state["walker"]`` the step writes, stored back by :meth:`done` (a state_dict taken before
    stays as it was); ``last``: what the step did, once it is done."""

    params: list[torch.Tensor]
    state: Any
    walker: dict[str, Any]
    direction: str
    adaptive: bool
    stay: bool
    span0: float
    sync: bool | None
    scale: float  # the groups' one lr, a scale on the grid
    keep_line: bool  # a recorder wants the step's line (w, u)
    edges: EdgeWatch
    flags: Any  # WalkerSGD's mutable flags (scoring, ...), shared with a wrapper's copy
    last: StepInfo | None = None

    @property
    def lazy(self) -> bool:
        """Whether this walk reuses rates between scorings (walker_tui.core.schedule)."""
        return schedules(self.direction, self.adaptive, self.stay)

    def rates(self, scale: float | None = None) -> list[float]:
        """The rates tried: the grid times the scale, --stay's 0 last."""
        scale = self.scale if scale is None else scale
        return [scale * r for r in self.walker["rates"]] + ([0.0] if self.stay else [])

    def grads(self) -> list[torch.Tensor]:
        return [self.state[p]["walker_grad"] for p in self.params]

    def hold_grads(self, grads: list[torch.Tensor]) -> None:
        for p, gp in zip(self.params, grads, strict=True):
            self.state[p] = {**self.state[p], "walker_grad": gp}

    def done(self) -> None:
        self.state["walker"] = self.walker


def set_weights(
    params: list[torch.Tensor], w: list[torch.Tensor], u: list[torch.Tensor], lr: float
) -> None:
    """Each parameter to ``w - lr * u``."""
    with torch.no_grad():
        for p, wp, up in zip(params, w, u, strict=True):
            p.copy_(wp)
            if lr != 0.0:
                p.add_(up, alpha=-lr)


# --- the direction (walker_tui.core.directions, the engine's) ---


def along_state(walk: Walk, p: torch.Tensor) -> dict[str, torch.Tensor]:
    """The direction's state for one parameter: its tensors from the parameter's state, its
    step counts from the walker's (kept as numbers: a state_dict round trip would cast tensors
    to the parameter's dtype), as the tensors walker_tui.core.directions takes."""
    keys = tuple(along.fresh(walk.direction, torch.zeros(1)))
    held = walk.state[p]
    if any(f"along_{k}" not in held for k in keys if k not in along.COUNTS):
        held = {f"along_{k}": v for k, v in along.fresh(walk.direction, p.detach()).items()}
    wide = wide_dtype(p.device)  # (the engine's counts: float64 where the device has it)
    return {
        k: torch.tensor(float(walk.walker.get(f"along_{k}", 0)), dtype=wide, device=p.device)
        if k in along.COUNTS
        else held[f"along_{k}"]
        for k in keys
    }


def propose(walk: Walk, grads: list[torch.Tensor]) -> tuple[list[torch.Tensor], list]:
    """Each parameter's u for its held gradient, and its (old, fed) direction states (sgd:
    u is the gradient itself)."""
    if walk.direction == "sgd":
        return grads, []
    us, fed = [], []
    for p, gp in zip(walk.params, grads, strict=True):
        old = along_state(walk, p)
        u, new = along.propose(walk.direction, old, gp)
        us.append(u)
        fed.append((old, new))
    return us, fed


def settle(walk: Walk, fed: list, took: bool) -> None:
    """Keep each parameter's fed direction state where the walk took a step, else its restart
    (walker_tui.core.directions.settle); the step counts go to the walker's state."""
    if walk.direction == "sgd":
        return
    for p, (old, new) in zip(walk.params, fed, strict=True):
        kept = along.settle(walk.direction, old, new, took)
        tensors = {f"along_{k}": v for k, v in kept.items() if k not in along.COUNTS}
        walk.state[p] = {**walk.state[p], **tensors}
        for k in along.COUNTS:
            if k in kept:
                walk.walker[f"along_{k}"] = int(kept[k])


# --- torch.distributed: every rank takes the same decisions ---


def distributed(sync: bool | None) -> bool:
    if sync is False or not torch.distributed.is_available():
        return False
    return torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1


def reduce(losses: torch.Tensor, sync: bool | None) -> torch.Tensor:
    """Losses averaged over the ranks of a torch.distributed run (so every rank takes the same
    decisions), on the host in float64."""
    values = losses.detach().reshape(-1).to(wide_dtype(losses.device))
    if distributed(sync):
        dist = torch.distributed
        if dist.get_backend() == "gloo":
            values = values.cpu()
        dist.all_reduce(values)
        values = values / dist.get_world_size()
    return host64(values)


def everywhere(flag: bool, sync: bool | None, device: torch.device) -> bool:
    """``flag`` on every rank of a distributed run (each rank's closure call runs DDP's
    collectives, so all ranks make the same calls)."""
    if not distributed(sync):
        return flag
    dist = torch.distributed
    value = torch.tensor([int(flag)], device="cpu" if dist.get_backend() == "gloo" else device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


# --- the decision, applied ---


def schedule_of(walker: dict[str, Any]) -> Schedule:
    """The schedule of scorings, kept in ``walker["schedule"]`` as a dict (a state_dict round
    trip keeps it)."""
    schedule = Schedule()
    schedule.load_state_dict(walker.get("schedule", {}))
    return schedule


def conclude(walk: Walk, w, u, fed, rates, losses, reference, calls) -> StepInfo:
    """The decision (walker_tui.core.decision.decide, the engine's rule) on scored candidates,
    applied: weights, direction state, the schedule, the grid's next move, the edge warning;
    returns what the step did (also ``walk.last``)."""
    walker = walk.walker
    # every rate 0: a scheduler's lr of 0 (a warm-up's first step), not a walk that stayed
    # put: as Adam at rate 0, the direction is fed and nothing moves; the schedule learns no
    # rate from it (the candidates all tie)
    zero = all(r == 0 for r in rates)
    schedule = schedule_of(walker) if walk.lazy and not zero else None
    d = decide(
        losses, rates, walk.adaptive, reference, stay=walk.stay, grid=walker["rates"],
        span=walker["span"], span0=walk.span0, schedule=schedule, held=walker["loss"],
    )  # fmt: skip
    if zero:
        d = replace(d, moved=False, took=d.moved)  # (d.moved: some candidate was finite)
    if schedule is not None:
        walker["schedule"] = schedule.state_dict()
        # what reused steps show: the rates as they were tried (a scheduler may rescale the
        # grid before the next scoring), their losses and the winner
        walker["shown"] = (list(losses), d.winner, list(rates))
    settle(walk, fed, d.took)
    set_weights(walk.params, w, u, d.lr)
    walker["loss"] = d.loss
    walker["step"] += 1
    loss = float(d.loss) if d.loss is not None else math.nan
    line = (w, u) if walk.keep_line else None
    walk.last = StepInfo(walker["step"], rates, losses, d.winner, d.lr, loss, d.moved,
                         d.diverged, calls, line=line)  # fmt: skip
    if d.grid is not None:
        walker["rates"], walker["span"] = d.grid, d.span
    elif not walk.adaptive:
        k = len(walker["rates"])
        watch_edge(walk.edges, walker["rates"], d.winner, loss, losses[:k], d.moved, walk.lazy)
    return walk.last


def watch_edge(
    edges: EdgeWatch, grid: list[float], winner: int, loss: float, losses, moved, lazy=False
):
    """Warn once when the winner keeps to an edge of a fixed grid while the loss falls (only
    the steps that scored the grid count: ``lazy``, a walk that reuses a rate between)."""
    edge = edges.see(winner, loss, losses, moved)
    if edge is None:
        return
    which = "smallest" if edge == 0 else "largest"
    steps = "steps that scored the grid" if lazy else "steps"
    warn_at_user(
        f"WalkerSGD: the {which} rate of the grid, {sorted(grid)[0 if edge == 0 else -1]:.3g}"
        f" (times lr), won {edges.share:.0%} or more of the last {edges.window}"
        f" {steps} while the loss fell: the best rate may lie outside the grid; pass "
        f"lrs={shifted_grid(grid, edge)!r} (the grid moved past that edge) or "
        "grid='adaptive'"
    )
