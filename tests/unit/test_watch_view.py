"""watch's view without Textual (walker_tui.viewmodel.watch_view): its keys answer with a Note
or whether the view moved, as RunView's do."""

from __future__ import annotations

from pathlib import Path

from walker_tui.viewmodel.view import Note
from walker_tui.viewmodel.watch_view import SMOOTHING, WatchView


def test_keys_before_any_row_say_why_they_do_nothing():
    view = WatchView([Path("a.csv"), Path("b.csv")])
    assert [r.name for r in view.runs] == ["a", "b"] and view.state == "following"
    assert isinstance(view.toggle_pause(), Note) and view.view_epoch is None
    assert isinstance(view.step(), Note)  # following: n steps forth only once back
    assert view.pick_run(3).text == "run 3: there are 2 (c goes through them)"
    assert view.next_run().text.startswith("candidates and path of b") and view.picked.name == "b"
    assert view.next_metric().text.startswith("no metrics logged")
    assert view.on_disk().text == "b is on disk already: b.csv"


def test_smoothing_cycles_back_to_raw():
    view = WatchView([Path("a.csv")])
    seen = [view.smooth]
    for _ in SMOOTHING:
        assert view.next_smoothing() is True
        seen.append(view.smooth)
    assert seen == [*SMOOTHING, None]
