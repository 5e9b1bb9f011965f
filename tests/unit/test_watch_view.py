"""watch's view without Textual (walker_tui.viewmodel.watch_view): its keys answer with a Note
or whether the view moved, as RunView's do."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import walker_tui.viewmodel.watch_frames as watch_frames
from walker_tui.recording.schema import Row
from walker_tui.recording.writer import RecordWriter
from walker_tui.ui.widgets.candidates import CandidateBars
from walker_tui.viewmodel.view import Note
from walker_tui.viewmodel.watch import Reader
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


RATES = [0.1, 0.2, 0.3]


def recorded(path: Path, rows: list[Row], ended: bool = True, **options) -> WatchView:
    """A WatchView of ``rows`` written to ``path`` (a linear run's options), read in one poll."""
    options = {"problem": "linear", "epochs": len(rows), **options}
    out = RecordWriter(path, RATES, options, flush_every=None)
    for row in rows:
        out.add(row)
    out.close() if ended else out.flush()
    view = WatchView([path])
    reader = Reader(0, path)
    while (feed := reader.poll(1 << 20)) is not None:
        view.take(feed, 0.0)
    return view


def row(epoch: int, loss: float, losses=None, lr: float = 0.2, scored: bool = True) -> Row:
    losses = np.array([loss + 0.1, loss, loss + 0.2] if losses is None else losses, np.float32)
    w = np.zeros((2, 3), np.float32) + epoch
    return Row(epoch, w, losses, 1, np.array(RATES), True, lr, loss, scored, 3 * epoch)


def first_words(view: WatchView, epoch: int) -> list[str]:
    view.view_epoch = epoch
    frame = watch_frames.status_frame(view, view.walker_at(epoch), epoch, view.latest_epoch)
    return [text for text, _ in frame.first]


def test_a_reused_rates_epoch_reads_as_replay_reads_it(tmp_path):
    """Along adam on a model a step may reuse a rate, scoring no candidate: watch's status and
    candidates say so as replay's do (the rate reused, and where the faint bars come from),
    not the earlier step's winner as this epoch's."""
    two = row(2, 0.5)
    rows = [row(1, 1.0), two, row(3, 0.4, two.losses, 0.15, False)]
    view = recorded(tmp_path / "d.csv", rows)
    assert "lr 0.15 (reused)" in first_words(view, 3)
    bars = watch_frames.panels(view).bars
    assert (bars.reused, bars.source, bars.earlier_batch) == (0.15, 2, False)
    surface = watch_frames.panels(view).surface
    assert surface.walk is None and surface.reused  # (no candidates of its own, no winner)
    assert "lr 0.20" in first_words(view, 2) and watch_frames.panels(view).bars.reused is None
    assert not watch_frames.panels(view).surface.reused
    assert not any(w.startswith("along") for w in first_words(view, 2))  # (sgd: said nowhere)


def test_watch_says_the_direction_as_the_app_does(tmp_path):
    view = recorded(tmp_path / "a.csv", [row(1, 1.0), row(2, 0.5)], direction="adam")
    assert first_words(view, 2)[3:5] == ["lr 0.20", "along adam"], first_words(view, 2)


def test_a_models_recording_is_a_slice_as_replay_says(tmp_path):
    """A model's recording keeps its path in the plane (two numbers a row): its axes are the
    slice's directions, as replay names them, not w0 and w1."""
    rows = [row(1, 1.0), row(2, 0.5)]
    assert watch_frames.panels(recorded(tmp_path / "d.csv", rows, problem="digits")).surface.sliced
    assert not watch_frames.panels(recorded(tmp_path / "l.csv", rows)).surface.sliced


def test_travel_past_the_ends_of_a_step_recording_says_step(tmp_path):
    rows = [row(e, 1.0 / e) for e in (1, 2, 3)]
    view = recorded(tmp_path / "s.csv", rows, unit="step")
    assert view.travel(0, -1) is True and view.shown_epoch == 1
    assert view.travel(0, -1).text.startswith("step 1 is the first: right")
    assert view.travel(3, 1) is True and view.travel(4, 1).text.startswith("at the newest step")
    epochs = recorded(tmp_path / "e.csv", rows)
    assert epochs.travel(0, -1) is True
    assert epochs.travel(0, -1).text.startswith("epoch 1 is the first")


def test_the_start_takes_no_rate_and_a_finished_file_counts_nothing_new(tmp_path):
    """Epoch 1 is the start, where no step was taken: 'lr start', as replay and live say it. Back
    in files that have ended, nothing can come in: no '0 new epochs since' (a growing file's
    count stays)."""
    rows = [row(1, 1.0), row(2, 0.5), row(3, 0.4)]
    view = recorded(tmp_path / "j.csv", rows)
    view.travel(1, -1)
    words = first_words(view, 1)
    assert "lr start" in words and not any(w.startswith("lr 0.") for w in words), words
    assert words[0] == "back", words
    growing = recorded(tmp_path / "g.csv", rows, ended=False)
    growing.travel(1, -1)
    assert first_words(growing, 1)[0] == "back at epoch 1: 0 new epochs since, end follows"


def test_a_flushed_steps_rate_says_what_it_averages(tmp_path):
    """WalkerSGD's flush() takes an unscored step at any time: along adam at the mean of the
    winners so far (3 here, not the rule's 8), along sgd at the last winner's rate; the bars'
    title says which (it said '8-winner mean' for both)."""
    rows = [row(1, 1.0), row(2, 0.8), row(3, 0.6), row(4, 0.5, None, 0.2, False)]
    for direction, said in (("adam", "3-winner mean"), ("sgd", "last winner's")):
        view = recorded(tmp_path / f"{direction}.csv", rows, direction=direction,
                        source="WalkerSGD")  # fmt: skip
        view.view_epoch = 4
        bars = watch_frames.panels(view).bars
        assert bars.reused == 0.2 and bars.mean_of == (3 if direction == "adam" else 0)
        title = CandidateBars().reused_title(bars, ["0.10", "0.20", "0.30"], bars.losses, 1, 60)
        assert said in title, title
