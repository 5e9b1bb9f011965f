"""One key table (walker_tui.ui.keys): the app's bindings, the footer, the palette, the help screen
and its forwarding bindings all come from it, and every action it names exists."""

from __future__ import annotations

import walker_tui.ui.keys as keys
from walker_tui.ui.app import ReplayApp, WalkerApp
from walker_tui.ui.help import HelpScreen


def test_every_action_of_the_table_exists_on_the_app():
    for key in keys.KEYS:
        assert callable(getattr(WalkerApp, f"action_{key.action}", None)), key


def test_bindings_palette_and_help_come_from_the_one_table():
    actions = {k.action for k in keys.KEYS}
    bound = {b.action for b in WalkerApp.BINDINGS}
    assert actions <= bound
    forwarded = {b.action for b in HelpScreen.BINDINGS if b.action.startswith("forward")}
    # every app key but ? (which closes the help) closes it and acts, w and p included
    assert forwarded == {f"forward('{a}')" for a in actions - {"help"}}
    assert {a for _, _, a in keys.palette()} <= actions
    helped = dict(keys.help_lines())
    assert "w" in helped and "p" in helped and helped["?"] == "this help"
    footer = [b.description for b in WalkerApp.BINDINGS if b.show]
    assert footer == ["pause", "step", "reseed", "race", "help", "quit", "faster", "slower"]


def test_a_replay_leaves_out_the_live_keys_everywhere():
    live = {k.keys for k in keys.KEYS if k.live_only}
    assert live == {"r", "s", "w"}
    hidden = {b.key for b in ReplayApp.BINDINGS if not b.show}
    assert live <= hidden
    shown = dict(keys.help_lines(replay=True))
    assert "r" not in shown and "s" not in shown and "w" not in shown
    assert shown["space"] == "pause / resume playing"
