"""walker-tui watch's details: back counts only the runs that grew, the runs-differ note names
every run (one read later too), a screenshot is named after the run shown, an empty file is
called empty, not missing, end follows again after space stopped at the newest step."""

from __future__ import annotations

from helpers import status_text, until
from test_watch import script_recording

from walker_tui.cli import main
from walker_tui.recording.reader import Recording
from walker_tui.recording.writer import RecordWriter
from walker_tui.ui.app import make_watch_app


async def test_back_counts_only_the_runs_that_grew(tmp_path):
    still = script_recording(tmp_path / "still.csv", steps=4)
    rec = Recording.load(script_recording(tmp_path / "src.csv", steps=12))
    live = tmp_path / "live.csv"
    out = RecordWriter(live, rec.lrs, rec.options, flush_every=None)
    for row in rec.rows[:6]:
        out.add(row)
    out.flush()
    app = make_watch_app([still, live, script_recording(tmp_path / "other.csv", steps=5)])
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.runs[1].rows == 6 and app.view.runs[2].ended)
        await pilot.press("left")
        await until(pilot, lambda: "0 new steps since" in status_text(app))
        for row in rec.rows[6:9]:
            out.add(row)
        out.close()
        await until(pilot, lambda: app.view.runs[1].ended)
        text = status_text(app)
        assert "3 new steps in live since" in text and "files" not in text.splitlines()[0], text


async def test_end_follows_again_after_space_stopped_at_the_newest(tmp_path):
    """space stops at the newest step; end follows again (it said "at the newest epoch")."""
    app = make_watch_app([script_recording(tmp_path / "s.csv", steps=4)])
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.runs[0].ended)
        await pilot.press("space")
        await until(pilot, lambda: app.view.state == "back")
        await pilot.press("end")
        await until(pilot, lambda: app.view.state == "following")
        assert status_text(app).startswith("following")


def note(app) -> str:
    return app.view.note[0] if app.view.note is not None else ""


async def test_the_differ_note_names_a_run_read_later(tmp_path):
    a = tmp_path / "a.csv"
    assert main(["run", "--record", str(a), "--quiet", "--device", "cpu"]) == 0
    b = script_recording(tmp_path / "b.json")
    later = tmp_path / "c.npz"  # not there yet when watch starts
    app = make_watch_app([a, b, later])
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.runs[0].ended and app.view.runs[1].ended)
        await until(pilot, lambda: "runs differ" in note(app))
        assert "c.npz" not in note(app) and " c " not in note(app)  # (not there yet)
        script_recording(later, steps=6)
        await until(pilot, lambda: app.view.runs[2].ended)
        await until(pilot, lambda: "c a WalkerSGD loop" in note(app))
        assert "runs differ: a linear (epochs), b a WalkerSGD loop (steps), c" in note(app)


async def test_a_screenshot_from_watch_is_named_after_the_run(tmp_path, monkeypatch):
    path = script_recording(tmp_path / "mnist.csv", steps=3)
    monkeypatch.chdir(tmp_path)
    app = make_watch_app([path])
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.picked.ended)
        await pilot.press("p")
        await until(pilot, lambda: "screenshot saved" in status_text(app))
    assert [p.name for p in tmp_path.glob("*.svg")] == ["walker-tui-watch-mnist.svg"]


async def test_an_empty_file_is_called_empty_not_missing(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.touch()
    app = make_watch_app([empty, tmp_path / "later.csv"])
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.follower is not None and app.follower.polls > 1)
        await pilot.pause(1.1)  # (the runs' line is redrawn every second)
        text = status_text(app)
        assert "1 empty: empty: waiting for its first line" in text, text
        assert "2 later: waiting for the file" in text
