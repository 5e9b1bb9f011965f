"""The status line: problem, device, seed, epoch, winner, target, state, pace; then a summary."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..grids import format_rate

STATE_STYLES = {
    "running": "bold green",
    "paused": "bold yellow",
    "finished": "bold cyan",
    "diverged": "bold red",
    "error": "bold red",
    "starting": "bold",
}


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
        if rate is not None:
            parts.append(f"lr {format_rate(rate, rates)}")
        if loss is not None:
            parts.append(f"loss {loss:.4g}")
        parts.append(f"target {target:g}")
        line.append(" │ ".join(parts) + "\n")
        line.append(state, style=STATE_STYLES.get(state, ""))
        if eps is not None:
            line.append(f" │ {eps:.1f} ep/s")
        line.append(f" │ pace {pace}")
        if summary:
            line.append(" │ " + summary)
        self.update(line)
