"""The ``?`` help screen: every key with a word on what it does."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from walker_tui.ui.keys import help_forwards, help_lines


class HelpScreen(ModalScreen[None]):
    """A modal list of the keys; any of escape, ? or q closes it."""

    BINDINGS = [
        Binding("escape,question_mark", "dismiss", "close help"),
        *help_forwards(),  # the app's keys close the help and do what they say
    ]

    def __init__(self, replay: bool = False) -> None:
        super().__init__()
        self.replay = replay  # a replay lists only the keys that work there

    async def action_forward(self, action: str) -> None:
        """Close the help, then run the app's action for the key."""
        self.dismiss()
        await self.app.run_action(action)

    TITLE = "walker-tui keys"
    FOOT = (
        "\nEach epoch the walker tries every rate of its grid from the\n"
        "same weights and walks on from the best candidate.\n"
        "escape or ? closes this help; the keys above close it and act."
    )

    def lines(self) -> list[tuple[str, str]]:
        return help_lines(self.replay)

    def compose(self) -> ComposeResult:
        keys = self.lines()
        width = max(len(k) for k, _ in keys)
        text = Text()
        text.append(f"{self.TITLE}\n\n", style="bold")
        for key, what in keys:
            text.append(f"{key:<{width}}", style="bold")
            text.append(f"  {what}\n")
        text.append(self.FOOT)
        with VerticalScroll(id="help-box"):  # (scrolls where the terminal is short)
            yield Static(text, id="help-text")


# walker-tui watch: recordings followed as they grow (walker_tui.ui.watch_app)
WATCH_KEYS = [
    ("end", "follow the newest epoch again (the status counts what came in while back)"),
    ("left / right", "back / forth one epoch (or step): following stops"),
    ("pgup / pgdn", "back / forth 10 epochs (a twentieth of a run past 200)"),
    ("home", "the first epoch"),
    ("space", "stop following here / follow again"),
    ("c  or  1-9", "whose candidates and path are shown: the next run, or run N"),
    ("m", "the loss panel: the loss, then each metric the script logged (opt.log)"),
    ("e", "smoothing: an EMA of 0.6, 0.9, 0.99 or off, the raw curve faint behind"),
    ("l", "loss curve on a log / linear x axis (long runs)"),
    ("p", "save a screenshot (SVG)"),
    ("ctrl+p", "command palette: every action, and themes"),
    ("?", "this help"),
    ("q", "quit (the recordings are left as they are)"),
]


class WatchHelp(HelpScreen):
    """The help of ``walker-tui watch``: its keys, which close the help and act."""

    BINDINGS = [
        Binding(key, f"forward('{action}')", show=False)
        for key, action in [
            ("c", "next_run"),
            ("m", "metric"),
            ("e", "smoothing"),
            *((str(i), f"pick_run({i})") for i in range(1, 10)),
        ]
    ]

    TITLE = "walker-tui watch keys"
    FOOT = (
        "\nwatch reads only what each file gained since its last look, every 0.25 s,\n"
        "and leaves the files alone. escape or ? closes this help."
    )

    def lines(self) -> list[tuple[str, str]]:
        return WATCH_KEYS
