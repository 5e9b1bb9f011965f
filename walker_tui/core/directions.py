"""``--direction``: what the walker walks along. The one place the update directions live, for the
engine's walker (flat weight vectors, on the device, no host sync) and for ``WalkerSGD`` (each
parameter tensor in turn: the rules are elementwise, so the same floats), as adaptive.py is for
the grid. Pure torch, no UI.

A direction turns the gradient ``g`` at the walk's point ``w`` into an update direction ``u``,
with state of its own; the walker's candidates are ``w - lr_j * u`` for its k rates, and the
winner is chosen as always (scored on the next mini-batch, where there are mini-batches):

* ``sgd``: ``u = g``, no state (today's walker, to the float).
* ``momentum``: heavy ball (Polyak 1964), the ``momentum`` racer's rule: ``v = 0.9 v + g``,
  ``u = v`` (v starts at 0, so the first u is g).
* ``adam``: Adam (Kingma and Ba 2015) as ``torch.optim.Adam`` computes it, at its defaults
  (betas 0.9 and 0.999, eps 1e-8, bias correction): ``m = 0.9 m + 0.1 g``,
  ``v = 0.999 v + 0.001 g^2``, ``u = (m / (1 - 0.9^t)) / (sqrt(v) / sqrt(1 - 0.999^t) + eps)``
  with t the steps taken (m's own count restarts with it: below). The walker then is Adam
  with its rate chosen each step by the k candidates: candidate j is exactly Adam's step at
  rate lr_j.

The state is fed once a step, with the gradient at the walk's point (the previous winner's),
when the candidates are made (:func:`propose`), and kept if the walk takes a step
(:func:`settle`). When the walk does not (an adaptive grid whose candidates all raise the loss,
``--stay``'s zero-rate candidate winning, or no finite candidate), the direction restarts from
the state it had before that step: momentum's velocity goes to 0 (the next u is the gradient),
Adam's first moment m goes to 0 with its own step count (the next u is the gradient scaled by
Adam's second moments, which are kept, as is their count). Why: no step along u lowered the
loss, so u, which carries the past's gradients, no longer points downhill here; the next step
then starts along a descent direction (g, or g over a positive per-coordinate scale), where a
small enough rate lowers the loss on all the data: O'Donoghue and Candes's function-value
restart (2015, "Adaptive restart for accelerated gradient schemes"), which drops momentum when
the loss rises. The two other choices (keep the state, or feed it the same gradient again)
deadlock on all the data, where the gradient at a point that did not move is the same next step
(the runs that showed it: docs/guides/directions.md, "When the walk stays put").
"""

from __future__ import annotations

import torch

from walker_tui.catalog import DIRECTIONS
from walker_tui.core.ranking import wide_dtype

MU = 0.9  # heavy ball's momentum (the momentum racer's)
BETAS = (0.9, 0.999)  # Adam's, torch's defaults
EPS = 1e-8

COUNTS = ("t", "tm")  # the 0-d step counts among a state's tensors (the rest are weight-shaped)

__all__ = [
    *("BETAS", "COUNTS", "DIRECTIONS", "EPS", "MU"),
    *("fresh", "propose", "restarted", "settle"),
]


def _check(name: str) -> None:
    if name not in DIRECTIONS:
        raise ValueError(f"unknown direction {name!r}; choose from {', '.join(DIRECTIONS)}")


def fresh(name: str, like: torch.Tensor) -> dict[str, torch.Tensor]:
    """The state a direction starts with, for weights shaped as ``like``: none for sgd, a zero
    velocity for momentum, zero moments and no step taken for adam (the step count in the
    widest float the device has, so its bias correction is torch's float64 one where it can
    be)."""
    _check(name)
    if name == "sgd":
        return {}
    if name == "momentum":
        return {"v": torch.zeros_like(like)}
    steps = torch.zeros((), dtype=wide_dtype(like.device), device=like.device)
    zeros = torch.zeros_like(like)
    return {"m": zeros, "v": zeros.clone(), "t": steps, "tm": steps.clone()}


def propose(
    name: str, state: dict[str, torch.Tensor], grad: torch.Tensor
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The update direction u for the gradient ``grad`` at the walk's point, and the state
    after feeding it (new tensors: ``state`` is left as it is, for :func:`settle`). For sgd, u
    is ``grad`` itself."""
    if name == "sgd":
        return grad, state
    if name == "momentum":
        v = state["v"] * MU + grad
        return v, {"v": v}
    if name == "adam":
        b1, b2 = BETAS
        t, tm = state["t"] + 1, state["tm"] + 1  # (tm: m's steps since a restart; else t)
        m = torch.lerp(state["m"], grad, 1 - b1)  # (torch.optim.Adam's arithmetic)
        v = state["v"] * b2 + grad * grad * (1 - b2)
        correct1 = (1 - b1**tm).to(grad.dtype)
        root2 = (1 - b2**t).sqrt().to(grad.dtype)
        u = (m / correct1) / (v.sqrt() / root2 + EPS)
        return u, {"m": m, "v": v, "t": t, "tm": tm}
    _check(name)
    raise AssertionError  # (unreachable)


def restarted(name: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state a direction restarts from after a step not taken (see the module's
    docstring): momentum's velocity at 0; Adam's first moment and its step count at 0, its
    second moments and theirs as they were."""
    if name == "momentum":
        return {"v": torch.zeros_like(state["v"])}
    if name == "adam":
        return {**state, "m": torch.zeros_like(state["m"]), "tm": torch.zeros_like(state["tm"])}
    return dict(state)


def settle(
    name: str,
    old: dict[str, torch.Tensor],
    new: dict[str, torch.Tensor],
    moved: torch.Tensor | bool,
) -> dict[str, torch.Tensor]:
    """The state kept after a step: ``new`` where the walk moved, ``old`` restarted where it
    did not (see the module's docstring). ``moved`` may be a 0-d bool tensor on the device (no
    host sync) or a bool."""
    if isinstance(moved, bool):
        return dict(new) if moved else restarted(name, old)
    back = restarted(name, old)
    return {key: torch.where(moved, new[key], back[key]) for key in new}
