"""The status line: problem, device, seed, epoch, winner, target, state, pace; then a summary."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..grids import format_rate
from ..numbers import format_loss, format_target

STATE_STYLES = {
    "running": "bold green",
    "paused": "bold yellow",
    "reached": "bold cyan",
    "limit": "bold magenta",
    "diverged": "bold red",
    "error": "bold red",
    "starting": "bold",
}
# what the state words say on screen: an epoch limit must not read like a finish
STATE_TEXT = {"reached": "target reached", "limit": "epoch limit, target not reached"}


class StatusLine(Static):
    """Two lines of plain facts, rebuilt whenever the app's state changes."""

    def show(
        self,
        *,
        problem: str,
        device: str,
        seed: int,
        epoch: int,
        latest: int,
        rate: float | None,
        rates: list[float],
        step: str | None = None,
        loss: float | None,
        target: float,
        state: str,
        eps: float | None,
        pace: str,
        summary: str,
    ) -> None:
        line = Text()
        epoch_text = f"epoch {epoch}" if epoch == latest else f"epoch {epoch}/{latest}"
        parts = [problem, device, f"seed {seed}", epoch_text]
        if step is not None:  # "start" (epoch 1: no step yet) or "stay" (the walk kept its w)
            parts.append(f"lr {step}")
        elif rate is not None:
            parts.append(f"lr {format_rate(rate, rates)}")
        if loss is not None:
            parts.append(f"loss {format_loss(loss, target)}")
        parts.append(f"target {format_target(target)}")
        line.append(" │ ".join(parts) + "\n")
        if state == "limit" and target <= 0:  # no target to miss
            line.append("epoch limit", style=STATE_STYLES[state])
        else:
            line.append(STATE_TEXT.get(state, state), style=STATE_STYLES.get(state, ""))
        if eps is not None:
            line.append(f" │ {eps:.1f} ep/s")
        line.append(f" │ pace {pace}")
        if summary:
            line.append(" │ " + summary)
        self.update(line)
