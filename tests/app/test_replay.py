"""walker-tui replay: a recording (run --record, the app's w, a file cut by a kill) in the app."""

import pytest
from helpers import drawn, status_text, until

from walker_tui.cli import main
from walker_tui.ui.app import make_app
from walker_tui.viewmodel.replay import load_replay


@pytest.fixture
def recorded(tmp_path):
    path = tmp_path / "run.json"
    assert main(["run", "--record", str(path), "--quiet", "--device", "cpu"]) == 0
    return path


async def test_a_recording_plays_to_where_the_run_ended(recorded):
    recording, cfg = load_replay(recorded)
    app = make_app(cfg, replay=recording)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.done)
        walker = app.view.histories["walker"].latest
        assert walker.epoch == 11 and abs(walker.loss - 0.09415923) < 1e-6
        assert app.view.state == "reached" and "walker 0.094 in 11 epochs" in status_text(app)
        assert app.sub_title.startswith("replay")
        await pilot.press("home")
        await drawn(pilot)
        assert app.view.shown_epoch == 1
        await pilot.press("r")
        await pilot.pause(0.05)
        assert "a replay shows what was recorded" in status_text(app)
        await pilot.press("s")
        await pilot.pause(0.05)
        assert "no racers" in status_text(app)


async def test_end_goes_to_the_recordings_last_epoch(tmp_path):
    # (End stopped at the epoch played so far: "at the newest epoch" at 19 of 3,000)
    path = tmp_path / "long.npz"
    argv = ["run", "--record", str(path), "--quiet", "--device", "cpu", "--epochs", "300"]
    assert main([*argv, "--min-loss", "0"]) == 0
    recording, cfg = load_replay(path)
    app = make_app(cfg, replay=recording)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.latest_epoch >= 2)
        assert app.control.pace == 4.0  # played at the recording's pace
        await pilot.press("end")
        await until(pilot, lambda: app.view.done, timeout=30)
        await drawn(pilot)
        assert app.view.latest_epoch == app.view.shown_epoch == 300
        assert status_text(app).startswith("epoch limit │ epoch 300 │")


async def test_a_recording_cut_by_a_kill_plays_and_says_it_ends(recorded, tmp_path):
    cut = tmp_path / "cut.csv"
    assert main(["run", "--record", str(cut), "--quiet", "--device", "cpu"]) == 0
    lines = cut.read_text().splitlines(keepends=True)
    cut.write_text("".join(lines[:9]) + lines[9][:15])  # 6 whole epochs, then half a line
    recording, cfg = load_replay(cut)
    app = make_app(cfg, replay=recording)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.done)
        assert app.view.latest_epoch == 6 and app.view.state == "ended"
        assert "the recording ends here" in status_text(app)


async def test_an_npz_cut_by_a_kill_opens_by_its_own_name(tmp_path, capsys):
    # (replay cut.npz exited 2 pointing at cut.npz.part, while Recording.load opened it)
    from walker_tui.recording.reader import Recording
    from walker_tui.recording.writer import RecordWriter

    whole = tmp_path / "whole.npz"
    assert main(["run", "--record", str(whole), "--quiet", "--device", "cpu"]) == 0
    done = Recording.load(whole)
    cut = tmp_path / "cut.npz"
    out = RecordWriter(cut, done.lrs, done.options, flush_every=None)
    for row in done.rows[:6]:  # six epochs streamed, then the run is killed: never closed
        out.add(row)
    out.flush()
    assert not cut.exists() and (tmp_path / "cut.npz.part").exists()
    recording, cfg = load_replay(cut)
    app = make_app(cfg, replay=recording)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        assert "the run was cut short" in status_text(app)  # said at the start
        await until(pilot, lambda: app.view.done)
        await drawn(pilot)
        assert app.view.latest_epoch == 6 and app.view.state == "ended"
        assert "the recording ends here: no end record: cut short" in status_text(app)


@pytest.mark.parametrize(
    "make,words",
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.write_text("a,b\n1,2\n"), "not a walker-tui recording"),
        (lambda p: p.mkdir(), "x.csv' is not a walker-tui recording: it is a folder"),
    ],
)
def test_replay_errors_are_one_line(tmp_path, capsys, make, words):
    path = tmp_path / "x.csv"
    make(path)
    with pytest.raises(SystemExit) as exc:
        main(["replay", str(path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err


@pytest.mark.parametrize("data", [b"\x00\x01garbage", b"", b"\x93NUMPY"])
def test_a_file_that_is_no_npz_archive_is_said_plainly(tmp_path, capsys, data):
    path = tmp_path / "bin.npz"
    path.write_bytes(data)
    with pytest.raises(SystemExit) as exc:
        main(["replay", str(path)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1, err
    assert "not an .npz archive" in err and "pickle" not in err, err


def test_a_folder_is_said_to_be_one(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["replay", str(tmp_path)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1, err
    assert "it is a folder" in err and "unknown record format" not in err, err


def test_a_stepper_recording_is_refused(tmp_path, capsys):
    path = tmp_path / "s.csv"
    main(["run", "--optimizer", "stepper", "--record", str(path), "--quiet", "--device", "cpu"])
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["replay", str(path)])
    assert "replay shows the walker's recordings" in capsys.readouterr().err


def _steps_recording(path, steps: int = 8):
    """A training script's recording (WalkerSGD record=): its rows are steps."""
    import torch

    from walker_tui import WalkerSGD

    torch.manual_seed(0)
    x = torch.randn(32, 3)
    y = x @ torch.tensor([1.0, -2.0, 0.5])
    model = torch.nn.Linear(3, 1)
    with WalkerSGD(model.parameters(), lrs="0.01,0.03,0.1", record=path) as opt:

        def closure():
            opt.zero_grad()
            loss = ((model(x)[:, 0] - y) ** 2).mean()
            loss.backward()
            return loss

        for _ in range(steps):
            opt.step(closure)
    return path


async def test_a_training_scripts_recording_counts_steps_not_epochs(tmp_path):
    # (the outcome line said "walker 0.181 after 120 epochs" under a status line's "step 120")
    recording, cfg = load_replay(_steps_recording(tmp_path / "steps.csv"))
    app = make_app(cfg, replay=recording)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("end")
        await until(pilot, lambda: app.view.done)
        await drawn(pilot)
        text = status_text(app)
        assert "after 8 steps" in text or "in 8 steps" in text, text
        assert "epoch" not in " ".join(app.view.summary)
        await pilot.press("space")
        await pilot.pause(0.05)
        assert "the recording ends at step 8" in status_text(app)


async def test_space_back_in_a_finished_replay_plays_on_from_the_epoch_shown(tmp_path):
    # (space after home said "the replay has played all 30 epochs" and played nothing)
    path = tmp_path / "run.npz"
    argv = ["run", "--record", str(path), "--quiet", "--device", "cpu", "--epochs", "30"]
    assert main([*argv, "--min-loss", "0"]) == 0
    recording, cfg = load_replay(path)
    app = make_app(cfg, replay=recording)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("end")
        await until(pilot, lambda: app.view.done, timeout=30)
        for _ in range(3):
            await pilot.press("left")
        await drawn(pilot)
        assert app.view.shown_epoch == 27
        app.control.set(pace=0.4)  # (slow enough to catch it on its way, under load too)
        await pilot.press("space")
        await until(pilot, lambda: app.view.latest_epoch >= 27 and not app.view.done, timeout=10)
        assert not app.control.paused and "has played all" not in status_text(app)
        assert app.view.view_epoch is None  # following the playback
        assert 27 <= app.view.latest_epoch < 30
        await until(pilot, lambda: app.view.done, timeout=30)  # and on to the end again
        assert app.view.latest_epoch == 30 and app.view.state == "limit"


async def test_a_replays_footer_says_play_while_paused_or_played_out_and_pause_while_playing(
    recorded,
):
    def footer() -> str:
        return [strip.text for strip in app.screen._compositor.render_strips()][-1]

    recording, cfg = load_replay(recorded)
    app = make_app(cfg, start_paused=True, replay=recording)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        await until(pilot, lambda: "space play" in footer())
        await pilot.press("space")
        await until(pilot, lambda: "space pause" in footer())
        await until(pilot, lambda: app.view.done)
        await until(pilot, lambda: "space play" in footer())
