"""RunView without Textual: the state word, the summary, time travel, notes and the run's
warnings, fed with the driver's own event types and hand-made epochs (issue 20)."""

from __future__ import annotations

import numpy as np

from walker_tui.config import Config
from walker_tui.core.trainers.loop import HostEpoch, Outcome
from walker_tui.ui.widgets.status import first_items
from walker_tui.viewmodel.driver import Control, Epochs, Racers, Started
from walker_tui.viewmodel.frames import panels, status_frame
from walker_tui.viewmodel.replay_view import ReplayView
from walker_tui.viewmodel.view import EDGE_EPOCHS, NOTE_EPOCHS, Note, RunView

RATES = np.array([0.1, 0.2, 0.3])


def rec(
    epoch: int, loss: float, winner: int = 1, losses=None, moved: bool = True, scored: bool = True
) -> HostEpoch:
    losses = np.array([loss + 0.1, loss, loss + 0.2]) if losses is None else np.asarray(losses)
    return HostEpoch(
        epoch=epoch,
        weights=np.zeros((2, 3)) + epoch,
        losses=losses,
        winner=winner,
        lr=float(RATES[winner]),
        loss=loss,
        diverged=False,
        rates=RATES,
        moved=moved,
        evals=3 * epoch,
        seconds=0.01 * epoch,
        scored=scored,
    )


def started(names=("walker",), target: float = 0.1) -> Started:
    return Started(
        "cpu", list(names), list(RATES), (0.0, 0.0), None, np.zeros(2), np.eye(2), target
    )


def view(paused: bool = False, **cfg) -> RunView:
    v = RunView(Config(lrs_spec="0.1,0.2,0.3", **cfg), Control(paused=paused, pace=4.0))
    v.started(started())
    return v


def feed(v: RunView, recs: list[HostEpoch], outcome: Outcome | None = None) -> list[Note]:
    frames = [{"walker": r} for r in recs]
    return v.epochs(Epochs(frames, {"walker": outcome}, 10.0, []))


def test_the_state_word_follows_the_run():
    v = RunView(Config(), Control(paused=False, pace=4.0))
    assert v.state == "starting"
    v.started(started())
    assert v.state == "running"
    v.control.set(paused=True)
    assert v.state == "paused"
    feed(v, [rec(1, 1.0), rec(2, 0.5)], Outcome("reached", 2, 0.05))
    assert v.done and v.state == "reached"
    feed(v, [], Outcome("limit", 2, 0.5))
    assert v.state == "limit"
    feed(v, [], Outcome("diverged", 2, float("nan")))
    assert v.state == "diverged"
    v.error = "RuntimeError: boom"
    assert v.state == "error" and v.summary == ["error: RuntimeError: boom (r restarts, q quits)"]


def test_the_summary_names_each_outcome_and_a_racer_still_going():
    v = RunView(Config(), Control(paused=False, pace=4.0))
    v.started(started(("walker", "stepper")))
    frames = [{"walker": rec(1, 0.5), "stepper": rec(1, 0.8)}]
    v.epochs(Epochs(frames, {"walker": Outcome("reached", 9, 0.0912), "stepper": None}, None, []))
    assert v.summary == ["walker 0.091 in 9 epochs", "stepper racing: 0.800"]
    assert not v.done  # the stepper races on
    # a small terminal's one line: both, where they fit (the walker's alone hid the racer)
    assert v.summary_short[0] == "walker 0.091 in 9 epochs · stepper racing: 0.800"


def test_travel_goes_back_pauses_a_running_walk_and_says_where_it_cannot_go():
    v = view()
    assert v.travel(0, -1) == Note("no epochs yet to travel through: n steps one, space runs")
    feed(v, [rec(e, 1.0 / e) for e in range(1, 31)])
    assert v.latest_epoch == 30 and v.shown_epoch == 30
    assert v.travel(v.shown_epoch - v.page(), -1) is True
    assert v.view_epoch == 20 and v.shown_epoch == 20 and v.control.paused
    assert v.travel(0, -1) is True and v.shown_epoch == 1
    note = v.travel(0, -1)
    assert isinstance(note, Note) and note.text.startswith("epoch 1 is the first")
    assert v.travel(1, 0) is False  # a click on the epoch shown: nothing to say
    assert v.travel(30, 1) is True and v.view_epoch is None  # the newest: follow again
    assert v.travel(31, 1).text.startswith("at the newest epoch")
    # the panels' data is the epoch shown's
    v.travel(5, -1)
    frame = panels(v)
    assert frame.epoch == 5 and frame.rec.epoch == 5 and frame.curve.marker == 5
    assert frame.bars.winner == 1 and frame.bars.epoch == 5


def test_a_note_expires_belongs_to_its_epoch_and_goes_with_its_run():
    v = view()
    v.set_note(Note("about epoch 40", epoch=40, seconds=4.0), now=100.0)
    assert v.note_shows(40, now=101.0) and v.note_shows(40 + NOTE_EPOCHS, now=101.0)
    assert not v.note_shows(40 + NOTE_EPOCHS + 1, now=101.0)  # travelled away from it
    assert not v.note_shows(40, now=104.5) and v.expire(now=104.5) and v.note is None
    v.set_note(Note("nothing to do"), now=0.0)
    v.unsay()  # the next key that does something
    assert v.note is None
    v.set_note(Note("saved to x.csv", sticky=True), now=0.0)
    v.unsay()
    assert v.note == ("saved to x.csv", "bold yellow")  # a sticky note stays
    v.reset()  # a reseed: the old run's note is not about the new one
    assert v.note is None


def test_the_edge_warning_comes_once_while_the_loss_falls_at_one_edge():
    v = view()
    losses = lambda loss: [loss + 0.2, loss + 0.1, loss]  # noqa: E731 (the largest rate wins)
    notes = feed(v, [rec(e, 1.0 / e, winner=2, losses=losses(1.0 / e)) for e in range(1, 8)])
    assert len(notes) == 1 and notes[0].sticky
    assert f"the largest rate 0.30 won epochs 2-{1 + EDGE_EPOCHS}" in notes[0].text
    assert "outside the grid" in notes[0].text and v.edge_warned
    more = feed(v, [rec(e, 1.0 / e, winner=2, losses=losses(1.0 / e)) for e in range(8, 12)])
    assert more == []  # once a run
    # the middle rate winning says nothing, nor does a tie
    quiet = view()
    assert feed(quiet, [rec(e, 1.0 / e, winner=1) for e in range(1, 12)]) == []
    tied = view()
    assert feed(tied, [rec(e, 1.0 / e, winner=2, losses=[1.0 / e] * 3) for e in range(1, 12)]) == []


def test_reused_rate_epochs_are_no_wins_for_the_edge_warning():
    # along adam a reused-rate epoch keeps the last scoring's winner and losses: it won nothing
    losses = lambda loss: [loss + 0.2, loss + 0.1, loss]  # noqa: E731 (the largest rate wins)

    def walk(scored):
        return [rec(e, 1.0 / e, winner=2, losses=losses(1.0 / e), scored=scored(e))
                for e in range(1, 13)]  # fmt: skip

    assert feed(view(), walk(lambda e: e in (1, 2, 3))) == []  # 2 scored epochs, then reused
    assert feed(view(), walk(lambda e: e < 3 or e % 2 == 0)) != []  # every other one scored
    notes = feed(view(), walk(lambda e: e < 3 or e % 2 == 0))
    assert f"the largest rate 0.30 won the {EDGE_EPOCHS} scored epochs of epochs 2-10" in (
        notes[0].text
    ), notes[0].text


def test_the_rise_warning_names_the_epochs_the_loss_rose():
    v = view()
    notes = feed(v, [rec(1, 1.0), rec(2, 0.5), rec(3, 0.9), rec(4, 1.2), rec(5, 2.5)])
    assert len(notes) == 1 and notes[0].style == "bold red"
    rose = "the loss rose every epoch from 2 to 5, to 2.500 (lowest 0.500)"
    assert notes[0].text.startswith(rose)
    assert view(stay=True) and feed(view(stay=True), [rec(e, float(e)) for e in range(1, 9)]) == []
    # a WalkerSGD recording's rows are steps on batches: their noise is no divergence, and its
    # options no command line's
    steps = RunView(Config(lrs_spec="0.1,0.2,0.3"), Control(paused=False, pace=4.0), unit="step")
    steps.started(started())
    assert feed(steps, [rec(1, 1.0), rec(2, 0.5), rec(3, 0.9), rec(4, 1.2), rec(5, 2.5)]) == []


def test_a_finished_run_tells_a_key_what_it_can_still_do():
    v = view()
    assert v.finished() is None and v.toggle_pause() is None and v.control.paused
    feed(v, [rec(1, 1.0), rec(2, 0.05)], Outcome("reached", 2, 0.05))
    assert v.finished().text == "the run reached its target: r reseeds, s races, q quits"
    assert v.step() == v.finished() and v.control.steps == 0  # n asked nothing of the driver


def test_racers_joining_and_the_pace_keys():
    v = view(race=[("stepper", 0.3), ("adam", 0.01), ("exact", 0.0)])
    said = v.toggle_race().text  # paused at epoch 0: which racers, by name
    assert said == "stepper 0.3, adam 0.01, exact will start with the walker (s again: no racers)"
    assert v.race and v.control.race
    v.set_note(v.toggle_race()), v.set_note(v.toggle_race())  # (off and on again)
    assert v.note_shows(0) and not v.note_shows(1)  # what epoch 0 will bring: gone with epoch 1
    v.racers(Racers(["walker", "stepper"], {"walker": None, "stepper": None}))
    assert set(v.histories) == {"walker", "stepper"}
    v.control.set(pace=0.0)
    assert v.pace_step(1).text == "already as fast as it goes" and v.pace_text == "max"
    assert v.pace_step(-1) is None and v.pace_text == "256/s"


def test_the_status_frame_says_the_start_and_a_stay():
    v = view(grid="adaptive")
    feed(v, [rec(1, 1.0), rec(2, 1.0, moved=False)])
    assert status_frame(v, v.walker_at(1), 1, 2).step == "start"
    assert status_frame(v, v.walker_at(2), 2, 2).step == "stay"
    assert panels(v).bars.stayed


def test_a_travel_key_before_a_replays_first_epoch_says_the_recording_is_still_being_read():
    # ("no epochs yet to travel through: n steps one, space runs" while the file was opening)
    replay = ReplayView(Config(lrs_spec="0.1,0.2"), Control(paused=False, pace=4.0), object())
    note = replay.travel(0, -1)
    assert isinstance(note, Note) and note.text.startswith("still reading the recording")
    live = RunView(Config(lrs_spec="0.1,0.2"), Control(paused=False, pace=4.0))
    assert live.travel(0, -1).text.startswith("no epochs yet")


def test_a_reused_rates_epoch_says_so_and_names_where_its_bars_come_from():
    """Along adam on a model a step may reuse a rate and score nothing (core/schedule.py): its
    record holds the last scored candidates, so the bars say whose they are, and the status
    says the rate was reused; a scored epoch says neither."""
    v = view(paused=True)
    two = rec(2, 0.5)
    # 3: no step of it scored (the same losses as 2's last); 4: a batch of it scored, then reused
    recs = [rec(1, 1.0), two, rec(3, 0.4, losses=two.losses), rec(4, 0.3, losses=[0.2, 0.3, 0.4])]
    for r in recs[2:]:
        r.lr, r.scored = 0.15, False  # (the winners' mean, not a candidate's rate)
    feed(v, recs)
    for epoch, source, earlier in ((3, 2, False), (4, 4, True)):
        v.travel(epoch, 0)
        bars = panels(v).bars
        assert (bars.reused, bars.source, bars.earlier_batch) == (0.15, source, earlier)
        status = status_frame(v, v.walker_at(epoch), epoch, 4)
        assert status.reused and status.rate == 0.15
        assert "lr 0.15 (reused)" in [text for text, _ in first_items(status)]
    v.travel(2, 0)
    bars, status = panels(v).bars, status_frame(v, v.walker_at(2), 2, 4)
    assert bars.reused is None and bars.source is None and not status.reused
    assert not any("reused" in text for text, _ in first_items(status))


def test_a_replays_x_axis_skips_the_training_time_it_does_not_hold():
    """A recording stores no training time (recording/schema.Row): replay's x goes between
    epochs and loss evaluations, and says why there is no third; live's has all three."""
    replay = ReplayView(Config(lrs_spec="0.1,0.2"), Control(paused=True, pace=4.0), object())
    assert replay.toggle_x_axis() is None and replay.x_axis == "evaluations"
    note = replay.toggle_x_axis()
    assert replay.x_axis == "epoch" and "no training time" in note.text
    live = view()
    seen = [live.toggle_x_axis() or live.x_axis for _ in range(3)]
    assert seen == ["evaluations", "seconds", "epoch"]


def test_back_in_a_race_the_racers_figures_are_the_epoch_shown():
    """Back at epoch 2 of a race the summary gave the racer's newest loss (epoch 4's) beside
    epoch 2's status: its loss there, a racer whose end came later reads as racing there, and
    one with no epoch there yet says so."""
    v = RunView(Config(), Control(paused=True, pace=4.0))
    v.started(started(("walker", "stepper", "adam", "late")))
    frames = [{"walker": rec(e, 1 / e), "stepper": rec(e, 10.0 + e), "adam": rec(e, 5.0 + e)}
              for e in range(1, 5)]  # fmt: skip
    frames[0]["late"] = rec(1, 9.0)  # (a racer catching up)
    ends = {"walker": None, "stepper": None, "adam": Outcome("limit", 4, 9.0), "late": None}
    v.epochs(Epochs(frames, ends, None, []))
    assert "stepper racing: 14.000" in v.summary  # following: the newest
    v.travel(2, -1)
    assert v.summary == ["stepper racing: 12.000", "adam racing: 7.000", "late: no epoch 2 yet"]
    assert "best racer adam racing: 7.000" in v.summary_short[2]
