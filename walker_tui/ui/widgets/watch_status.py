"""The status line of ``walker-tui watch``: what is shown (following, or back and how many new
epochs came in), the shown run at that epoch, every run's state, then the facts (how the runs
differ, the smoothing, this machine's device), then the latest note.

Items wrap whole to the width, as the app's status line does (widgets/status.py); a small
terminal keeps the first line, the note, then the runs, then the rest.
"""

from __future__ import annotations

from walker_tui.ui.widgets.status import ItemLines, fit_lines, note_lines, wrap_items
from walker_tui.viewmodel.frames import WatchStatusFrame


class WatchStatus(ItemLines):
    """Rebuilt whenever the watch's state changes (and once a second, for the runs' ages)."""

    def show(self, frame: WatchStatusFrame, max_lines: int | None = None) -> None:
        width = self.width_now
        head = wrap_items(frame.first, width)
        run_lines = wrap_items(frame.runs, width, sep=" · ")
        fact_lines = wrap_items(frame.facts, width)
        notes = note_lines(frame.note, width)
        budget = max_lines or 10**6
        head, run_lines, fact_lines, notes = fit_lines(head, run_lines, fact_lines, notes, budget)
        text = self.put(head + run_lines + fact_lines + notes, run_lines)
        self.plain = text.plain  # (for tests and the benchmark: what the line says)

    plain = ""
