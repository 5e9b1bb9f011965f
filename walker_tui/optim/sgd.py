"""WalkerSGD, the walker as a ``torch.optim.Optimizer``: a thin shell over the decision
(walker_tui.core.decision), the directions (core/directions.py) and the adaptive grid
(core/adaptive.py) the app's engine walks by. How it fits Lightning, Hugging Face's Trainer and
torch's schedulers: docs/guides/walkersgd-frameworks.md. Pure torch: no UI, no I/O (the
recording hangs on the step hooks: recorder.py)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch

import walker_tui.core.directions as along
from walker_tui.catalog import DIRECTIONS, model_lrs
from walker_tui.core.adaptive import adapt_rates, log_span
from walker_tui.core.decision import decide
from walker_tui.core.edges import EdgeWatch, shifted_grid
from walker_tui.core.grid import grid_and_spec
from walker_tui.core.ranking import host64, wide_dtype
from walker_tui.optim.closure import ClosureSteps
from walker_tui.optim.info import StepInfo
from walker_tui.optim.reuse import ReusedSteps
from walker_tui.optim.scoring import Scorer, unwrapped, warn_at_user
from walker_tui.recording.ends import check_metric, end_record, outcome_of_exit

__all__ = ["StepInfo", "WalkerSGD"]


class WalkerSGD(ReusedSteps, ClosureSteps, torch.optim.Optimizer):
    """Walker SGD: each step tries every rate of a grid from the same weights and keeps the best.

    ``lrs``: the ``--lrs`` grammar (``"0.1:1:0.1"``, ``"log:1e-4:1:9"``, ``"0.01,0.1"``) or a
    list of rates; left out, the grid ``--problem FILE.py:FUNC`` takes for the direction
    (catalog.model_lrs: sgd ``log:0.001:3:13``, momentum ``log:0.001:1:13``, adam
    ``log:0.0001:0.1:13``). ``direction``: ``"sgd"`` (the gradient), ``"momentum"`` (heavy ball
    0.9) or ``"adam"`` (Adam's step at torch's defaults): the candidates are ``w - lr * u`` for
    the direction's ``u`` (walker_tui.core.directions). ``stay=True`` adds a zero-rate
    candidate (keep the weights). ``grid="adaptive"`` re-centres a log grid on the winning rate
    after every step and never takes a step that raises the loss on the step's batch.

    **lr.** Every parameter group carries ``lr`` (``lr=1.0`` at the start): a scale on the
    whole grid, so the rates tried are ``lr * lrs``. torch's LR schedulers (and transformers'
    ``get_linear_schedule_with_warmup``) scale the grid as they would scale Adam's rate: a
    warm-up starts the grid small, a cosine or linear decay brings it down. All groups share
    one grid and one ``lr``. (``OneCycleLR`` needs ``cycle_momentum=False``: the walker's
    momentum and betas are fixed.) Editing ``param_groups[i]["lrs"]`` sets a new grid.

    **Three ways to step** (``k`` candidates; the first step first takes the gradient at the
    starting weights):

    * ``step(closure)``, the closure as ``torch.optim.LBFGS`` takes it (zero_grad, forward,
      backward, return the loss): each candidate scored by a closure call, ``k`` calls with
      grad, or with ``forward_only=True`` ``k`` calls under ``no_grad`` (the closure skips
      backward: ``if torch.is_grad_enabled(): loss.backward()``) and one at the winner.
      Every candidate call starts from the same random state (the same dropout mask); the
      model's buffers (batch norm's running statistics) see every call: attach the model to
      keep them to the steps taken. ``opt.scoring`` is True while a call is not the step's
      own (log only when False; without ``forward_only`` no call is: log ``last.loss``).
      Gradients accumulated before ``step(closure)`` are an error.
    * attached, ``WalkerSGD(params, model=module)`` (or ``opt.attach(module)``): ``step()``
      needs no closure. It keeps the gradient in ``.grad`` (the loop's own backward, summed
      over any accumulated micro-batches) for the next step; at the module's next training
      forward (``module.training`` and grad enabled: never in eval or ``no_grad``) a forward
      pre-hook scores the candidates on that forward's inputs, forward only, in one vmapped
      pass where the model allows (else one at a time), takes the winner into the weights,
      and the model's own forward then runs at the winner, giving its loss and gradient on
      that batch. The loss is the output's ``.loss`` (a Hugging Face model given labels), a
      dict's ``"loss"``, the output itself if it is a scalar, or ``loss_fn(output, *inputs,
      **kw_inputs)``. Scoring changes no buffer (batch norm's running statistics are the
      steps taken) and all candidates see the same dropout mask. Given a closure too (as
      Lightning passes one), ``step`` calls it once, then as without.
    * Under ``torch.distributed`` (DDP, more than one rank), every rank scores the candidates
      on its own batch and the candidates' losses are averaged across ranks before the
      decision, so all ranks take the same winner (``sync=False`` turns that off).

    **Along adam** on a fixed grid (no ``stay``) not every step scores: between
    scorings the walk steps at the mean of the last winning rates (times ``lr``), at the cost
    of its direction's own optimizer, and scores again sooner when the winners' mean moves or
    the loss jumps (walker_tui.core.schedule, the app's rule; attached, only the winners
    decide). ``last.scored`` says which; sgd and momentum score every step.

    A step whose candidates are all nan or inf stays put (``last.diverged``). ``last`` (a
    :class:`StepInfo`) says what the last step tried and took. On a fixed grid a warning says
    once when the winner keeps to an edge of the grid while the loss falls.

    ``record=PATH`` (``.csv``, ``.json`` or ``.npz``) writes what ``walker-tui run --record``
    writes, one row a step, each candidate at its coordinates in a fixed random plane
    (recorder.py); ``opt.log(name=value)`` adds metrics to the step's row; ``close()`` (or
    ``with WalkerSGD(...) as opt:``) ends the file. The recording never stops the training: a
    write that fails stops the recording, warns once and sets ``record_error``.
    """

    def __init__(
        self,
        params: Any,
        lrs: str | float | Iterable[float] | None = None,
        stay: bool = False,
        grid: str = "fixed",
        forward_only: bool = False,
        record: Any = None,
        record_options: dict[str, Any] | None = None,
        seed: int = 0,
        direction: str = "sgd",
        model: torch.nn.Module | None = None,
        loss_fn: Callable[..., Any] | None = None,
        lr: float = 1.0,
        sync: bool | None = None,
        vmap: bool = True,
    ) -> None:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction={direction!r}: use {', '.join(map(repr, DIRECTIONS))}")
        rates, spec = grid_and_spec(model_lrs(direction) if lrs is None else lrs)
        if grid not in ("fixed", "adaptive"):
            raise ValueError(f"grid={grid!r}: use 'fixed' or 'adaptive'")
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr >= 0):
            raise ValueError(f"lr={lr!r}: a scale on the grid, a number >= 0 (1.0: the grid)")
        self.direction = direction
        self._along_keys = tuple(along.fresh(direction, torch.zeros(1)))  # its state's names
        super().__init__(params, {"lrs": list(rates), "lr": float(lr)})
        for group in self.param_groups:
            if list(group["lrs"]) != rates:
                raise ValueError("WalkerSGD: every parameter group shares the one grid of rates")
        self.spec, self.grid, self.stay = spec, grid, bool(stay)
        self.forward_only, self.seed, self.sync = bool(forward_only), int(seed), sync
        self.span0 = log_span(rates)
        self.state["walker"] = {"step": 0, "rates": list(rates), "span": self.span0, "loss": None}
        self.last: StepInfo | None = None
        self.flags = _Flags()  # shared with a wrapper's copy of __dict__ (Lightning's)
        self._edges = EdgeWatch(len(rates))
        self.scorer: Scorer | None = None
        self._hook: Any = None
        self.recorder: Any = None
        if model is not None:
            self.attach(model, loss_fn, vmap)
        elif loss_fn is not None or not vmap:
            raise ValueError("WalkerSGD: loss_fn and vmap go with model= (the attached mode)")
        if record is not None:
            from walker_tui.optim.recorder import Recorder

            self.recorder = Recorder(self, self._params(), record, record_options)

    # --- the grid ---

    @property
    def scoring(self) -> bool:
        """True while a closure call scores a candidate (not the winner's own call): a
        training_step logs its loss only when this is False."""
        return self.flags.scoring

    @property
    def rates(self) -> list[float]:
        """The rates the next step tries: the grid times the groups' lr (--stay's 0 last)."""
        scale = self._scale()
        return [scale * r for r in self.state["walker"]["rates"]] + ([0.0] if self.stay else [])

    @property
    def k(self) -> int:
        return len(self.rates)

    def _scale(self) -> float:
        """The groups' one ``lr``: a scale on the grid (what a scheduler moves)."""
        scales = {float(g.get("lr", 1.0)) for g in self.param_groups}
        if len(scales) != 1:
            raise ValueError(
                f"WalkerSGD: every parameter group shares one lr (a scale on the one grid); got "
                f"{sorted(scales)}"
            )
        scale = scales.pop()
        if not (math.isfinite(scale) and scale >= 0):
            raise ValueError(f"WalkerSGD: lr {scale!r} is not a scale >= 0")
        return scale

    def _follow_groups(self) -> None:
        """A loop that edits ``param_groups[i]["lrs"]`` between steps sets the grid the next
        step tries (an adaptive grid starts again from it). The edit is checked as the
        constructor checks ``lrs``; a recording keeps its number of rates."""
        seen = self.state["walker"].setdefault("group_lrs", list(self.state["walker"]["rates"]))
        edits = [list(g["lrs"]) if not isinstance(g["lrs"], str) else g["lrs"]
                 for g in self.param_groups]  # fmt: skip
        if all(e == seen for e in edits):
            return
        new = next(e for e in edits if e != seen)
        rates, _ = grid_and_spec(new)
        for group in self.param_groups:  # (one grid for every group, as at construction)
            group["lrs"] = list(rates)
        if self.recorder is not None and len(rates) != len(seen):
            raise ValueError(
                f"WalkerSGD: param_groups' lrs changed from {len(seen)} rates to {len(rates)}; "
                "a recording keeps its number of rates"
            )
        walker = dict(self.state["walker"])
        walker["rates"], walker["group_lrs"] = list(rates), list(rates)
        self.span0 = walker["span"] = log_span(rates)
        self.state["walker"] = walker
        self._edges = EdgeWatch(len(rates))

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """torch's, refusing options WalkerSGD would not use (an AdamW group's weight_decay):
        nothing is silently ignored."""
        unknown = sorted(set(param_group) - {"params", "lr", "lrs", "param_names", "name"})
        if unknown:
            raise ValueError(
                f"WalkerSGD: parameter group option(s) {', '.join(unknown)} are not WalkerSGD's "
                "(its groups share one grid, lrs, and one scale on it, lr): leave them out"
            )
        super().add_param_group(param_group)

    def _params(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.state["walker"] = dict(self.state["walker"])  # (torch keeps non-param state as is)
        self.state["walker"]["rates"] = list(self.state["walker"]["rates"])

    # --- the recording (recorder.py does the writing) ---

    @property
    def writer(self) -> Any:
        return None if self.recorder is None else self.recorder.writer

    @property
    def _plane(self) -> Any:
        return None if self.recorder is None else self.recorder.plane

    @property
    def record_error(self) -> str | None:
        """Why the recording stopped (a full disk, a deleted file), in one line; None if it
        did not (or there is none)."""
        return None if self.recorder is None else self.recorder.failure

    def close(self, outcome: str = "closed") -> None:
        """End the recording cleanly (idempotent; nothing to do without ``record=``), with an
        end record that says the script closed it (``outcome``: another of
        walker_tui.recording.ends.OUTCOMES, such as "reached" or "diverged")."""
        if self.recorder is not None:
            self.recorder.end(end_record(outcome, self._step_count()))

    def _step_count(self) -> int | None:
        return self.last.step if self.last is not None else None

    def __enter__(self) -> WalkerSGD:
        return self

    def __exit__(self, kind: Any, *exc: Any) -> None:
        outcome, how = outcome_of_exit(kind)  # an exception: interrupted or failed, and which
        if self.recorder is not None:
            self.recorder.end(end_record(outcome, self._step_count(), how))

    def log(self, **values: Any) -> None:
        """Add named numbers to the row of the step just taken: ``opt.log(accuracy=0.93)``
        (floats, ints, numpy scalars or 0-d tensors), in the recording and in
        ``last.metrics``; logging a name again for the same step replaces its value. A value
        that is not a finite number raises (naming the metric) before anything is written; so
        does a call before the first step."""
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
        if self.recorder is not None:
            self.recorder.log(self.last.step, clean)

    # --- the attached mode ---

    def attach(
        self, model: torch.nn.Module, loss_fn: Callable[..., Any] | None = None, vmap: bool = True
    ) -> WalkerSGD:
        """Score candidates at ``model``'s next training forward, so ``step()`` needs no
        closure (see the class's docstring). ``model``: the module whose forward sees the
        whole batch and gives the loss (or whose output ``loss_fn`` turns into it); inside
        DistributedDataParallel, the module it wraps."""
        self.detach()
        module = unwrapped(model)
        self.scorer = Scorer(module, self._params(), loss_fn, vmap)
        self._hook = module.register_forward_pre_hook(self._before_forward, with_kwargs=True)
        return self

    def detach(self) -> None:
        """Undo :meth:`attach` (``step`` needs a closure again)."""
        if self._hook is not None:
            self._hook.remove()
        self._hook, self.scorer = None, None

    def _before_forward(self, module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        scorer = getattr(self, "scorer", None)  # (None in a deep copy: torch's __getstate__)
        if scorer is None or scorer.busy or not module.training or not torch.is_grad_enabled():
            return
        if self.state["walker"].get("pending"):
            self._decide_on(scorer, args, kwargs)

    def _decide_on(self, scorer: Scorer, args: tuple, kwargs: dict) -> None:
        """The pending step, decided on this forward's inputs: candidates scored forward only,
        the winner taken into the weights (before the model's own forward runs)."""
        params = self._params()
        walker = dict(self.state["walker"])
        if self._reusing(walker):  # (reuse.py: a step at the reused rate, nothing scored)
            self._reuse_attached(params, walker)
            walker["pending"] = False
            self.state["walker"] = walker
            return
        w = [p.detach().clone() for p in params]
        u, fed = self._directions(params, walker, [self.state[p]["walker_grad"] for p in params])
        scale = walker.get("scale", 1.0)
        rates = [scale * r for r in walker["rates"]] + ([0.0] if self.stay else [])
        extra = [0.0] if self.grid == "adaptive" and not self.stay else []  # w's own loss
        self.flags.scoring = True
        try:
            scored = scorer.losses(w, u, rates + extra, args, kwargs)
        finally:
            self.flags.scoring = False
        values = self._reduce(scored).tolist()
        losses = values[: len(rates)]
        reference = values[len(walker["rates"])] if self.grid == "adaptive" else None
        self._conclude(params, walker, w, u, fed, rates, losses, reference, len(rates + extra))
        walker["pending"] = False
        self.state["walker"] = walker

    def _step_attached(self, closure: Callable[[], Any] | None) -> torch.Tensor | None:
        """Keep the gradient the loop's backward left in ``.grad`` for the next training
        forward's decision. ``.grad`` is the loop's to zero (accumulation sums into it)."""
        result = None
        if closure is not None:
            with torch.enable_grad():
                result = closure()
        params = self._params()
        walker = dict(self.state["walker"])
        if walker.get("pending"):
            raise RuntimeError(
                "WalkerSGD.step: the attached model ran no training forward since the last step "
                "(in train mode, grad enabled), so the step it holds was never scored: attach "
                "the module whose forward the loop calls, or pass a closure to step()"
            )
        if all(p.grad is None for p in params):
            raise RuntimeError(
                "WalkerSGD.step: no gradient in .grad: call loss.backward() before step()"
            )
        for p in params:
            grad = torch.zeros_like(p) if p.grad is None else p.grad.detach().clone()
            self.state[p] = {**self.state[p], "walker_grad": grad}
        walker["pending"], walker["scale"] = True, self._scale()
        self.state["walker"] = walker
        if result is not None:
            return torch.as_tensor(result).detach()
        return None if walker["loss"] is None else torch.tensor(walker["loss"])

    # --- the step ---

    def step(self, closure: Callable[[], Any] | None = None) -> torch.Tensor | None:  # type: ignore[override]
        """One walker step (see the class's docstring); returns the loss held after it (0-d)."""
        if not self._params():
            raise ValueError("WalkerSGD has no parameters")
        self._follow_groups()
        if self.scorer is not None:
            return self._step_attached(closure)
        if closure is None:
            raise RuntimeError(
                "WalkerSGD.step() needs one of two things: a closure (zero_grad, forward, "
                "backward, return the loss: opt.step(closure), as torch.optim.LBFGS takes it), "
                "or the model attached, WalkerSGD(params, model=model) or opt.attach(model), "
                "so that step() needs no closure and scores candidates at the next forward"
            )
        return self._step_closure(closure)

    def _reduce(self, losses: torch.Tensor) -> torch.Tensor:
        """The candidates' losses averaged over the ranks of a torch.distributed run (so every
        rank takes the same winner), on the host in float64."""
        values = losses.detach().reshape(-1).to(wide_dtype(losses.device))
        if self._distributed():
            dist = torch.distributed
            if dist.get_backend() == "gloo":
                values = values.cpu()
            dist.all_reduce(values)
            values = values / dist.get_world_size()
        return host64(values)

    def _distributed(self) -> bool:
        if self.sync is False or not torch.distributed.is_available():
            return False
        return torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1

    def _conclude(self, params, walker, w, u, fed, rates, losses, reference, calls) -> float:
        """The decision on scored candidates, applied: weights, direction state, ``last``, the
        grid's next move and the edge warning. Returns the rate taken."""
        if self.grid == "adaptive" and self.stay:
            reference = losses[len(walker["rates"])]  # (--stay's zero: w's loss on the batch)
        d = decide(losses, rates, self.grid == "adaptive", reference)
        self._note_scored(walker, d.winner, d.moved, losses)  # (reuse.py's schedule)
        self._settle(params, walker, fed, d.moved and rates[d.winner] != 0.0)
        lr = rates[d.winner] if d.moved else 0.0
        self._set(params, w, u, lr)
        if d.moved:
            walker["loss"] = losses[d.winner]
        elif reference is not None and math.isfinite(reference) and not self.stay:
            walker["loss"] = reference  # (w's own loss on this batch)
        walker["step"] += 1
        loss = float(walker["loss"]) if walker["loss"] is not None else math.nan
        line = (w, u) if self.recorder is not None else None
        self.last = StepInfo(walker["step"], rates, losses, d.winner, float(lr), loss, d.moved,
                             d.diverged, calls, line=line)  # fmt: skip
        k = len(walker["rates"])
        if self.grid == "adaptive":
            walker["rates"], walker["span"] = adapt_rates(
                walker["rates"], walker["span"], self.span0, d.winner, not d.moved
            )
        else:
            self._watch_edge(walker["rates"], d.winner, loss, losses[:k], d.moved)
        return lr

    def _watch_edge(self, grid: list[float], winner: int, loss: float, losses, moved) -> None:
        edge = self._edges.see(winner, loss, losses, moved)
        if edge is None:
            return
        which = "smallest" if edge == 0 else "largest"
        warn_at_user(
            f"WalkerSGD: the {which} rate of the grid, {sorted(grid)[0 if edge == 0 else -1]:.3g}"
            f" (times lr), won {self._edges.share:.0%} or more of the last {self._edges.window}"
            " steps while the loss fell: the best rate may lie outside the grid; pass "
            f"lrs={shifted_grid(grid, edge)!r} (the grid moved past that edge) or "
            "grid='adaptive'"
        )

    # --- the direction ---

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


class _Flags:
    """Mutable flags a wrapper that copies the optimizer's ``__dict__`` still sees change."""

    scoring = False
