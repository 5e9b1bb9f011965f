"""The status line of ``walker-tui watch``: what is shown (following, or back and how many new
epochs came in), the shown run at that epoch, every run's state, then the facts (how the runs
differ, the smoothing, this machine's device), then the latest note.

Items wrap whole to the width, as the app's status line does (widgets/status.py); a small
terminal keeps the first line, the note, then the runs, then the rest.
"""

from __future__ import annotations

import textwrap

from rich.text import Text

from walker_tui.ui.widgets.status import SEP, StatusLine, fit_lines, wrap_items

WATCH_STYLES = {
    "following": "bold green",
    "back": "bold yellow",
    "growing": "green",
    "quiet": "yellow",
    "ended": "magenta",
    "error": "bold red",
    "waiting": "",
    "reading": "cyan",
}

Item = tuple[str, str]


class WatchStatus(StatusLine):
    """Rebuilt whenever the watch's state changes (and once a second, for the runs' ages)."""

    def show_watch(
        self,
        first: list[Item],
        runs: list[Item],
        facts: list[Item],
        note: tuple[str, str] | None = None,
        max_lines: int | None = None,
    ) -> None:
        width = self.content_size.width or max(20, self.app.size.width - 2)
        head = wrap_items(first, width)
        run_lines = wrap_items(runs, width, sep=" · ")
        fact_lines = wrap_items(facts, width)
        notes = []
        if note is not None:
            notes = [[(part, note[1] or "bold yellow")]
                     for part in textwrap.wrap(note[0], max(10, width))[:3]]  # fmt: skip
        budget = max_lines or 10**6
        head, run_lines, fact_lines, notes = fit_lines(head, run_lines, fact_lines, notes, budget)
        lines = head + run_lines + fact_lines + notes
        text = Text()
        for i, line in enumerate(lines):
            sep = " · " if line and line in run_lines else SEP
            for j, (item, style) in enumerate(line):
                if j:
                    text.append(sep)
                text.append(item, style=self.fit(style))
            if i < len(lines) - 1:
                text.append("\n")
        self.styles.height = max(1, len(lines))
        self.update(text)
        self.plain = text.plain  # (for tests and the benchmark: what the line says)

    plain = ""
