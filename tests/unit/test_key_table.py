"""One key table (walker_tui.ui.keys), a column per mode: each mode's bindings, footer, palette,
help screen and the help screen's forwarding bindings all come from it, and every action it
names exists on the app of that mode."""

from __future__ import annotations

from textual.actions import parse

import walker_tui.ui.keys as keys
from walker_tui.ui.app import WalkerApp


def test_every_action_of_each_mode_exists_on_the_app():
    for mode in keys.MODES:  # (one app: its mode is data, ui.modes)
        for key in keys.KEYS:
            use = key.use(mode)
            if use is None:
                continue
            action = key.action.split("(")[0] if use.note is None else "note"
            assert callable(getattr(WalkerApp, f"action_{action}", None)), (mode, key)


def test_bindings_palette_and_help_come_from_the_one_table():
    actions = {k.action for k in keys.KEYS if k.live is not None}
    bound = {parse(b.action)[1] for b in keys.bindings("live")}
    assert actions <= bound
    forwarded = {b.action for b in keys.help_forwards("live")}
    # every app key but ? (which closes the help) closes it and acts, w and p included
    assert forwarded == {f"forward('{a}')" for a in actions - {"help"}}
    assert {a for _, _, a in keys.palette("live")} <= actions
    # each mode's bindings only: the app's check_action keeps them (space's words differ)
    assert keys.allows("live", "toggle_pause", ("live",))
    assert not keys.allows("live", "toggle_pause", ("watch",))
    assert not keys.allows("replay", "toggle_pause", ("still",))
    assert keys.allows("replay", "toggle_pause", ("still",), still=True)
    assert keys.allows("watch", "next_run", ()) and not keys.allows("live", "next_run", ())
    helped = dict(keys.help_lines("live"))
    assert "w" in helped and "p" in helped and helped["?"] == "this help"
    footer = [b.description for b in keys.bindings("live") if b.show]
    assert footer == ["pause", "step", "reseed", "race", "help", "quit", "faster", "slower"]


def test_a_replay_leaves_out_the_live_keys_everywhere():
    live = {k.keys for k in keys.KEYS if k.live is not None and k.replay != k.live
            and not (k.replay and k.replay.help)}  # fmt: skip
    assert live == {"r", "s", "w"}
    hidden = {b.key for b in keys.bindings("replay") if not b.show}
    assert live <= hidden
    shown = dict(keys.help_lines("replay"))
    assert "r" not in shown and "s" not in shown and "w" not in shown
    assert shown["space"] == "pause / resume playing"
    offered = {a for _, _, a in keys.palette("replay")}
    assert not offered & {"reseed", "race", "save_record"}


def test_watch_keys_live_in_the_table():
    footer = [b.description for b in keys.bindings("watch") if b.show]
    assert footer == ["stop/follow", "follow", "help", "quit", "next run", "metric", "smoothing"]
    bound = {b.key: b.action for b in keys.bindings("watch")}
    assert bound["c"] == "next_run" and bound["3"] == "pick_run(3)"
    assert bound["r"].startswith("note(")  # answers with a note, offered nowhere
    offered = {a for _, _, a in keys.palette("watch")}
    assert {"next_run", "metric", "smoothing", "newest"} <= offered
    assert not offered & {"reseed", "race", "faster", "slower", "x_axis", "step"}
    helped = dict(keys.help_lines("watch"))
    assert "c  or  1-9" in helped and "r" not in helped
