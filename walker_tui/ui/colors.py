"""Colours read against the theme. The panels and status lines name their colours (``cyan``,
``red``, an RGB triple); a :class:`Palette` turns each into one at least MIN_CONTRAST (WCAG
contrast) from the background it sits on, in whatever theme the palette (ctrl+p) picked:
lightened on a dark theme, darkened on a light one, its hue kept. No Textual here: the widgets
hand it their background and foreground. And the terminal's colour system, where it names none."""

from __future__ import annotations

import os
import re
from functools import lru_cache

from rich.color import ColorSystem
from rich.console import Console

RGB = tuple[int, int, int]

MIN_CONTRAST = 3.0  # WCAG's least for graphics and large text
_AIM = 3.3  # what a colour is fitted to: a margin for the terminal's rounding to 256 colours

NAMED: dict[str, RGB] = {  # the names the panels use, as the dark theme has them
    "cyan": (0, 205, 205),
    "orange": (255, 135, 0),
    "magenta": (215, 95, 215),
    "green": (60, 190, 60),
    "yellow": (230, 200, 30),
    "blue": (70, 110, 240),
    "red": (235, 50, 50),
    "white": (235, 235, 235),
    "gray": (140, 140, 140),
    "grey": (140, 140, 140),
}


def luminance(rgb: RGB) -> float:
    """WCAG relative luminance of an sRGB colour."""

    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = rgb
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: RGB, b: RGB) -> float:
    """WCAG contrast ratio, 1 to 21."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def readable(rgb: RGB, background: RGB, ratio: float = _AIM) -> RGB:
    """``rgb`` mixed toward white (on a dark background) or black (on a light one), just enough
    to stand ``ratio`` from ``background``; white or black itself where no mix does."""
    if contrast(rgb, background) >= ratio:
        return rgb
    white, black = (255, 255, 255), (0, 0, 0)
    to = white if contrast(white, background) >= contrast(black, background) else black
    for step in range(1, 21):
        t = step / 20
        mixed = tuple(round(c + (e - c) * t) for c, e in zip(rgb, to, strict=True))
        if contrast(mixed, background) >= ratio:  # type: ignore[arg-type]
            return mixed  # type: ignore[return-value]
    return to


def parse(text: str | None) -> RGB | None:
    """``#rrggbb`` (what Textual's theme variables hold) as a triple; None for anything else
    (``transparent``, ``ansi_default``: the terminal's own colours, unknown here)."""
    if not text or not re.fullmatch(r"#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?", text):
        return None
    return int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16)


class Palette:
    """The colours of one background: ``palette("cyan")`` is cyan made readable on it;
    ``"foreground"`` is the theme's text colour."""

    def __init__(self, background: RGB, foreground: RGB) -> None:
        self.background = background
        self.foreground = readable(foreground, background)
        self._fitted: dict[object, RGB] = {}
        self._styles: dict[str, str] = {}

    def __call__(self, color: object) -> RGB:
        key = color if isinstance(color, str) else tuple(color)  # type: ignore[call-overload]
        fitted = self._fitted.get(key)
        if fitted is None:
            if color == "foreground":
                rgb = self.foreground
            elif isinstance(color, str):
                rgb = NAMED.get(color) or parse(color) or self.foreground
            else:
                rgb = tuple(int(c) for c in key)  # type: ignore[assignment]
            fitted = self._fitted[key] = readable(rgb, self.background)
        return fitted

    def style(self, style: str) -> str:
        """A rich style string with its colour words fitted (``bold yellow`` on a light panel:
        ``bold #7a6a10``); other words (bold, italic) as they are."""
        done = self._styles.get(style)
        if done is None:
            words = [
                "#{:02x}{:02x}{:02x}".format(*self(w)) if w in NAMED or parse(w) else w
                for w in style.split()
            ]
            done = self._styles[style] = " ".join(words)
        return done


@lru_cache(maxsize=64)
def palette(background: RGB | None, foreground: RGB | None, dark: bool = True) -> Palette:
    """The palette of a background, cached. An unknown background (an ANSI theme's
    ``transparent``: the terminal's own) is taken as black on a dark theme, white on a light one;
    the terminal may differ, and then so may the contrast."""
    bg = background if background is not None else (0, 0, 0) if dark else (255, 255, 255)
    fg = foreground if foreground is not None else (255, 255, 255) if dark else (0, 0, 0)
    return Palette(bg, fg)


def theme_palette(variables: dict[str, str], dark: bool, key: str = "surface") -> Palette:
    """The palette of a theme's ``key`` background (Textual's theme variables: the plots stand
    on ``surface``, the status line on ``panel``)."""
    return palette(parse(variables.get(key)), parse(variables.get("foreground")), dark)


DARK = palette((0x1E, 0x1E, 0x1E), (0xE0, 0xE0, 0xE0))  # textual-dark's surface, for tests


def fit_color_system(console: Console) -> str | None:
    """A terminal that names no colour system (TERM=dumb, no COLORTERM) got 24-bit colour, Textual's
    fallback, where xterm-256color gets 256 colours: draw it in the 16 standard colours, the
    least a colour terminal has, and return the line that says so (None where the terminal
    named its colours, or TEXTUAL_COLOR_SYSTEM chose them). Contrast then rests on the
    terminal's own 16 colours, which the app cannot see."""
    if console.color_system is not None or os.environ.get("TEXTUAL_COLOR_SYSTEM", "auto") != "auto":
        return None
    console._color_system = ColorSystem.STANDARD  # (rich has no setter; Textual's strips read it)
    term = os.environ.get("TERM") or "unset"
    return (
        f"TERM={term} names no colours: drawn in the 16 standard ones "
        "(COLORTERM=truecolor or TERM=xterm-256color for more)"
    )
