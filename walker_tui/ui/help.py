"""The ``?`` help screen: every key of the mode shown (walker_tui.ui.keys) with a word on what it
does."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingsMap
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from walker_tui.ui.keys import help_forwards, help_lines

TITLES = {"watch": "walker-tui watch keys"}
FOOTS = {
    "watch": (
        "\nwatch reads only what each file gained since its last look, every 0.25 s,\n"
        "and leaves the files alone. escape or ? closes this help."
    )
}
TITLE = "walker-tui keys"
FOOT = (
    "\nEach epoch the walker tries every rate of its grid from the\n"
    "same weights and walks on from the best candidate.\n"
    "escape or ? closes this help; the keys above close it and act."
)


class HelpScreen(ModalScreen[None]):
    """A modal list of a mode's keys; escape or ? closes it, the mode's other keys close it and
    act."""

    def __init__(self, mode: str = "live") -> None:
        super().__init__()
        self.mode = mode
        # the mode's column of the key table (Textual's bindings are per class otherwise)
        own = [Binding("escape,question_mark", "dismiss", "close help"), *help_forwards(mode)]
        self._bindings = BindingsMap.merge([self._bindings, BindingsMap(own)])

    async def action_forward(self, action: str) -> None:
        """Close the help, then run the app's action for the key."""
        self.dismiss()
        await self.app.run_action(action)

    def compose(self) -> ComposeResult:
        keys = help_lines(self.mode)
        width = max(len(k) for k, _ in keys)
        text = Text()
        text.append(f"{TITLES.get(self.mode, TITLE)}\n\n", style="bold")
        for key, what in keys:
            text.append(f"{key:<{width}}", style="bold")
            text.append(f"  {what}\n")
        text.append(FOOTS.get(self.mode, FOOT))
        with VerticalScroll(id="help-box"):  # (scrolls where the terminal is short)
            yield Static(text, id="help-text")
