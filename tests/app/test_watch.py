"""walker-tui watch (issue 22): recordings followed as they grow, side by side, under Pilot."""

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from helpers import panel_text, status_text, until

from walker_tui import WalkerSGD
from walker_tui.cli import main
from walker_tui.config import Config
from walker_tui.recording.ends import end_record
from walker_tui.recording.reader import Recording
from walker_tui.recording.writer import RecordWriter
from walker_tui.ui.app import make_app, make_watch_app
from walker_tui.ui.widgets.candidates import CandidateBars
from walker_tui.ui.widgets.loss_curve import LossCurve
from walker_tui.viewmodel.replay import load_replay

# a training script in another process: 5 steps, a flush, a wait for the test's go, 5 more
WRITER = """
import pathlib, sys, time
import torch
from walker_tui import WalkerSGD

path, go = sys.argv[1], pathlib.Path(sys.argv[2])
torch.manual_seed(0)
x = torch.randn(64, 3)
y = x @ torch.tensor([1.0, -2.0, 0.5])
model = torch.nn.Linear(3, 1)
opt = WalkerSGD(model.parameters(), lrs="0.01,0.03,0.1", record=path)

def closure():
    opt.zero_grad()
    loss = ((model(x)[:, 0] - y) ** 2).mean()
    loss.backward()
    return loss

for step in range(1, 11):
    opt.step(closure)
    if step % 5 == 0:
        opt.log(accuracy=step / 10)
    if step == 5:
        opt.writer.flush()
        (go.parent / "flushed").write_text(repr(time.time()))
        end = time.monotonic() + 120
        while not go.exists() and time.monotonic() < end:
            time.sleep(0.05)
opt.close()
"""


def loss_panel(app) -> str:
    return panel_text(app.query_one(LossCurve))


def script_recording(path, steps=20, log_every=4, seed=0):
    """A WalkerSGD loop's recording, written here: steps, some logged metrics, closed."""
    torch.manual_seed(seed)
    x = torch.randn(32, 2)
    y = x @ torch.tensor([0.5, -1.0])
    model = torch.nn.Linear(2, 1)
    with WalkerSGD(model.parameters(), lrs="0.01,0.1,0.3", record=path, seed=seed) as opt:
        for step in range(1, steps + 1):

            def closure():
                opt.zero_grad()
                loss = ((model(x)[:, 0] - y) ** 2).mean()
                loss.backward()
                return loss

            opt.step(closure)
            if step % log_every == 0:
                opt.log(accuracy=step / steps, grad_norm=float(step))
    return path


async def test_watch_follows_a_script_in_another_process(tmp_path):
    path, go = tmp_path / "run.csv", tmp_path / "go"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    app = make_watch_app([path])
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.follower is not None and app.follower.polls > 1)
        assert "waiting for the file" in status_text(app)  # (started before the script)
        proc = subprocess.Popen(
            [sys.executable, str(script), str(path), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            await until(pilot, lambda: app.view.latest_epoch == 5, timeout=120)
            shown = time.time()
            flushed = float((tmp_path / "flushed").read_text())
            assert shown - flushed < 2.0, f"{shown - flushed:.2f} s from the flush to the screen"
            text = status_text(app)
            assert "following" in text and "step 5" in text and "growing" in text
            assert "accuracy 50.0%" in text  # the script's logged metric
            assert "by step" in loss_panel(app)  # a WalkerSGD recording's rows are steps
            go.touch()
            await until(pilot, lambda: app.view.picked.ended, timeout=60)
            assert app.view.latest_epoch == 10
            text = status_text(app)
            assert "ended: closed by the script at step 10" in text and "accuracy 100.0%" in text
            assert proc.wait(timeout=60) == 0, proc.stderr.read()
        finally:
            proc.kill()
            proc.wait(timeout=30)


async def test_two_runs_side_by_side(tmp_path):
    a = tmp_path / "a.csv"
    assert main(["run", "--record", str(a), "--quiet", "--device", "cpu"]) == 0
    b = script_recording(tmp_path / "b.json")
    app = make_watch_app([a, b])
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: all(r.ended for r in app.view.runs))
        text = status_text(app)
        assert "1 a: ended: target reached at epoch 11" in text
        assert "2 b: ended: closed by the script at step 20" in text
        assert "runs differ: a linear (epochs), b a WalkerSGD loop (steps)" in text
        assert app.sub_title == "a, b"  # (the title says "walker-tui watch" once)
        curve = loss_panel(app)
        assert "⣿ a" in curve and "b" in curve.splitlines()[0] and "epoch/step" in curve
        bars = app.query_one(CandidateBars)
        assert "epoch 11" in panel_text(bars)  # the first run's candidates
        await pilot.press("c")
        await until(pilot, lambda: "step 20" in panel_text(bars))
        assert app.view.picked.name == "b" and "│ b │ step 20" in status_text(app)
        await pilot.press("1")
        await until(pilot, lambda: "epoch 11" in panel_text(bars))
        await pilot.press("7")
        await until(pilot, lambda: "run 7: there are 2" in status_text(app))


async def test_a_legend_that_does_not_fit_counts_the_rest(tmp_path):
    paths = [
        script_recording(tmp_path / f"long-run-name-{i}.csv", steps=3, seed=i) for i in range(7)
    ]
    app = make_watch_app(paths)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: all(r.ended for r in app.view.runs))
        title = loss_panel(app).splitlines()[0]
        assert "more" in title and "long-run-name-0" in title
        shown = sum(f"long-run-name-{i}" in title for i in range(7))
        assert f"+{7 - shown} more" in title


async def test_metrics_and_smoothing_keys(tmp_path):
    path = script_recording(tmp_path / "m.npz", steps=40, log_every=4)
    app = make_watch_app([path])
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.picked.ended)
        assert "accuracy 100.0%" in status_text(app) and "grad_norm 40" in status_text(app)
        await pilot.press("m")
        await until(pilot, lambda: "accuracy by step" in loss_panel(app))
        await pilot.press("m")
        await until(pilot, lambda: "grad_norm by step" in loss_panel(app))
        await pilot.press("m")
        await until(pilot, lambda: "loss (log) by step" in loss_panel(app))
        for weight in ("0.6", "0.9", "0.99"):
            await pilot.press("e")
            await until(pilot, lambda w=weight: f"EMA {w} (raw faint)" in loss_panel(app))
        await pilot.press("e")
        await until(pilot, lambda: "EMA" not in loss_panel(app))
        # the smoothed line is the EMA over every step, drawn with the raw one behind it
        xs, smooth = app.view.picked.loss.columns(0.9)
        _, raw = app.view.picked.loss.columns(None)
        assert len(xs) == 40 and not np.allclose(smooth, raw) and abs(smooth[0] - raw[0]) < 1e-12


async def test_back_counts_what_came_in_and_end_follows(tmp_path):
    path = tmp_path / "live.csv"
    rec = Recording.load(script_recording(tmp_path / "src.csv", steps=12))
    out = RecordWriter(path, rec.lrs, rec.options, flush_every=None)
    for row in rec.rows[:6]:
        out.add(row)
    out.flush()
    app = make_watch_app([path])
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.latest_epoch == 6)
        await pilot.press("left")
        await until(
            pilot, lambda: "back at step 5: 0 new steps since, end follows" in status_text(app)
        )
        for row in rec.rows[6:9]:
            out.add(row)
        out.flush()
        await until(pilot, lambda: app.view.latest_epoch == 9)
        assert "back at step 5: 3 new steps since, end follows" in status_text(app)
        assert app.view.shown_epoch == 5  # it stays where the user went
        await pilot.press("end")
        await until(pilot, lambda: status_text(app).startswith("following"))
        assert app.view.shown_epoch == 9
        await pilot.press("space")  # stop following here
        await until(pilot, lambda: "back at step 9" in status_text(app))
        await pilot.press("space")
        await until(pilot, lambda: status_text(app).startswith("following"))
        for row in rec.rows[9:]:
            out.add(row)
        out.close()
        await until(pilot, lambda: app.view.picked.ended)
        assert app.view.shown_epoch == 12 and "closed by the script at step 12" in status_text(app)


async def test_a_file_deleted_or_truncated_while_watched(tmp_path):
    path = script_recording(tmp_path / "gone.csv", steps=8)
    app = make_watch_app([path])
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.picked.ended)
        os.unlink(path)
        await until(pilot, lambda: "gone.csv was deleted: what was read stays" in status_text(app))
        assert app.is_running and app.view.latest_epoch == 8 and "⣿" not in "" and loss_panel(app)
        script_recording(path, steps=3)  # a new run writes the path again
        await until(pilot, lambda: app.view.latest_epoch == 3 and app.view.picked.ended)
        assert "there again: reading the new file" in status_text(app)
        with open(path, "r+b") as fh:
            fh.truncate(100)  # (a writer that opened the same file again)
        await until(pilot, lambda: "truncated: reading it anew" in status_text(app))
        assert app.is_running and app.view.latest_epoch == 0


async def test_a_file_that_stays_quiet_says_so(tmp_path, monkeypatch):
    import walker_tui.viewmodel.watch as watch

    monkeypatch.setattr(watch, "QUIET", 1.0)
    rec = Recording.load(script_recording(tmp_path / "src.csv", steps=3))
    rec.end = None  # as a killed run leaves it, or one still being written
    rec.save(tmp_path / "quiet.csv")
    app = make_watch_app([tmp_path / "quiet.csv"])
    async with app.run_test(size=(120, 40)) as pilot:
        await until(
            pilot, lambda: "no end record: cut short, or still being written" in status_text(app)
        )
        assert "no new step for" in status_text(app)


def test_watch_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    garbage = tmp_path / "bin.npz"
    garbage.write_bytes(b"\x00\x01garbage")
    for argv, words in [
        ([str(tmp_path / "x.txt")], "a recording ends in .csv, .json, .npz or .npz.part"),
        ([str(tmp_path / "no" / "r.csv")], "does not exist"),
        ([str(tmp_path / "nomatch*.csv")], "nomatch*.csv' matched no file: nothing to watch"),
        ([str(tmp_path / "run-[0-9].csv")], "run-[0-9].csv' matched no file"),
        ([str(bad)], "x.csv is not a walker-tui recording"),
        ([str(garbage)], "bin.npz is not an .npz archive"),
        ([str(tmp_path)], f"{str(tmp_path)!r} is a folder"),
        ([], "the following arguments are required: FILE"),
    ]:
        with pytest.raises(SystemExit) as exc:
            main(["watch", *argv])
        err = capsys.readouterr().err
        assert exc.value.code == 2 and err.count("\n") == 1 and words in err, err
        assert "pickle" not in err


def test_help_names_the_watch_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "walker-tui watch FILE..." in capsys.readouterr().out


async def test_watch_help_lists_its_keys(tmp_path):
    app = make_watch_app([script_recording(tmp_path / "h.csv", steps=4)])
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.picked.ended)
        await pilot.press("question_mark")
        await pilot.pause(0.3)
        text = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
        assert "walker-tui watch keys" in text and "smoothing" in text and "c  or  1-9" in text
        await pilot.press("m")  # a key of watch closes the help and acts
        await until(pilot, lambda: "accuracy by step" in loss_panel(app))


async def test_keys_of_a_live_run_say_why_they_do_nothing(tmp_path):
    app = make_watch_app([script_recording(tmp_path / "k.csv", steps=2)])
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.picked.ended)
        for key, words in [("r", "no reseed"), ("s", "no racers"), ("plus", "plays at a pace"),
                           ("w", "is on disk already"), ("x", "no training time")]:  # fmt: skip
            await pilot.press(key)
            await until(pilot, lambda w=words: w in status_text(app))


# --- the device's figures: faked on the CPU ---


async def test_the_status_line_shows_the_devices_memory(monkeypatch):
    import walker_tui.ui.app as app_module

    monkeypatch.setenv("WALKER_TUI_DEVICE_FIGURES", "1")
    calls: list[str] = []

    def fake() -> str:
        calls.append(threading.current_thread().name)
        return "device GPU0 3.0/80.0 GiB 45%"

    monkeypatch.setattr(app_module.WalkerApp, "device_probe", lambda self: fake)
    app = make_app(Config(device="cpu"), start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: "device GPU0 3.0/80.0 GiB 45%" in status_text(app))
        time.sleep(0)  # (the monitor samples on its own thread)
        start = len(calls)
        await pilot.pause(2.5)
        assert len(calls) - start <= 3  # at most once a second
        assert set(calls) == {"device-monitor"}  # never on the UI thread


def test_the_figures_read_as_they_should(monkeypatch):
    import walker_tui.ui.device_monitor as gpu

    assert gpu.app_probe("cpu")().startswith("memory ") and "MiB resident" in gpu.app_probe("cpu")()
    monkeypatch.setattr(
        gpu.Nvml,
        "gpus",
        classmethod(lambda cls, indices=None: [gpu.Gpu(0, 3 * 2**30, 80 * 2**30, 45.0)]),
    )
    line = gpu.watch_probe()
    assert line.startswith("this machine: GPU0 3.0/80.0 GiB 45% · watcher ")
    many = [gpu.Gpu(i, 2**30, 80 * 2**30, 10.0 * i) for i in range(8)]
    assert gpu.format_gpus(many) == "8 GPUs 8.0/640.0 GiB 35% mean"
    monkeypatch.setattr(gpu.Nvml, "gpus", classmethod(lambda cls, indices=None: None))
    monkeypatch.setattr(gpu, "gpu_present", lambda: True)
    assert 'pip install -e ".[gpu]"' in gpu.watch_probe()


# --- replay: how the recording ended, its logged metrics, its steps ---


async def test_replay_says_how_a_recording_ended_and_shows_its_metrics(tmp_path):
    recording, cfg = load_replay(script_recording(tmp_path / "r.csv", steps=8, log_every=4))
    app = make_app(cfg, replay=recording)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.done)
        text = status_text(app)
        assert "the recording ends here: closed by the script at step 8" in text
        assert "step 8" in text and "accuracy 100.0%" in text and "grad_norm 8" in text
        assert "by step" in loss_panel(app)


async def test_w_saves_with_how_the_run_ended(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_app(Config(device="cpu", pace=0))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.done)
        await pilot.press("w")
        await until(pilot, lambda: "saved" in status_text(app))
    saved = next(tmp_path.glob("walker-tui-*.csv"))
    end = Recording.load(saved).end
    assert end["outcome"] == "reached" and end["epoch"] == 11


async def test_a_long_file_opens_in_pieces_and_ends_drawn_whole(tmp_path, monkeypatch):
    import walker_tui.viewmodel.watch as watch
    import walker_tui.viewmodel.watch_view as watch_view

    monkeypatch.setattr(watch_view, "BULK_FRAMES", 3600.0)  # every piece but the last held back

    from test_record_stream import fake

    rec = Recording([0.01, 0.1, 0.3, 1.0], {"source": "WalkerSGD", "problem": "recorded"})
    for e in range(1, 6001):
        rec.add(fake(e))
    rec.end = end_record("closed", 6000)
    rec.save(tmp_path / "long.csv")
    # pieces that end where the end record begins: the last poll brings no row at all
    text = (tmp_path / "long.csv").read_bytes()
    rows = len(text) - len(text.splitlines(keepends=True)[-1])
    piece = next(p for p in range(rows // 3, 1000, -1) if rows % p == 0)
    monkeypatch.setattr(watch, "PIECE", piece)
    seen = []  # what each feed taken in left as the run's "reading" state (not sampled:
    absorb = watch.Run.absorb  # a fast machine could read it all between two samples)

    def absorbing(self, feed):
        n = absorb(self, feed)
        seen.append(self.reading)
        return n

    monkeypatch.setattr(watch.Run, "absorb", absorbing)
    app = make_watch_app([tmp_path / "long.csv"])
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.picked.ended, 60)
        assert any(r is not None for r in seen)  # it said it was reading
        assert app.view.picked.rows == 6000 and app.view.feeds >= 4
        assert "step 6000" in panel_text(app.query_one(CandidateBars))
        assert "│ step 6000 │" in status_text(app)
        history = app.view.picked.history
        assert len(history.recent) == 2000 and history.recent[-1].epoch == 6000


async def test_a_travel_key_before_the_first_read_says_watch_is_still_reading(tmp_path):
    # ("no epochs yet to travel through: n steps one, space runs" under a status line that
    # already said "step 120": the file was still being read)
    path = tmp_path / "empty.csv"
    out = RecordWriter(path, [0.1, 0.2], {"unit": "step"}, flush_every=None)
    out.flush()
    app = make_watch_app([path], poll=60.0)
    assert app.view.travel(0, -1).text.startswith("still reading the recordings")
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.view.feeds >= 1)
        await pilot.press("left")
        await pilot.pause(0.1)
        text = status_text(app)
        assert "no rows written yet" in text and "n steps one" not in text, text
