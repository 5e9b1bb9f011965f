"""Walker SGD as a ``torch.optim.Optimizer``, for people's own training loops.

``from walker_tui import WalkerSGD``. Every ``step(closure)`` tries a grid of learning rates from
the same weights on the closure's batch, keeps the best candidate and walks on from it, as the
app's walker does (walker_tui.core.trainers.walker.Walker). Pure torch and numpy: no UI imports.
"""

from __future__ import annotations

import atexit
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

import walker_tui.core.directions as along
from walker_tui.catalog import DIRECTIONS
from walker_tui.core.adaptive import adapt_rates, log_span
from walker_tui.core.grid import _rates
from walker_tui.core.plane import directions
from walker_tui.core.ranking import host64, pick_winner, rate_order, wide_dtype
from walker_tui.recording.ends import check_metric, end_record, outcome_of_exit
from walker_tui.recording.steps import open_record, step_row, warn_stopped
from walker_tui.recording.writer import RecordWriter

__all__ = ["StepInfo", "WalkerSGD"]


@dataclass
class StepInfo:
    """What the last ``step`` did (``WalkerSGD.last``)."""

    step: int  # steps taken so far, this one included (the recording's epoch number)
    rates: list[float]  # the rates tried, in the order scored (--stay's 0 last)
    losses: list[float]  # each candidate's loss on this step's batch (nan/inf as they came)
    winner: int  # index of the best candidate in ``rates``/``losses``
    lr: float  # the rate of the step taken (0.0 if the walk stayed put)
    loss: float  # the loss held after the step: losses[winner] unless it stayed put
    moved: bool = True  # False: an adaptive grid stayed put, or no candidate was finite
    diverged: bool = False  # no candidate's loss was finite (the walk stayed put)
    calls: int = 0  # closure calls this step
    coords: np.ndarray | None = field(default=None, repr=False)  # 2 x k, with record= only
    metrics: dict[str, float] = field(default_factory=dict)  # what opt.log added to this step


class WalkerSGD(torch.optim.Optimizer):
    """Walker SGD: each step tries every rate of a grid from the same weights and keeps the best.

    ``lrs``: the ``--lrs`` grammar (``"0.1:1:0.1"``, ``"log:1e-4:1:9"``, ``"0.01,0.1"``) or a
    list of rates. ``direction``: what the walk goes along (``--direction``,
    walker_tui.core.directions): ``"sgd"`` (the gradient, the default), ``"momentum"`` (heavy ball
    0.9) or ``"adam"`` (Adam's step, betas 0.9 and 0.999, eps 1e-8, bias correction); the
    candidates are ``w - lr * u`` for the direction's ``u``, whose state is fed with the held
    gradient once a step, kept where the walk takes a step and restarted where it does not, as
    in the app (give Adam's scale of rates: ``lrs="log:1e-4:1e-1:13"``). ``stay=True`` adds a
    zero-rate candidate (keep the weights), so the loss on
    the step's batch never goes up. ``grid="adaptive"`` re-centres a log grid on the winning
    rate after every step and never takes a step that raises the loss (it stays put and the
    grid moves down). All parameter groups share the one grid.

    ``step(closure)`` needs a closure as ``torch.optim.LBFGS`` takes it (zero the gradients,
    forward, backward, return the loss). With ``w`` the weights and ``g`` the gradient held
    from the previous step, the candidates are ``w - lr * g`` for every rate (``w - lr * u``
    along another direction); each is scored
    by setting the parameters to it and calling ``closure()``, and the parameters end at the
    best (losses that are nan or inf never win; exact ties go to the median tied rate, as in
    the app). Closure calls per step, ``k`` the number of candidates (``--stay``'s 0 included):

    * ``forward_only=False`` (default): ``k`` calls with grad enabled. The gradient of the best
      candidate so far is kept (one extra copy of the weights' size), so the winner's gradient
      on this batch, which the next step walks along, costs nothing more. (An exact tie between
      candidates costs one more call, at the median tied rate.)
    * ``forward_only=True``: ``k`` calls under ``torch.no_grad()`` (forward only: cheaper, no
      activations kept), then one call with grad at the winner for its gradient: ``k + 1``.
      The closure must skip backward when grad is off:
      ``if torch.is_grad_enabled(): loss.backward()``.

    ``grid="adaptive"`` never takes a step that raises the loss on the step's batch, so it needs
    ``w``'s own loss on that batch: ``--stay``'s zero-rate candidate is it; without ``stay``
    it costs one more call, at ``w``, before the candidates (with grad off when
    ``forward_only``). When it stays put it keeps ``w`` and the gradient it held.

    The first step first calls ``closure()`` once with grad at the starting weights, for the
    gradient the walk needs, then takes the walk's step at once (``k + 1`` calls, ``k + 2``
    with ``forward_only``; an adaptive grid's call at ``w`` is that first one). A step whose
    candidates are all nan or inf stays put (``last.diverged``). ``step`` returns the winner's
    loss as a 0-d tensor (the loss held after the step), and ``last`` (a :class:`StepInfo`) says
    which rates were tried, their losses, the winner, the rate taken and the closure calls
    spent.

    ``record=PATH`` (``.csv``, ``.json`` or ``.npz``) writes what ``walker-tui run --record``
    writes, one epoch per step, for ``walker-tui replay PATH``. A network's weights are far too
    many to record, so each candidate is recorded as its two coordinates in a fixed plane
    through the weights at the first step, spanned by two random directions (seeded by
    ``seed``), filter-normalised as in Li et al. 2018, "Visualizing the Loss Landscape of
    Neural Nets": each row (output unit, filter) of a direction has the norm of that row of the
    weights, and 1-D parameters (biases, norms) get none (a model with only 1-D parameters gets
    plain random directions the size of its weights). The coordinates are the least-squares
    projection of ``w - w0`` onto the plane. Recording holds three more copies of the weights
    (w0 and the two directions). ``close()`` ends the file; or use the optimizer as a context
    manager (``with WalkerSGD(...) as opt:``). The recording never stops the training: when its
    file cannot be written (a full disk) or another process deletes it, the recording stops
    there (what is on disk still loads), ``step`` warns once (a RuntimeWarning) and goes on,
    and ``record_error`` says after which epoch and why (None while all is well). A file that
    cannot be opened at all raises here, before any step.
    """

    def __init__(
        self,
        params: Any,
        lrs: str | float | Iterable[float] = "0.1:1:0.1",
        stay: bool = False,
        grid: str = "fixed",
        forward_only: bool = False,
        record: Any = None,
        record_options: dict[str, Any] | None = None,
        seed: int = 0,
        direction: str = "sgd",
    ) -> None:
        rates, spec = _rates(lrs)
        if grid not in ("fixed", "adaptive"):
            raise ValueError(f"grid={grid!r}: use 'fixed' or 'adaptive'")
        if direction not in DIRECTIONS:
            raise ValueError(f"direction={direction!r}: use {', '.join(map(repr, DIRECTIONS))}")
        self.direction = direction
        self._along_keys = tuple(along.fresh(direction, torch.zeros(1)))  # its state's names
        super().__init__(params, {"lrs": list(rates)})
        for group in self.param_groups:
            if list(group["lrs"]) != rates:
                raise ValueError("WalkerSGD: every parameter group shares the one grid of rates")
        self.spec = spec
        self.grid = grid
        self.stay = bool(stay)
        self.forward_only = bool(forward_only)
        self.seed = int(seed)
        self.span0 = log_span(rates)
        self.state["walker"] = {"step": 0, "rates": list(rates), "span": self.span0, "loss": None}
        self.last: StepInfo | None = None
        self.writer: RecordWriter | None = None
        self._record_warned = False
        self._plane: tuple[list[torch.Tensor], list[torch.Tensor], np.ndarray] | None = None
        if record is not None:
            weights = sum(p.numel() for p in self._params())
            self.writer, self._at_exit = open_record(record, self, weights, record_options)

    # --- the grid ---

    @property
    def rates(self) -> list[float]:
        """The rates the next step tries (--stay's 0 last)."""
        return list(self.state["walker"]["rates"]) + ([0.0] if self.stay else [])

    @property
    def k(self) -> int:
        return len(self.rates)

    def _follow_groups(self) -> None:
        """A loop or scheduler that edits ``param_groups[i]["lrs"]`` between steps, as torch
        optimizers allow for ``lr``, sets the grid the next step tries (an adaptive grid starts
        again from it). The edit is checked as the constructor checks ``lrs``; a recording keeps
        its number of rates."""
        seen = self.state["walker"].setdefault("group_lrs", list(self.state["walker"]["rates"]))
        edits = [list(g["lrs"]) if not isinstance(g["lrs"], str) else g["lrs"]
                 for g in self.param_groups]  # fmt: skip
        if all(e == seen for e in edits):
            return
        new = next(e for e in edits if e != seen)
        rates, _ = _rates(new)
        for group in self.param_groups:  # (one grid for every group, as at construction)
            group["lrs"] = list(rates)
        if self.writer is not None and len(rates) != len(seen):
            raise ValueError(
                f"WalkerSGD: param_groups' lrs changed from {len(seen)} rates to {len(rates)}; "
                "a recording keeps its number of rates"
            )
        walker = dict(self.state["walker"])
        walker["rates"], walker["group_lrs"] = list(rates), list(rates)
        self.span0 = walker["span"] = log_span(rates)
        self.state["walker"] = walker

    def _params(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.state["walker"] = dict(self.state["walker"])  # (torch keeps non-param state as is)
        self.state["walker"]["rates"] = list(self.state["walker"]["rates"])

    # --- the recording ---

    def close(self, outcome: str = "closed") -> None:
        """End the recording cleanly (idempotent; nothing to do without ``record=``), with an
        end record that says the script closed it (``outcome``: another of
        walker_tui.recording.ends.OUTCOMES, such as "reached" or "diverged", where the script
        knows)."""
        self._end(end_record(outcome, self._step_count()))

    def _step_count(self) -> int | None:
        return self.last.step if self.last is not None else None

    def _end(self, end: dict[str, Any]) -> None:
        if self.writer is not None:
            self.writer.close(end)
            atexit.unregister(self._at_exit)
            self._warn_record()

    def log(self, **values: Any) -> None:
        """Add named numbers to the row of the step just taken: ``opt.log(accuracy=0.93,
        grad_norm=1.2)`` (floats, ints, numpy scalars or 0-d tensors). They go in the
        recording (``walker-tui watch`` and ``replay`` show them) and in ``last.metrics``;
        logging a name again for the same step replaces its value. A value that is not a
        finite number raises (TypeError or ValueError, naming the metric) before anything is
        written; so does a call before the first step."""
        if not values:
            raise TypeError("WalkerSGD.log: give metrics by name, e.g. opt.log(accuracy=0.93)")
        try:
            clean = {name: check_metric(name, value) for name, value in values.items()}
        except (TypeError, ValueError) as error:
            raise type(error)(f"WalkerSGD.log: {error}") from None
        if self.last is None:
            raise RuntimeError(
                "WalkerSGD.log: no step yet; log adds to the row of the step just taken "
                "(call it after opt.step)"
            )
        self.last.metrics.update(clean)
        if self.writer is not None:
            self.writer.log(self.last.step, clean)
            self._warn_record()

    @property
    def record_error(self) -> str | None:
        """Why the recording stopped (a full disk, a deleted file), in one line; None if it
        did not (or there is none)."""
        return None if self.writer is None else self.writer.failure

    def _warn_record(self) -> None:
        """Warn once that the recording stopped; training goes on without it."""
        error = self.record_error
        if error is not None and not self._record_warned:
            self._record_warned = True
            warn_stopped(error)

    def __enter__(self) -> WalkerSGD:
        return self

    def __exit__(self, kind: Any, *exc: Any) -> None:
        outcome, how = outcome_of_exit(kind)  # an exception: interrupted or failed, and which
        self._end(end_record(outcome, self._step_count(), how))

    def _make_plane(self, params: list[torch.Tensor]) -> None:
        """w0 and the one plane's two directions (walker_tui.core.plane: filter-normalised, Li et
        al. 2018, seeded by ``seed``: the plane ``--problem`` draws the same model in), and their
        Gram."""
        w0 = [p.detach().clone() for p in params]
        flat = directions(params, self.seed)  # d x 2, float64, the parameters in order
        dirs: list[list[torch.Tensor]] = []
        for column in range(2):
            one, i = [], 0
            for p in params:
                part = flat[i : i + p.numel(), column].view(p.shape)
                one.append(part.to(device=p.device, dtype=p.dtype))
                i += p.numel()
            dirs.append(one)
        gram = np.array(
            [[self._dot(dirs[a], dirs[b]) for b in range(2)] for a in range(2)], dtype=np.float64
        )
        self._plane = (w0, dirs, np.linalg.pinv(gram))  # (pinv: a degenerate plane still projects)

    @staticmethod
    def _dot(xs: list[torch.Tensor], ys: list[torch.Tensor]) -> float:
        dtype = wide_dtype(xs[0].device) if xs else torch.float64
        return float(
            sum(torch.sum(x * y, dtype=dtype).cpu().double() for x, y in zip(xs, ys, strict=True))
        )

    def _coords(
        self, w: list[torch.Tensor], g: list[torch.Tensor], rates: list[float]
    ) -> np.ndarray:
        """Plane coordinates (2 x k) of the candidates ``w - rate * g`` (``g``: the direction
        walked along): linear in the rate, so four dot products serve them all."""
        assert self._plane is not None
        w0, dirs, inv = self._plane
        delta = [a - b for a, b in zip(w, w0, strict=True)]
        dw = np.array([self._dot(d, delta) for d in dirs])
        dg = np.array([self._dot(d, g) for d in dirs])
        rhs = dw[:, None] - dg[:, None] * np.asarray(rates, dtype=np.float64)[None, :]
        return inv @ rhs

    # --- the step ---

    def _call(self, closure: Callable[[], Any], grad: bool, params: list[torch.Tensor]) -> Any:
        """One closure call, with grad enabled (fresh gradients) or under no_grad."""
        if grad:
            for p in params:
                p.grad = None  # (a closure that forgets zero_grad still gets this point's own)
            with torch.enable_grad():
                return closure()
        try:
            with torch.no_grad():
                return closure()
        except RuntimeError as error:
            if "does not require grad" not in str(error):
                raise
            raise RuntimeError(
                "WalkerSGD(forward_only=True) scores candidates under torch.no_grad(): the "
                "closure must skip backward there: `if torch.is_grad_enabled(): loss.backward()`"
            ) from error

    @staticmethod
    def _grads(params: list[torch.Tensor]) -> list[torch.Tensor]:
        return [torch.zeros_like(p) if p.grad is None else p.grad.detach().clone() for p in params]

    @staticmethod
    def _set(params: list[torch.Tensor], w: list[torch.Tensor], g: list[torch.Tensor], lr: float):
        with torch.no_grad():
            for p, wp, gp in zip(params, w, g, strict=True):
                p.copy_(wp)
                if lr != 0.0:
                    p.add_(gp, alpha=-lr)

    def _along(self, p: torch.Tensor, walker: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The direction's state for one parameter: its tensors from the parameter's state,
        its step counts from the walker's (kept as numbers: a state_dict round trip would cast
        tensors to the parameter's dtype), as the tensors walker_tui.core.directions takes."""
        held = self.state[p]
        if any(f"along_{k}" not in held for k in self._along_keys if k not in along.COUNTS):
            held = {f"along_{k}": v for k, v in along.fresh(self.direction, p.detach()).items()}
        wide = wide_dtype(p.device)  # (the engine's counts: float64 where the device has it)
        return {
            k: torch.tensor(float(walker.get(f"along_{k}", 0)), dtype=wide, device=p.device)
            if k in along.COUNTS
            else held[f"along_{k}"]
            for k in self._along_keys
        }

    def _directions(
        self, params: list[torch.Tensor], walker: dict[str, Any], grads: list[torch.Tensor]
    ) -> tuple[list[torch.Tensor], list[tuple[dict, dict]]]:
        """Each parameter's u for its held gradient, and its (old, fed) direction states."""
        if self.direction == "sgd":
            return grads, []
        us, fed = [], []
        for p, gp in zip(params, grads, strict=True):
            old = self._along(p, walker)
            u, new = along.propose(self.direction, old, gp)
            us.append(u)
            fed.append((old, new))
        return us, fed

    def _settle(
        self, params: list[torch.Tensor], walker: dict[str, Any], fed: list, took: bool
    ) -> None:
        """Keep each parameter's fed direction state where the walk took a step, else its
        restart (walker_tui.core.directions.settle); the step counts go to the walker's state."""
        if self.direction == "sgd":
            return
        for p, (old, new) in zip(params, fed, strict=True):
            kept = along.settle(self.direction, old, new, took)
            tensors = {f"along_{k}": v for k, v in kept.items() if k not in along.COUNTS}
            self.state[p] = {**self.state[p], **tensors}
            for k in along.COUNTS:
                if k in kept:
                    walker[f"along_{k}"] = int(kept[k])

    def step(self, closure: Callable[[], Any] | None = None) -> torch.Tensor:  # type: ignore[override]
        """One walker step on the closure's batch; returns the loss held after it (0-d)."""
        if closure is None:
            raise RuntimeError(
                "WalkerSGD.step needs a closure (zero_grad, forward, backward, return the loss), "
                "as torch.optim.LBFGS does: it scores every candidate rate with it"
            )
        params = self._params()
        if not params:
            raise ValueError("WalkerSGD has no parameters")
        self._follow_groups()
        walker = dict(self.state["walker"])  # (new dicts, so a state_dict taken before stays)
        device = params[0].device
        wide = wide_dtype(device)
        calls = 0
        first = any("walker_grad" not in self.state[p] for p in params)
        if first:
            # the first step: the gradient at the starting weights, then the walk's step
            loss0 = self._call(closure, True, params)
            calls += 1
            for p, gp in zip(params, self._grads(params), strict=True):
                self.state[p] = {**self.state[p], "walker_grad": gp}
            walker["loss"] = float(host64(torch.as_tensor(loss0)))
            held_loss = torch.as_tensor(loss0).detach()
        else:
            held_loss = torch.tensor(walker["loss"] if walker["loss"] is not None else math.nan)
        if self.writer is not None and self._plane is None:
            self._make_plane(params)
        w = [p.detach().clone() for p in params]
        # the direction's u from the held gradient, its state fed with it (kept below only if
        # the walk takes a step: walker_tui.core.directions); sgd's u is the gradient itself
        g, fed = self._directions(params, walker, [self.state[p]["walker_grad"] for p in params])
        rates = self.rates
        k_grid = len(walker["rates"])
        keep = not self.forward_only
        reference: float | None = None  # w's loss on this batch, where an adaptive grid needs it
        if self.grid == "adaptive" and not self.stay:
            if first:  # (the call above was on this batch)
                reference = walker["loss"]
            else:  # one more call, at w (its gradient is not kept)
                ref = self._call(closure, keep, params)
                calls += 1
                held_loss = torch.as_tensor(ref).detach()
                reference = float(host64(held_loss))
                walker["loss"] = reference
        best = torch.full((), math.inf, dtype=wide, device=device)
        best_grad = [torch.zeros_like(p) for p in params] if keep else []
        scored = []
        for lr in rates:
            self._set(params, w, g, lr)
            loss = self._call(closure, keep, params)
            calls += 1
            value = torch.as_tensor(loss).detach()
            scored.append(value)
            if keep:  # the best candidate's gradient, kept on the device (no host sync)
                v = value.to(device=device, dtype=wide)
                better = torch.isfinite(v) & (v < best)
                best = torch.where(better, v, best)
                for bg, p in zip(best_grad, params, strict=True):
                    if p.grad is None:
                        bg.masked_fill_(better, 0.0)
                    else:
                        torch.where(better, p.grad.detach(), bg, out=bg)
        # one transfer: every candidate's loss, ranked in float64 on the host
        losses = torch.stack([s.to("cpu", torch.float64).reshape(()) for s in scored]).tolist()
        finite = [math.isfinite(v) for v in losses]
        ranked = torch.tensor([v if f else math.inf for v, f in zip(losses, finite, strict=True)])
        winner = int(pick_winner(ranked, rate_order(rates, torch.device("cpu"))))
        any_finite = any(finite)
        moved = any_finite
        if moved and self.grid == "adaptive":
            # never a step that raises the loss on this batch: against w's own loss on it
            # (--stay's zero-rate candidate, else the call at w above)
            if self.stay:
                reference = losses[k_grid]
            if reference is not None and math.isfinite(reference):
                moved = losses[winner] <= reference
        # the direction's state: kept where the walk takes a step, restarted where it stays
        # put (an adaptive grid, --stay's zero winning, or no finite candidate)
        self._settle(params, walker, fed, moved and rates[winner] != 0.0)
        if moved:
            lr = rates[winner]
            self._set(params, w, g, lr)
            kept = min((i for i in range(len(losses)) if finite[i]), key=lambda i: losses[i])
            if keep and kept == winner:
                new_grad = best_grad
            else:  # forward-only scoring (or an exact tie): the winner's gradient, one call
                self._call(closure, True, params)
                calls += 1
                new_grad = self._grads(params)
                self._set(params, w, g, lr)  # (the closure may have touched them)
            for p, gp in zip(params, new_grad, strict=True):
                self.state[p] = {**self.state[p], "walker_grad": gp}
            walker["loss"] = losses[winner]
            result = scored[winner]
        else:  # stay put: w and its gradient as they were (its loss on this batch, if known)
            lr = 0.0
            self._set(params, w, g, 0.0)
            result = held_loss
        for p in params:
            p.grad = None
        walker["step"] += 1
        self.last = StepInfo(
            walker["step"],
            rates,
            losses,
            winner,
            float(lr),
            float(walker["loss"]) if walker["loss"] is not None else math.nan,
            moved,
            not any_finite,
            calls,
        )
        if self.writer is not None:
            self.last.coords = self._coords(w, g, rates)
            self.writer.add(step_row(self.last))
            self._warn_record()  # (a recording that stopped never raises from step)
        if self.grid == "adaptive":
            walker["rates"], walker["span"] = adapt_rates(
                walker["rates"], walker["span"], self.span0, winner, not moved
            )
        self.state["walker"] = walker
        return result.reshape(())
