"""Textual's footer, less the keys that would not fit whole beside the palette key: where they
ran under it, a narrow terminal showed a key cut short and stray letters after the palette key
(``+ fas▏^p paletter``, ``q qui▏^p palette-``). The keys keep their order; those that do not
fit are left out from the end (they still work, and ``?`` lists them all)."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

PALETTE_KEY = "-command-palette"


def key_width(key: FooterKey, compact: bool) -> int:
    """Columns a footer key takes, as Textual's footer styles it (key, description, gap)."""
    text = len(key.key_display) + len(key.description)
    return text + 2 if compact else text + 3  # compact: a space and a margin; else padding


class KeyFooter(Footer):
    """See the module's docstring."""

    DEFAULT_CSS = """
    KeyFooter.-compact FooterKey.-command-palette {
        margin-right: 0;  /* flush with the right edge: no column left for a stray letter */
    }
    """

    def compose(self) -> ComposeResult:
        items = list(super().compose())
        palette = [w for w in items if isinstance(w, FooterKey) and w.has_class(PALETTE_KEY)]
        width = self.size.width or self.app.size.width
        # the palette key: a bar on its left, and no margin (compact) or padding on its right
        room = width - sum(key_width(w, self.compact) + 2 * (not self.compact) for w in palette)
        used = 0
        for widget in items:
            if widget in palette:
                continue
            need = key_width(widget, self.compact) if isinstance(widget, FooterKey) else 0
            if used + need - self.compact > room:  # (the last key's margin may go)
                break  # this key and the ones after it: left out
            used += need
            yield widget
        yield from palette

    def on_resize(self, event: events.Resize) -> None:
        self.refresh(recompose=True)
