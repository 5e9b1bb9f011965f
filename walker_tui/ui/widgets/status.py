"""The status line: the state first, then the epoch, winner and loss; then the run's facts; then
every racer's outcome; then the latest note (a key's feedback, a warning).

Items wrap whole to the widget's width, never mid-item, so at the smallest terminal the state
word still shows and every racer's outcome stays readable; the widget grows a line where needed.
"""

from __future__ import annotations

import textwrap

from rich.text import Text
from textual.widgets import Static

from walker_tui.numbers import format_eps, format_loss, format_metric, format_target
from walker_tui.ui.colors import palette
from walker_tui.viewmodel.frames import StatusFrame, rate_words

STATE_STYLES = {
    "running": "bold green",
    "paused": "bold yellow",
    "reached": "bold cyan",
    "limit": "bold magenta",
    "ended": "bold magenta",
    "diverged": "bold red",
    "error": "bold red",
    "starting": "bold",
}
# what the state words say on screen: an epoch limit must not read like a finish
STATE_TEXT = {
    "reached": "target reached",
    "limit": "epoch limit, target not reached",
    "ended": "the recording ends here",
}
SEP = " │ "
Item = tuple[str, str]  # (text, style)


def wrap_items(items: list[tuple[str, str]], width: int, sep: str = SEP) -> list[list[tuple]]:
    """Lines of (text, style) items, each line at most ``width`` wide where the items allow:
    an item is never cut (one wider than the line gets a line of its own)."""
    lines: list[list[tuple[str, str]]] = [[]]
    used = 0
    for text, style in items:
        need = len(text) + (len(sep) if lines[-1] else 0)
        if lines[-1] and used + need > width:
            lines.append([])
            used, need = 0, len(text)
        lines[-1].append((text, style))
        used += need
    return [line for line in lines if line]


def fit_lines(head: list, middle: list, facts: list, notes: list, budget: int) -> tuple:
    """What a status of ``budget`` lines keeps, in order: the state word's line, the note (a
    key's feedback), the ``middle`` lines (outcomes, runs), the rest of the first line's items,
    then the facts; returned as the four trimmed parts."""
    notes = notes[: max(1, budget - 1)]
    room = budget - len(head[:1]) - len(notes)
    middle = middle[: max(0, room)]
    room -= len(middle)
    head = head[: 1 + max(0, room)]
    room -= len(head) - 1
    return head, middle, facts[: max(0, room)], notes


class ItemLines(Static):
    """Lines of (text, style) items, their styles fitted to the theme shown."""

    def fit(self, style: str) -> str:
        """A style's colour made readable on this line's background, in the theme shown."""
        background = self.background_colors[1]
        dark = self.app.current_theme.dark if self.is_attached else True
        known = background.rgb if background.a > 0 else None  # (an ANSI theme: the terminal's)
        return palette(known, None, dark).style(style)

    @property
    def width_now(self) -> int:
        return self.content_size.width or max(20, self.app.size.width - 2)

    def put(self, lines: list[list[Item]], dotted: list[list[Item]]) -> Text:
        """Show ``lines``, items apart by SEP (by `` · `` on the rows of ``dotted``: the
        rows themselves, as a state word such as "diverged" stands in an outcome's text too);
        the widget as tall as they are."""
        text = Text()
        for i, line in enumerate(lines):
            sep = " · " if any(line is row for row in dotted) else SEP
            for j, (item, style) in enumerate(line):
                if j:
                    text.append(sep)
                text.append(item, style=self.fit(style))
            if i < len(lines) - 1:
                text.append("\n")
        self.styles.height = max(1, len(lines))
        self.update(text)
        return text


def note_lines(note: tuple[str, str] | None, width: int) -> list[list[Item]]:
    """A note wrapped by words, at most 3 lines (the height counts them)."""
    if note is None:
        return []
    return [
        [(part, note[1] or "bold yellow")] for part in textwrap.wrap(note[0], max(10, width))[:3]
    ]


class StatusLine(ItemLines):
    """Plain facts, rebuilt whenever the app's state changes."""

    def show(self, frame: StatusFrame, max_lines: int | None = None) -> None:
        """The run at the epoch shown; ``max_lines``: a small terminal's budget (then the
        outcomes take one line, the first of ``frame.short`` that fits)."""
        width = self.width_now
        first, facts = first_items(frame), fact_items(frame)
        head, fact_lines = wrap_items(first, width), wrap_items(facts, width)
        if len(head) > 1:  # the first line's overflow (pace) joins the facts, no line of its
            # own: a small terminal's loss curve keeps its row; facts that no longer fit go
            spill = [item for line in head[1:] for item in line]
            keep = max(len(fact_lines), len(wrap_items(spill, width)))  # (the spill stays)
            head, fact_lines = head[:1], wrap_items(spill + facts, width)[:keep]
        summary = frame.summary
        outcomes = outcome_lines([summary] if isinstance(summary, str) else list(summary), width)
        notes = note_lines(frame.note, width)
        budget = max_lines or 10**6
        if len(head) + len(fact_lines) + len(outcomes) + len(notes) > budget and frame.short:
            # one line: the first of the short forms that fits (the best racer and +N)
            line = next((form for form in frame.short if len(form) <= width), frame.short[-1])
            outcomes = outcome_lines([line], width)
        # what a small terminal keeps, in order: the state word's line, the note (a key's
        # feedback), the outcomes, then the rest of the first line's items, then the facts
        head, outcomes, fact_lines, notes = fit_lines(head, outcomes, fact_lines, notes, budget)
        self.put(head + fact_lines + outcomes + notes, outcomes)


def first_items(f: StatusFrame) -> list[Item]:
    """The first line: the state, the epoch, the rate taken, the loss and metrics, the target,
    the speed and the pace."""
    unit, epoch, target = f.unit, f.epoch, f.target
    word = "epoch limit" if f.state == "limit" and target <= 0 else STATE_TEXT.get(f.state, f.state)
    first = [(f.state_text or word, STATE_STYLES.get(f.state, ""))]
    first.append((f"{unit} {epoch}" if epoch == f.latest else f"{unit} {epoch}/{f.latest}", ""))
    # past the walker's end (racers go on): its figures that follow are of its last epoch
    whose = f"walker's last {unit} {f.rec_epoch}: " if f.rec_epoch not in (None, epoch) else ""
    # "start" (epoch 1: no step yet), "stay" (the walk kept its w), or the rate taken (reused:
    # the winners' mean, no candidate scored this step)
    rate = rate_words(f.step, f.rate, f.rates, f.reused)
    if rate:
        first.append((f"{whose}{rate}", ""))
    elif whose:
        first.append((whose.rstrip(": "), ""))
    if f.direction != "sgd":  # (the rate is a step along that direction's u)
        first.append((f"along {f.direction}", ""))
    if f.loss is not None:
        first.append((f"loss {format_loss(f.loss, target)}", ""))
    for name, value in (f.metrics or {}).items():  # a model's held-out loss and accuracy
        first.append((f"{name} {format_metric(name, value)}", ""))
    # (0: never stop early; "target 0" read as aiming at a loss of 0)
    first.append((f"target {format_target(target)}" if target > 0 else "no target", ""))
    if f.eps is not None:
        first.append((f"{format_eps(f.eps)} ep/s", ""))
    first.append((f"pace {f.pace}", ""))
    return first


def fact_items(f: StatusFrame) -> list[Item]:
    """The run's facts: the problem, the device (and its memory), the seed, the data."""
    facts = [(f.problem, ""), (f.device, ""), (f"seed {f.seed}", "")]
    if f.device_use:
        facts.append((f.device_use, ""))
    if f.data:
        facts.append((f.data, ""))
    if f.batch:  # an epoch is a pass in mini-batches: the loss shown is on all the data
        facts.append((f"batches of {f.batch}, loss on all the data", ""))
    return facts


def outcome_lines(parts: list[str], width: int) -> list[list[Item]]:
    """The outcomes; an item wider than the line (an error's text) is wrapped by words, not
    cut off."""
    items = [(line, "") for p in parts if p for line in textwrap.wrap(p, max(10, width))]
    return wrap_items(items, width, sep=" · ")
