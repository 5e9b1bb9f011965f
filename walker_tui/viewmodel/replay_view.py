"""A recording played (the app's replay mode): :class:`RunView`'s keys and figures, with what a
recording changes about them. End plays the rest at once; a played-out replay's notes say how to
travel, not how to reseed; space back in a played-out replay plays on from the epoch shown; and
x skips the training time a recording does not hold; w has nothing new to save."""

from __future__ import annotations

from typing import Any

from walker_tui.config import Config
from walker_tui.numbers import epochs
from walker_tui.viewmodel.driver import Control
from walker_tui.viewmodel.view import ENDED, X_AXES, Note, RunView

__all__ = ["ReplayView"]

AXES = tuple(n for n in X_AXES if n != "seconds")  # a recording holds no training time


class ReplayView(RunView):
    """``recording`` (a Recording, walker_tui.viewmodel.replay) as the app shows it."""

    def __init__(self, cfg: Config, control: Control, recording: Any, unit: str = "epoch"):
        super().__init__(cfg, control, unit)
        self.replay = recording
        self.waiting = "still reading the recording: its epochs show in a moment"

    def on_disk(self) -> Note:
        """w: the run is a recording already (the app records no copy of what it plays)."""
        return Note("this replay plays a recording on disk already: w saves nothing new")

    def newest(self) -> Note | bool:
        """End: the last recorded epoch; the epochs not yet played are played at once, and
        the view follows them there."""
        if self.done or self.error:
            return super().newest()
        self.unsay()
        self.view_epoch = None
        self.control.set(to_end=True)
        return True

    def finished(self) -> Note | None:
        note = super().finished()
        if note is None or self.error:
            return note
        back = "left, page up or home go back"
        if self.view_epoch is not None:
            back = "n, right, page down or end go forth; " + back
        if self.state == "ended":
            return Note(f"the recording ends at {self.unit} {self.latest_epoch}: {back}, q quits")
        return Note(
            f"the replay has played all {epochs(self.latest_epoch, self.unit)} (the run "
            f"{ENDED.get(self.state, self.state)}): {back}, q quits"
        )

    def resume_at(self) -> int | None:
        """Back in a played-out replay, space plays on from the epoch shown: that epoch (None:
        space pauses or plays as ever)."""
        if self.done and not self.error and self.view_epoch:
            return self.view_epoch
        return None

    def toggle_x_axis(self, axes: tuple[str, ...] = AXES) -> Note | None:
        super().toggle_x_axis(axes)
        if self.x_axis == "epoch":  # (round again: say why the time never came)
            return Note("a recording holds no training time: its curve runs along epochs or "
                        "loss evaluations")  # fmt: skip
        return None
