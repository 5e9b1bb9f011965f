"""Every colour the app draws stands at least 3:1 (WCAG) from its background, in every theme the
command palette offers: the panels' glyphs (walker, racers, bars, the winner, contours, start,
minimum, candidates, the target and travel lines) and the status line's words. In textual-light
the start marker was white on light grey (1.33:1), `paused` yellow (1.67:1)."""

from __future__ import annotations

from helpers import settle, until
from rich.color import Color as RichColor
from textual.app import App

from walker_tui.config import Config
from walker_tui.ui.app import make_app
from walker_tui.ui.colors import MIN_CONTRAST, contrast, parse, theme_palette
from walker_tui.ui.widgets.painter import PaintedPlot
from walker_tui.ui.widgets.status import STATE_STYLES, StatusLine
from walker_tui.viewmodel.watch_frames import STYLES as WATCH_STYLES

THEMES = sorted(App().available_themes)


def rgb(color: RichColor) -> tuple[int, int, int]:
    t = color.get_truecolor()
    return t.red, t.green, t.blue


def low_contrast(app) -> list[str]:
    """Each glyph or word on screen under MIN_CONTRAST from its background, described."""
    dark = app.current_theme.dark
    plots_bg = theme_palette(app.theme_variables, dark).background
    found = []
    for plot in app.query(PaintedPlot):
        for strip in plot._strips:
            for seg in strip:
                if not seg.text.strip() or seg.style is None or seg.style.color is None:
                    continue
                if seg.style.color.is_default:  # an ANSI theme's text: the terminal's own
                    continue  # colour on its own background, whatever they are
                bgcolor = seg.style.bgcolor
                bg = plots_bg if bgcolor is None or bgcolor.is_default else rgb(bgcolor)
                ratio = contrast(rgb(seg.style.color), bg)
                if ratio < MIN_CONTRAST:
                    found.append(f"{plot.id} {seg.text.strip()[:8]!r} {ratio:.2f}:1")
    status = app.query_one(StatusLine)
    text = status.render()
    bg = status.background_colors[1]
    back = bg.rgb if bg.a > 0 else ((0, 0, 0) if dark else (255, 255, 255))
    for span in text.spans:
        color = span.style.color if hasattr(span.style, "color") else None
        if color is not None and color.triplet is not None:
            ratio = contrast(tuple(color.triplet), back)
            if ratio < MIN_CONTRAST:
                found.append(f"status {text.plain[span.start : span.end]!r} {ratio:.2f}:1")
    for word, style in {**STATE_STYLES, **WATCH_STYLES, "note": "bold yellow"}.items():
        fitted = status.fit(style).split()
        hexes = [parse(w) for w in fitted if parse(w)]
        for h in hexes:
            if contrast(h, back) < MIN_CONTRAST:
                found.append(f"status style {word} {contrast(h, back):.2f}:1")
    return found


async def test_every_colour_is_readable_in_every_theme():
    app = make_app(Config(device="cpu", stay=True), start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        await pilot.press("s")
        await until(pilot, lambda: "stepper 0.3" in app.view.histories)
        for _ in range(8):
            await pilot.press("n")
        await until(pilot, lambda: app.view.latest_epoch == 8 and app.view.surface is not None)
        await pilot.press("left")  # the loss curve's travel line
        await settle(pilot, app)
        assert "paused" in str(app.query_one(StatusLine).render())
        failures = {}
        for name in THEMES:
            app.theme = name
            await pilot.pause(0.05)
            app.dirty = True
            await until(pilot, lambda: app.settled)
            found = low_contrast(app)
            if found:
                failures[name] = sorted(set(found))[:6]
        assert not failures, failures
