"""The ``?`` help screen: every key of the mode shown (walker_tui.ui.keys) with a word on what it
does."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from walker_tui.ui.keys import every_forward, forwards, help_lines

TITLES = {"watch": "walker-tui watch keys"}
FOOTS = {
    "watch": (
        "\nwatch reads only what each file gained since its last look, every 0.25 s, "
        "and leaves the files alone.\nescape or ? closes this help."
    )
}
TITLE = "walker-tui keys"
FOOT = (
    "\nEach epoch the walker tries every rate of its grid from the same weights and walks on "
    "from the best candidate (along adam on a model, now and then: between, it reuses the "
    "winners' mean rate).\n"
    "escape or ? closes this help; the keys above close it and act."
)


class HelpScreen(ModalScreen[None]):
    """A modal list of a mode's keys; escape or ? closes it, the mode's other keys close it and
    act."""

    # every mode's keys: check_action keeps the mode's column of the key table
    BINDINGS = [Binding("escape,question_mark", "dismiss", "close help"), *every_forward()]

    def __init__(self, mode: str = "live") -> None:
        super().__init__()
        self.mode = mode

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action != "forward" or parameters[0] in forwards(self.mode)

    async def action_forward(self, action: str) -> None:
        """Close the help, then run the app's action for the key."""
        self.dismiss()
        await self.app.run_action(action)

    def compose(self) -> ComposeResult:
        # a grid, not padded text: a description that wraps stays in its column (at 60 columns
        # "(pauses)" wrapped under the keys)
        keys = Table.grid(padding=(0, 2))
        keys.add_column(no_wrap=True, style="bold")
        keys.add_column(overflow="fold")
        for key, what in help_lines(self.mode):
            keys.add_row(key, what)
        title = Text(f"{TITLES.get(self.mode, TITLE)}\n", style="bold")
        with VerticalScroll(id="help-box"):  # (scrolls where the terminal is short)
            yield Static(Group(title, keys, Text(FOOTS.get(self.mode, FOOT))), id="help-text")

    def on_mount(self) -> None:
        box = self.query_one("#help-box", VerticalScroll)
        self.call_after_refresh(self._more, box)
        self.watch(box, "scroll_y", lambda _: self._more(box), init=False)

    def _more(self, box: VerticalScroll) -> None:
        """Say that more follows where the terminal is too short for every line."""
        below = box.scroll_y < box.max_scroll_y
        box.border_subtitle = "more below: scroll, or ↓" if below else ""
