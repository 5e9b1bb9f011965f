"""The ``?`` help screen: every key with a word on what it does."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = [
    ("space", "pause / resume training"),
    ("n", "one epoch (pauses first if running)"),
    ("left / right", "back / forth through the recorded epochs (pauses)"),
    ("r", "reseed: next seed, new data and w0, from epoch 0"),
    ("s", "race stepper(s) from the same w0; s again drops it"),
    ("+ / -", "faster / slower pace, up to as fast as it goes"),
    ("x", "loss curve along epochs, loss evaluations or seconds"),
    ("?", "this help"),
    ("q", "quit"),
]


class HelpScreen(ModalScreen[None]):
    """A modal list of the keys; any of escape, ? or q closes it."""

    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "close help"),
    ]

    def compose(self) -> ComposeResult:
        width = max(len(k) for k, _ in KEYS)
        text = Text()
        text.append("walker-tui keys\n\n", style="bold")
        for key, what in KEYS:
            text.append(f"{key:<{width}}", style="bold")
            text.append(f"  {what}\n")
        text.append(
            "\nEach epoch the walker tries every rate of its grid from the\n"
            "same weights and walks on from the best candidate.\n"
            "escape, ? or q closes this help."
        )
        with Vertical(id="help-box"):
            yield Static(text, id="help-text")
