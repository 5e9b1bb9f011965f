"""Your own model as a problem: ``--problem FILE.py:FUNC`` or ``--problem package.module:FUNC``.

``FUNC()`` returns ``(model, loss_fn, data)`` or ``(model, loss_fn, data, held_out)``: a
``torch.nn.Module``, a callable ``loss_fn(outputs, targets)`` giving a scalar tensor (a mean over
the batch), ``data = (inputs, targets)`` and optionally ``held_out = (inputs, targets)``, tensors
whose first dimension is the sample. The model's trainable parameters, flattened, are the
weights the walker and the racers move; the model itself is never changed.

Candidates are scored in one forward-only pass over the k stacked parameter vectors
(``torch.func.functional_call`` under ``torch.func.vmap``); a model that cannot be vmapped (batch
norm in training mode, an in-place buffer update) is scored one candidate at a time, with a
one-line notice. Records carry the candidates' coordinates in the surface's plane (two random
directions through the start, filter-normalised as in Li et al. 2018, "Visualizing the Loss
Landscape of Neural Nets"), not millions of weights.

Pure torch, no UI.
"""

from __future__ import annotations

import copy
import ctypes
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from walker_tui.core.plane import directions
from walker_tui.core.problems.base import Problem, span
from walker_tui.core.problems.user_model import (
    ModelSpec,
    UserProblemError,
    check_spec,
    user_error,
    user_spec,
)
from walker_tui.core.ranking import host64, wide_dtype
from walker_tui.core.seeds import seed64

# --- the problem ---


def pass_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The order of the ``n`` samples in pass ``epoch`` (on the CPU): a function of the seed and
    the pass alone, so a rewind, or every rank of a data-parallel run, draws the same."""
    gen = torch.Generator().manual_seed(seed64(seed * 1_000_003 + epoch))
    return torch.randperm(n, generator=gen)


_HEAP_KEPT = False


def keep_heap() -> None:
    """Let freed memory up to 32 MB a block stay in glibc's heap (``mallopt``: blocks below
    32 MB from the heap, not from fresh mmaps; the heap trimmed only past 64 MB free), once per
    process, where the C library is glibc. A vmapped pass over a model makes k copies of every
    activation that we cannot chunk, and glibc's defaults hand them back to the kernel after
    each pass, so every pass paid page faults to zero fresh pages again (measured:
    docs/design/performance.md). Only the thresholds change; nothing is allocated."""
    global _HEAP_KEPT
    if _HEAP_KEPT or not sys.platform.startswith("linux"):
        return
    _HEAP_KEPT = True
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt symbol to speak of)
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # (malloc.h)
    mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, 64 << 20)


class ModelProblem(Problem):
    """A torch model's loss over its flattened trainable parameters, on its data or on the
    mini-batch the trainer set (:meth:`use_batch`)."""

    name = "model"
    batched = True  # its trainers go through batched.Batched: epochs are passes over the data

    def __init__(
        self,
        spec: ModelSpec,
        seed: int = 17,
        device: str | torch.device = "cpu",
        batch_size: int | None = None,
    ) -> None:
        self.spec, self.seed, self.device = spec, seed, torch.device(device)
        if self.device.type == "cpu":
            keep_heap()  # (its activations in the CPU's heap, not fresh pages every pass)
        self.label = spec.label
        self.batch_size = batch_size
        model = spec.model.to(self.device)
        self.model, self.loss_fn = model, spec.loss_fn
        named = list(model.named_parameters())
        self.names = [n for n, p in named if p.requires_grad]
        self.shapes = [p.shape for n, p in named if p.requires_grad]
        self.numels = [p.numel() for n, p in named if p.requires_grad]
        # the rest goes into every call as it is: frozen parameters and buffers
        self.fixed = {n: p.detach() for n, p in named if not p.requires_grad}
        self.fixed |= dict(model.named_buffers())
        trainable = [p.detach().reshape(-1) for n, p in named if p.requires_grad]
        self.w0 = torch.cat(trainable).to(torch.float32)
        self.d = int(self.w0.numel())
        self.x, self.y = (t.to(self.device) for t in spec.data)
        self.n = len(self.x)
        self.held = None if spec.held is None else tuple(t.to(self.device) for t in spec.held)
        try:
            self.classes = self._is_classifier()
        except Exception:  # noqa: BLE001 (their forward fails: probe() names their line)
            self.classes = False
        self.vmapped = True
        self._vmap_works = False  # a vmapped call succeeded (from then on, errors are raised)
        self.notice: str | None = None  # a one-line notice for the user (vmap fell back)
        self._batch: tuple[torch.Tensor, torch.Tensor] | None = None
        # the surface's own copy of the model, taken now, before any training: the surveyor's
        # thread evaluates the surface while training runs, and a copy taken then would read the
        # trainer's module in the middle of a vmapped call (its parameters batched tensors)
        self._copy: torch.nn.Module = copy.deepcopy(self.model)
        self._make_plane()

    # --- evaluating ---

    def _params(self, w: torch.Tensor) -> dict[str, torch.Tensor]:
        out, i = dict(self.fixed), 0
        for name, shape, size in zip(self.names, self.shapes, self.numels, strict=True):
            out[name] = w[i : i + size].view(shape)
            i += size
        return out

    def _surface_module(self) -> torch.nn.Module:
        """The surface's own copy of the model, taken before training began: functional_call swaps
        a module's parameters while it runs, so the surveyor's thread must not share the
        trainer's module, nor copy it while a candidate pass is using it."""
        return self._copy

    def _loss_at(
        self, w: torch.Tensor, x: torch.Tensor, y: torch.Tensor, module: Any = None
    ) -> torch.Tensor:
        out = torch.func.functional_call(module or self.model, self._params(w), (x,))
        return self.loss_fn(out, y)

    def _losses_on(
        self, W: torch.Tensor, x: torch.Tensor, y: torch.Tensor, module: Any = None
    ) -> torch.Tensor:
        """Losses of the k columns of W on (x, y): one vmapped pass, or one by one."""
        if self.vmapped:
            # randomness="same": a dropout mask is the same for every candidate (a fair
            # comparison); the candidates as the rows of W^T, so each one's parameters are
            # contiguous slices (about 5% faster than strided columns)
            run = torch.func.vmap(self._loss_at, in_dims=(0, None, None, None), randomness="same")
            rows = W.T.contiguous()
            if self._vmap_works:  # it did once: an error now is the model's own, raised
                return run(rows, x, y, module)
            try:
                out = run(rows, x, y, module)
                self._vmap_works = True
                return out
            except Exception as error:  # noqa: BLE001 (the first call: any model vmap cannot trace)
                self.vmapped = False
                first = (str(error).strip().splitlines() or [""])[0][:120]
                self.notice = (
                    f"candidates scored one at a time: the model cannot be vmapped "
                    f"({type(error).__name__}: {first})"
                )
        return torch.stack([self._loss_at(W[:, j], x, y, module) for j in range(W.shape[1])])

    def _data(self) -> tuple[torch.Tensor, torch.Tensor]:
        return (self.x, self.y) if self._batch is None else self._batch

    @property
    def on_batch(self) -> bool:
        """Evaluating on a mini-batch (not all the data)."""
        return self._batch is not None

    def use_batch(self, idx: torch.Tensor | None) -> None:
        """Evaluate on these samples from now on (None: all the data)."""
        self._batch = None if idx is None else (self.x[idx], self.y[idx])

    def batches(self, size: int, epoch: int) -> Iterator[torch.Tensor]:
        """One pass over the data in shuffled mini-batches of ``size`` (the last may be smaller).
        The order is a function of the seed and the pass alone, so a rewind replays it."""
        yield from pass_order(self.n, self.seed, epoch).to(self.device).split(size)

    def losses(self, W: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self._losses_on(W.to(torch.float32), *self._data())

    def loss_grad(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w = w.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            loss = self._loss_at(w, *self._data())
            if loss.numel() != 1:
                raise UserProblemError(
                    f"{self.label}: loss_fn returned a tensor of shape {tuple(loss.shape)}, "
                    "not a scalar (reduce it: .mean())"
                )
            loss = loss.reshape(())
            (grad,) = torch.autograd.grad(loss, w, allow_unused=True)
        if grad is None:
            grad = torch.zeros_like(w)
        return loss.detach().float(), grad.detach()

    def full_loss(self, w: torch.Tensor, held: bool = False) -> torch.Tensor:
        """The loss of one weight vector on all the training data (or the held-out data), in
        chunks, weighted by their sizes (the loss is a mean over the batch); no graph."""
        x, y = self.held if held else (self.x, self.y)
        step = max(1, min(len(x), 4096))
        wide = wide_dtype(self.device)  # (float64 where the device has it)
        total = torch.zeros((), dtype=wide, device=self.device)
        with torch.no_grad():
            for s in range(0, len(x), step):
                part = self._loss_at(w, x[s : s + step], y[s : s + step])
                total = total + part.reshape(()).to(wide) * len(x[s : s + step])
        return (total / len(x)).float()

    def _is_classifier(self) -> bool:
        """Accuracy is shown where the targets are class indices (integer) and the model gives
        one score per class."""
        y = self.y if self.held is None else self.held[1]
        if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
            return False
        with torch.no_grad():
            out = torch.func.functional_call(self.model, self._params(self.w0), (self.x[:2],))
        return isinstance(out, torch.Tensor) and out.dim() == 2 and out.shape[1] > 1

    def accuracy(self, w: torch.Tensor, held: bool = True) -> torch.Tensor:
        x, y = self.held if held and self.held is not None else (self.x, self.y)
        hits = torch.zeros((), dtype=wide_dtype(self.device), device=self.device)
        with torch.no_grad():
            for s in range(0, len(x), 4096):
                out = torch.func.functional_call(self.model, self._params(w), (x[s : s + 4096],))
                hits = hits + (out.argmax(1) == y[s : s + 4096]).sum()
        return (hits / len(x)).float()

    def metric_names(self) -> list[str]:
        if self.held is not None:
            return ["held-out loss"] + (["held-out accuracy"] if self.classes else [])
        return ["accuracy"] if self.classes else []

    def metrics(self, w: torch.Tensor) -> dict[str, torch.Tensor]:
        """What is shown beside the training loss each epoch (device tensors: no sync here)."""
        out: dict[str, torch.Tensor] = {}
        if self.held is not None:
            out["held-out loss"] = self.full_loss(w, held=True)
            if self.classes:
                out["held-out accuracy"] = self.accuracy(w)
        elif self.classes:
            out["accuracy"] = self.accuracy(w, held=False)
        return out

    def minimum(self) -> None:
        return None

    # --- the view: a plane through the start ---

    def _make_plane(self) -> None:
        """The one plane (walker_tui.core.plane): two filter-normalised random directions through
        w0, seeded by the run's seed: fixed for the run, and the plane WalkerSGD(seed=...)
        records the same model in."""
        w0 = host64(self.w0)
        parts, i = [], 0
        for shape, size in zip(self.shapes, self.numels, strict=True):
            parts.append(w0[i : i + size].view(shape))
            i += size
        basis = directions(parts, self.seed)  # d x 2
        gram = basis.T @ basis
        self.basis64 = basis
        self.origin = self.w0.detach().clone()
        self.basis = basis.to(self.device, torch.float32)
        # least-squares coordinates of w - w0 in the plane: (B^T B)^-1 B^T
        self.proj = (torch.linalg.pinv(gram) @ basis.T).to(self.device, torch.float32)

    def view(self, W: torch.Tensor) -> torch.Tensor:
        """Plane coordinates (2 x k) of weight vectors (d x k): what records hold."""
        return self.proj @ (W.to(torch.float32) - self.origin[:, None])

    def plane(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(2), np.eye(2)  # records are plane coordinates already (view)

    @property
    def data_points(self) -> int:
        return self.n

    @property
    def surface_cost(self) -> float:
        return float(max(1, self.n * self.d))  # about d multiply-adds a sample

    def surface(self, points: torch.Tensor) -> np.ndarray:
        """Full-data losses at plane points (2 x m, float64), in chunks."""
        chunk = self.surface_chunk
        out = []
        with torch.no_grad():
            for s in range(0, points.shape[1], chunk):
                p = points[:, s : s + chunk].to(self.device, torch.float32)
                W = self.origin[:, None] + self.basis @ p
                out.append(host64(self._full_losses(W)))
        return torch.cat(out).numpy()

    def _full_losses(self, W: torch.Tensor) -> torch.Tensor:
        step = max(1, min(self.n, 4096))
        wide = wide_dtype(self.device)
        total = torch.zeros(W.shape[1], dtype=wide, device=self.device)
        module = self._surface_module()
        for s in range(0, self.n, step):
            x, y = self.x[s : s + step], self.y[s : s + step]
            total = total + self._losses_on(W, x, y, module).to(wide) * len(x)
        return total / self.n

    def exact_loss(self, W: torch.Tensor) -> torch.Tensor:
        """Full-data losses of weight vectors (d x k), in float64 on the CPU."""
        with torch.no_grad():
            return self._full_losses(W.to(self.device, torch.float32)).cpu()

    def shard(self, rank: int, world: int, device: torch.device) -> ModelProblem:
        """Rank ``rank``'s part of the training data and of the held-out data, on ``device``
        (the model goes there too; its copy for the surface is made afresh)."""
        part = self._moved(device)
        # (the whole one stays where it is; copied from the surface's copy, which no candidate
        # pass ever uses, so a shard taken mid-run never copies a module in the middle of a call)
        part.model = copy.deepcopy(self._copy).to(device)
        part.fixed = {k: v.to(device) for k, v in self.fixed.items()}
        lo, hi = span(self.n, rank, world)
        part.x, part.y, part.n = self.x[lo:hi].to(device), self.y[lo:hi].to(device), hi - lo
        part.global_n, part.offset = self.n, lo
        if self.held is not None:
            hlo, hhi = span(len(self.held[0]), rank, world)
            part.held = tuple(t[hlo:hhi].to(device) for t in self.held)
        part.origin = self.origin.to(device)
        part.basis, part.proj = self.basis.to(device), self.proj.to(device)
        part._batch = None
        part._copy = copy.deepcopy(part.model)
        return part

    def sample(self, m: int) -> ModelProblem:
        if m >= self.n:
            return self
        idx = self._sample_rows(m)
        part = copy.copy(self)
        part.x, part.y, part.n = self.x[idx], self.y[idx], m
        return part


# --- the built-in demo: a classifier of the UCI handwritten digits ---

DIGITS_FILE = Path(__file__).parent / "datasets" / "digits.npz"


def digits() -> tuple[Any, ...]:
    """A 64-32-10 tanh MLP on the UCI 8x8 handwritten digits (1,797 images, 10 classes), 1,437 to
    train on and 360 held out (a fixed split, the same for every seed), cross-entropy loss.

    The data: "Optical Recognition of Handwritten Digits", E. Alpaydin and C. Kaynak (1998), UCI
    Machine Learning Repository, CC BY 4.0 (the 1,797-image test part, as scikit-learn ships it);
    pixels 0..16, scaled here to 0..1.
    """
    with np.load(DIGITS_FILE) as f:
        images, labels = f["images"], f["labels"]
    x = torch.tensor(images.reshape(len(images), -1), dtype=torch.float32) / 16.0
    y = torch.tensor(labels, dtype=torch.long)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    held, train = order[:360], order[360:]
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10))
    loss = torch.nn.functional.cross_entropy
    return model, loss, (x[train], y[train]), (x[held], y[held])


BUILTIN_MODELS: dict[str, Callable[[], tuple[Any, ...]]] = {"digits": digits}


def model_spec(name: str, seed: int) -> ModelSpec:
    """The spec of a built-in model problem or a user's ``FILE.py:FUNC``."""
    if name in BUILTIN_MODELS:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed64(seed))
            result = BUILTIN_MODELS[name]()
        return check_spec(result, name, label=name)
    return user_spec(name, seed)


def make_model_problem(
    name: str, seed: int, device: str | torch.device, batch_size: int | None = None
) -> ModelProblem:
    problem = ModelProblem(model_spec(name, seed), seed, device, batch_size)
    problem.name = name
    probe(problem)
    return problem


def probe(problem: ModelProblem) -> None:
    """Run the user's code once, on a couple of samples, before any training: a loss that is not
    a scalar, or an error in their forward or loss, is found here, with their line."""
    spec = problem.spec
    x, y = problem.x[:2], problem.y[:2]
    w = problem.w0.clone().requires_grad_(True)
    try:
        loss = problem._loss_at(w, x, y)
    except Exception as error:
        raise UserProblemError(user_error(error, spec.label, spec.files)) from None
    if not isinstance(loss, torch.Tensor):
        raise UserProblemError(
            f"{spec.label}: loss_fn must return a tensor, got {type(loss).__name__}"
        )
    if loss.numel() != 1:
        raise UserProblemError(
            f"{spec.label}: loss_fn returned a tensor of shape {tuple(loss.shape)}, not a scalar "
            "(reduce it: .mean())"
        )
    if not loss.requires_grad:
        raise UserProblemError(
            f"{spec.label}: the loss does not depend on any trainable parameter (no gradient)"
        )
    # can the candidates be vmapped? (found now, so the notice shows from the start)
    problem.use_batch(torch.arange(min(2, problem.n), device=problem.device))
    try:
        problem.losses(torch.stack([problem.w0, problem.w0], 1))
    except Exception as error:
        raise UserProblemError(user_error(error, spec.label, spec.files)) from None
    finally:
        problem.use_batch(None)
    # the loss at the start weights, on all the data: a nan or inf there is the user's loss (or
    # data), not a divergence; said before any training (it read "Diverged at epoch 1")
    try:
        start = float(problem.full_loss(problem.w0))
    except Exception as error:
        raise UserProblemError(user_error(error, spec.label, spec.files)) from None
    if not math.isfinite(start):
        raise UserProblemError(
            f"{spec.label}: the loss at the start weights is {start} on the training data, "
            "before any step: check loss_fn and the data (a log of 0, a division by 0, nan "
            "inputs)"
        )
    if problem.held is not None:
        try:
            problem._loss_at(problem.w0, problem.held[0][:2], problem.held[1][:2])
        except Exception as error:
            raise UserProblemError(
                user_error(error, f"{spec.label} (held-out data)", spec.files)
            ) from None
