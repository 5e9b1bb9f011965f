"""WalkerSGD's recording (``record=PATH``) as a recorder the optimizer's step hooks drive: the
optimizer does no I/O. Before the first step it fixes the plane the candidates are drawn in;
after each step it writes the row of the walker's newest decision. Pure torch and numpy."""

from __future__ import annotations

import atexit
from typing import Any

import numpy as np
import torch

from walker_tui.core.plane import directions
from walker_tui.core.ranking import wide_dtype
from walker_tui.recording.ends import end_record
from walker_tui.recording.steps import open_record, step_row, warn_stopped

__all__ = ["Recorder"]


def _dot(xs: list[torch.Tensor], ys: list[torch.Tensor]) -> float:
    dtype = wide_dtype(xs[0].device) if xs else torch.float64
    return float(
        sum(torch.sum(x * y, dtype=dtype).cpu().double() for x, y in zip(xs, ys, strict=True))
    )


class Recorder:
    """The recording of WalkerSGD ``opt`` at ``path``: hooks itself on ``opt``'s steps.

    A network's weights are far too many to record, so each candidate is recorded as its two
    coordinates in a fixed plane through the weights at the first step, spanned by two random
    directions (seeded by the optimizer's ``seed``), filter-normalised as in Li et al. 2018
    (walker_tui.core.plane: the plane ``--problem`` draws the same model in). The coordinates
    are the least-squares projection of ``w - w0`` onto the plane."""

    def __init__(self, opt: Any, params: list[torch.Tensor], path: Any, options: Any) -> None:
        self.params = params
        self.seed = opt.seed
        weights = sum(p.numel() for p in params)
        self.writer, self.at_exit = open_record(path, opt, weights, options)
        self.plane: tuple[list[torch.Tensor], list[list[torch.Tensor]], np.ndarray] | None = None
        self.written = 0  # the last step written
        self.warned = False
        self.hooks = [
            opt.register_step_pre_hook(self.before_step),
            opt.register_step_post_hook(self.after_step),
        ]

    # --- the hooks ---

    def before_step(self, opt: Any, args: Any, kwargs: Any) -> None:
        if self.plane is None:
            self.plane = self._make_plane(self.params)

    def after_step(self, opt: Any, args: Any, kwargs: Any) -> None:
        """Write the newest decision (in the attached mode it was taken in the forward before
        this step), and warn once if the recording stopped."""
        last = opt.last
        if last is not None and last.step > self.written:
            if last.line is not None:
                w, u = last.line
                # a reused rate tried no candidate: every column is where the step went
                rates = last.rates if last.scored else [last.lr] * len(last.rates)
                last.coords, last.line = self.coords(w, u, rates), None
            self.writer.add(step_row(last))
            self.written = last.step
        self.warn()

    # --- the file ---

    @property
    def failure(self) -> str | None:
        return self.writer.failure

    def warn(self) -> None:
        """Warn once that the recording stopped; training goes on without it."""
        if self.writer.failure is not None and not self.warned:
            self.warned = True
            warn_stopped(self.writer.failure)

    def log(self, step: int, values: dict[str, float]) -> None:
        self.writer.log(step, values)
        self.warn()

    def end(self, end: dict[str, Any]) -> None:
        self.writer.close(end)
        atexit.unregister(self.at_exit)
        self.warn()

    def close(self, outcome: str, step: int | None) -> None:
        self.end(end_record(outcome, step))

    # --- the plane ---

    def _make_plane(self, params: list[torch.Tensor]) -> tuple:
        """w0 and the plane's two directions, per parameter, and their Gram's pseudo-inverse
        (a degenerate plane still projects)."""
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
        gram = np.array([[_dot(dirs[a], dirs[b]) for b in range(2)] for a in range(2)])
        return w0, dirs, np.linalg.pinv(gram)

    def coords(self, w: list[torch.Tensor], u: list[torch.Tensor], rates: list[float]):
        """Plane coordinates (2 x k) of the candidates ``w - rate * u``: linear in the rate, so
        four dot products serve them all."""
        if self.plane is None:
            self.plane = self._make_plane(self.params)
        w0, dirs, inv = self.plane
        delta = [a - b for a, b in zip(w, w0, strict=True)]
        dw = np.array([_dot(d, delta) for d in dirs])
        du = np.array([_dot(d, u) for d in dirs])
        rhs = dw[:, None] - du[:, None] * np.asarray(rates, dtype=np.float64)[None, :]
        return inv @ rhs
