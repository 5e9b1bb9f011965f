"""Small terminals: the footer shows only keys that fit whole and nothing after its palette key
(at 59x20 it ended `q qui▏^p palette-`), and the status line's first line spills onto the facts
line rather than onto a line of its own (` pace 4/s` alone took a row from the loss curve)."""

from __future__ import annotations

import pytest
from helpers import until

from walker_tui.config import Config
from walker_tui.ui.app import make_app
from walker_tui.ui.widgets.status import StatusLine

WORDS = ["pause", "step", "reseed", "race", "help", "quit", "faster", "slower"]


def screen_lines(app) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


@pytest.mark.parametrize("size", [(40, 10), (59, 20), (60, 20), (63, 20), (66, 22), (70, 22),
                                  (76, 24), (85, 24), (99, 30), (100, 30), (120, 40)])  # fmt: skip
async def test_the_footer_shows_whole_keys_and_ends_with_the_palette(size):
    app = make_app(Config(device="cpu"), start_paused=True)
    async with app.run_test(size=size) as pilot:
        while not app.view.histories:  # (a terminal too small draws no panel to wait for)
            await pilot.pause(0.05)
        for _ in range(100):  # (the footer is composed again on each resize)
            footer = screen_lines(app)[-1].rstrip()
            if "palette" in footer:
                break
            await pilot.pause(0.05)
        assert footer.endswith("▏^p palette"), repr(footer)
        keys = footer.rsplit("▏", 1)[0].split()
        shown = [w for w in keys if len(w) > 1 and w not in ("space",)]
        assert all(w in WORDS for w in shown), repr(footer)  # no word cut short
        assert shown == WORDS[: len(shown)] and len(shown) >= 3, repr(footer)


@pytest.mark.parametrize("size", [(60, 20), (70, 22), (80, 24)])
async def test_the_status_line_keeps_two_lines_while_paused(size):
    app = make_app(Config(device="cpu"), start_paused=True)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.view.histories)
        for _ in range(2):
            await pilot.press("n")
        await until(pilot, lambda: app.view.latest_epoch == 2)
        lines = str(app.query_one(StatusLine).render()).splitlines()
        assert len(lines) == 2, lines
        assert lines[0].startswith("paused") and "pace" in "".join(lines), lines


async def test_the_help_at_60x20_keeps_descriptions_in_their_column_and_says_more_follows():
    # (at 60x20 "(pauses)" wrapped under the keys, and nothing said that more lines followed)
    from walker_tui.ui.help import HelpScreen

    app = make_app(Config(device="cpu"), start_paused=True)
    async with app.run_test(size=(60, 20)) as pilot:
        await until(pilot, lambda: app.view.histories)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause(0.2)
        lines = screen_lines(app)
        wrapped = [line for line in lines if "(pauses)" in line and "one epoch" not in line]
        assert wrapped and all(line.index("(pauses)") > 10 for line in wrapped), lines
        assert "more below" in lines[-1] or "more below" in lines[-2], lines
        box = app.screen.query_one("#help-box")
        assert box.max_scroll_y > 0 and box.show_vertical_scrollbar
        box.scroll_end(animate=False)
        await pilot.pause(0.2)
        assert "more below" not in str(box.border_subtitle)
