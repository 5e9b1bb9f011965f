"""The racers: one-candidate optimizers that race the walker (stepper, momentum, adam, exact,
lbfgs, armijo and the tuning-free prodigy, dadapt, schedulefree), and make_racer by name."""

from __future__ import annotations

import copy
import math
from typing import Any

import torch

from walker_tui.catalog import RACER_NAMES
from walker_tui.core.problems.base import Problem
from walker_tui.core.ranking import host64
from walker_tui.core.trainers.batched import Batched
from walker_tui.core.trainers.loop import Epoch, Trainer, copied, restart, trainer_w0


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
        self.w0 = trainer_w0(problem, w0)
        self.lr = torch.tensor(self.rates, dtype=torch.float32, device=problem.device)
        self.reset()

    @property
    def fixed_rates(self) -> list[float] | None:
        return self.rates

    def reset(self) -> None:
        restart(self)
        self.state: dict[str, Any] = {}

    def state_dict(self) -> dict[str, Any]:
        own = {"epoch": self.epoch, "w": self.w, "grad": self.grad, "loss": self.loss}
        own["evaluations"] = self.evaluations
        return copied(own) | {"state": self.save_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in ("epoch", "evaluations", "w", "grad", "loss"):
            value = state[name]
            setattr(self, name, value.clone() if isinstance(value, torch.Tensor) else value)
        self.load_state(state["state"])

    def save_state(self) -> dict[str, Any]:
        """A copy of ``self.state`` (tensors cloned)."""
        return copied(self.state)

    def load_state(self, saved: dict[str, Any]) -> None:
        self.state = copied(saved)

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
    full_batch = True  # on mini-batches (batched.Batched) it still takes its step on all the data

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
