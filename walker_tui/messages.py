"""Messages the training worker posts to the app. They carry plain numbers and numpy arrays only."""

from __future__ import annotations

import numpy as np
from textual.message import Message

from .engine import HostEpoch, Outcome
from .session import SurfaceData


class Started(Message):
    """A session is built: its device, names and start."""

    def __init__(
        self,
        gen: int,
        device: str,
        names: list[str],
        rates: list[float],
        start: tuple[float, float],
        minimum: tuple[float, float] | None,
        origin: np.ndarray,
        proj: np.ndarray,
        target: float = 0.1,
    ) -> None:
        super().__init__()
        self.gen, self.device, self.names, self.rates = gen, device, names, rates
        self.target = target  # the run's --min-loss, resolved for this seed
        self.start, self.minimum = start, minimum
        self.origin, self.proj = origin, proj  # weights w -> plane: proj @ (w - origin)


class Frames(Message):
    """Every epoch since the last message (coalesced), and the outcomes so far."""

    def __init__(
        self,
        gen: int,
        frames: list[dict[str, HostEpoch]],
        outcomes: dict[str, Outcome | None],
        eps: float,
    ) -> None:
        super().__init__()
        self.gen, self.frames, self.outcomes, self.eps = gen, frames, outcomes, eps


class Surface(Message):
    """A new loss grid, when the window changed."""

    def __init__(self, gen: int, surface: SurfaceData) -> None:
        super().__init__()
        self.gen, self.surface = gen, surface


class Failed(Message):
    """The worker hit an error: the text says what."""

    def __init__(self, gen: int, text: str) -> None:
        super().__init__()
        self.gen, self.text = gen, text
