"""The command palette (ctrl+p) and Textual's Keys panel: every action of the key table's mode is
in the palette (watch's its own), its screenshot entry is the app's own p (Textual's saved to a
~/Downloads that need not exist), and escape closes the Keys panel."""

from __future__ import annotations

from helpers import status_text, until
from textual.widgets import HelpPanel

import walker_tui.ui.keys as keys
from walker_tui.config import Config
from walker_tui.ui.app import make_app, make_watch_app


def commands(app) -> dict[str, object]:
    return {c.title: c.callback for c in app.get_system_commands(app.screen)}


async def test_every_action_of_the_key_table_is_in_the_palette(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_app(Config(device="cpu"), start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        offered = commands(app)
        names = {callback.__name__ for callback in offered.values()}
        for key in keys.KEYS:
            if key.live is not None:
                assert f"action_{key.action}" in names, key
        shots = [t for t in offered if "creenshot" in t]
        assert shots == ["Save a screenshot (SVG) (p)"]  # the app's, not Textual's
        offered[shots[0]]()
        await pilot.pause(0.2)
        assert "screenshot saved to" in status_text(app)
        assert len(list(tmp_path.glob("walker-tui-*.svg"))) == 1


async def test_watch_offers_its_own_actions(tmp_path):
    """watch's palette: its keys (runs, metric, smoothing, follow), none of a live run's."""
    app = make_watch_app([tmp_path / "later.csv"])
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        names = {callback.__name__ for callback in commands(app).values()}
        for action in ("next_run", "metric", "smoothing", "newest", "toggle_pause", "screenshot"):
            assert f"action_{action}" in names, action
        for action in ("reseed", "race", "faster", "save_record", "step"):
            assert f"action_{action}" not in names, action


async def test_escape_closes_the_keys_panel():
    app = make_app(Config(device="cpu"), start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        commands(app)["Keys"]()
        await pilot.pause(0.2)
        assert app.screen.query(HelpPanel)
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert not app.screen.query(HelpPanel)
