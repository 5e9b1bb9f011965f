"""WalkerSGD, the walker as a ``torch.optim.Optimizer``: a thin shell (arguments checked, state
gathered into a :class:`walker_tui.optim.walk.Walk`) over plain functions: walk.py (the
decision of walker_tui.core.decision applied, the directions), closure.py (``step(closure)``),
attached.py (``step()`` with the model attached) and reuse.py (steps at a reused rate), the rules
the app's engine walks by. How it fits Lightning, Hugging Face's Trainer and torch's
schedulers: docs/guides/walkersgd-frameworks.md. Pure torch: no UI, no I/O (the recording hangs
on the step hooks: recorder.py)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch

from walker_tui.catalog import DIRECTIONS, model_lrs
from walker_tui.core.adaptive import log_span
from walker_tui.core.edges import EdgeWatch
from walker_tui.core.grid import grid_and_spec
from walker_tui.optim.attached import NOT_SCORED, decide_on, flush_pending, hold, landing_loss
from walker_tui.optim.closure import step_closure
from walker_tui.optim.info import StepInfo
from walker_tui.optim.scoring import Scorer, unwrapped
from walker_tui.optim.walk import Walk
from walker_tui.recording.ends import check_metric, end_record, outcome_of_exit

__all__ = ["StepInfo", "WalkerSGD"]


class WalkerSGD(torch.optim.Optimizer):
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
      Lightning passes one), ``step`` calls it once, then as without. ``opt.last`` is then the
      step taken at the last training forward, one ``step()`` behind, and so are the weights
      until a training forward comes: ``flush()`` takes the pending step now (before
      evaluating or saving).
    * Under ``torch.distributed`` (DDP, more than one rank), every rank scores the candidates
      on its own batch and the candidates' losses are averaged across ranks before the
      decision, so all ranks take the same winner (``sync=False`` turns that off).

    **Along adam** on a fixed grid (no ``stay``) not every step scores: between
    scorings the walk steps at the mean of the last winning rates (times ``lr``), at the cost
    of its direction's own optimizer, and scores again sooner when the winners' mean moves or
    the loss jumps (walker_tui.core.schedule, the app's rule; attached, the loss of a reused
    step is the model's own forward's at it, told at the ``step()`` after it). ``last.scored``
    says which; sgd and momentum score every step.

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
        self._hooks: list[Any] = []
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
        lrs = {float(g.get("lr", 1.0)) for g in getattr(self, "param_groups", [])}
        lrs.add(float(param_group.get("lr", self.defaults.get("lr", 1.0))))
        if len(lrs) != 1:
            raise ValueError(
                f"WalkerSGD: every parameter group shares one lr (a scale on the one grid); got "
                f"{sorted(lrs)}"
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
        if self.last is None and self.state["walker"].get("pending"):
            raise RuntimeError(
                "WalkerSGD.log: attached, the first step() holds the gradient; the walk's first "
                "step is taken at the model's next training forward, and log() adds to that "
                "step's row (attached, opt.last and the recording describe the step taken at "
                "the last training forward, one step() behind)"
            )
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
        if not isinstance(model, torch.nn.Module):
            raise TypeError(
                f"WalkerSGD(model=...): the model must be a torch.nn.Module (the module whose "
                f"forward gives the loss), got a {type(model).__name__}"
            )
        self.detach()
        module = unwrapped(model)
        self.scorer = Scorer(module, self._params(), loss_fn, vmap)
        self._hooks = [
            module.register_forward_pre_hook(self._before_forward, with_kwargs=True),
            module.register_forward_hook(self._after_forward, with_kwargs=True),
        ]
        return self

    def detach(self) -> None:
        """Undo :meth:`attach` (``step`` needs a closure again)."""
        for hook in getattr(self, "_hooks", []):
            hook.remove()
        self._hooks, self.scorer = [], None

    def flush(self) -> bool:
        """Attached: take the step the last ``step()`` prepared now, without scoring it (no
        training forward came since to score it on): call it at the end of training, before
        evaluating or saving, so the weights are the last ``step()``'s. Along adam on a fixed
        grid it steps at the schedule's reused rate, else at the last winning rate; recorded as
        a step that did not score (``last.scored`` False, ``last.lr`` the rate taken). The next
        training forward then takes no step. Returns whether it took one: False with nothing
        pending (and always in the closure mode, which leaves nothing pending), before any step
        has won (after the first ``step()``) and when the last step stayed put."""
        if self.scorer is None:
            return False
        walk = self._walk()
        took = flush_pending(walk)
        if took:
            self.last = walk.last
            if self.recorder is not None:
                self.recorder.after_step(self, (), {})
        return took

    def _before_forward(self, module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        scorer = getattr(self, "scorer", None)  # (None in a deep copy: torch's __getstate__)
        if scorer is None or scorer.busy:
            return
        if not module.training or not torch.is_grad_enabled():
            if module.training and self.state["walker"].get("pending"):
                self.flags.no_grad = True  # (said if no training forward comes: step's error)
            return
        self.flags.no_grad = False
        if self.state["walker"].get("pending"):
            walk = self._walk()
            decide_on(walk, scorer, args, kwargs)
            self.last = walk.last

    def _after_forward(self, module: torch.nn.Module, args: tuple, kwargs: dict, out: Any) -> None:
        """The model's own forward at a reused rate: its loss, for the schedule (attached.py)."""
        scorer = getattr(self, "scorer", None)
        if scorer is not None and not scorer.busy and self.flags.landing:
            landing_loss(self._walk(), out, args, kwargs, scorer)

    def _walk(self) -> Walk:
        """The explicit state the step functions work on (walk.py): the parameters, the state
        (``walker`` a copy the step stores back), the options, the flags and ``last``."""
        return Walk(
            self._params(), self.state, dict(self.state["walker"]), self.direction,
            self.grid == "adaptive", self.stay, self.span0, self.sync, self._scale(),
            self.recorder is not None, self._edges, self.flags, self.last,
        )  # fmt: skip

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
        walk = self._walk()
        result = step_closure(walk, closure, self.forward_only)
        self.last = walk.last
        return result

    def _step_attached(self, closure: Callable[[], Any] | None) -> torch.Tensor | None:
        """Hold the gradient the loop's backward left in ``.grad`` for the next training
        forward's decision (attached.py), after the closure, if given, ran once."""
        result = None
        if closure is not None:
            with torch.enable_grad():
                result = closure()
        if self.state["walker"].get("pending"):
            raise RuntimeError(self._not_scored())
        walk = self._walk()
        hold(walk)
        if result is not None:
            return torch.as_tensor(result).detach()
        loss = self.state["walker"]["loss"]
        return None if loss is None else torch.tensor(loss)

    def _not_scored(self) -> str:
        """Why the step the last ``step()`` held was never scored, as the error says it."""
        assert self.scorer is not None
        if not self.scorer.module.training:
            return (
                "WalkerSGD.step: the attached model is in eval mode, so no training forward "
                "scored the step the last step() held: call model.train() before training "
                "forwards (Lightning 2.x can keep a module in eval mode at fit)"
            )
        if self.flags.no_grad:
            return (
                "WalkerSGD.step: the attached model's forwards since the last step() ran with "
                "grad disabled (torch.no_grad or inference_mode), so none scored the step it "
                "held: run training forwards with grad enabled"
            )
        return NOT_SCORED


class _Flags:
    """Mutable flags a wrapper that copies the optimizer's ``__dict__`` still sees change."""

    scoring = False  # a closure call or forward scores a candidate (not the step's own)
    grad_on_warned = False  # the forward_only warning was given (closure.py)
    landing = False  # the attached model's next forward is at a reused rate (attached.py)
    landed: torch.Tensor | None = None  # its loss, until step() tells the schedule
    no_grad = False  # a train-mode forward came under no_grad while a step was pending
