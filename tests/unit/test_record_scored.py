"""Issue 32: a recording says which rows scored their grid and which reused a rate (``scored``),
and the loss evaluations counted as they happened (``evals``), in every format, whole and
followed; files written before them read as every row scored, none counted; replay and watch
show a reused epoch as the live app does and count evaluations as the trainer did."""

from __future__ import annotations

import json
import re
import zipfile

import numpy as np
import pytest
import torch
from test_record_stream import FORMATS, fake_recording

from walker_tui.cli import main
from walker_tui.core.trainers.loop import Outcome
from walker_tui.recording.formats import open_tail
from walker_tui.recording.reader import Recording
from walker_tui.recording.schema import MAGICS, counted_evals, sidecar, stream_dtype
from walker_tui.recording.writer import RecordWriter
from walker_tui.ui.widgets.status import first_items
from walker_tui.viewmodel.driver import Control, Epochs, Started
from walker_tui.viewmodel.frames import panels, status_frame
from walker_tui.viewmodel.replay import Playback, load_replay
from walker_tui.viewmodel.replay_view import ReplayView
from walker_tui.viewmodel.watch import Reader

SUFFIXES = [*FORMATS, ".npz.part"]


def written(tmp_path, suffix, epochs=12):
    """A recording of ``fake`` rows (every fifth from the third reused) at ``suffix``: an
    ``.npz.part`` is the sidecar of a run not closed yet."""
    rec = fake_recording(epochs)
    if suffix == ".npz.part":
        out = RecordWriter(tmp_path / "r.npz", rec.lrs, rec.options, flush_every=None)
        for row in rec.rows:
            out.add(row)
        out.flush()
        return rec, sidecar(tmp_path / "r.npz"), out
    path = tmp_path / f"r{suffix}"
    rec.save(path)
    return rec, path, None


def followed(path):
    """Every row's scored and evals, as a tail reads them."""
    tail = open_tail(path)
    scored, evals = [], []
    while True:
        u = tail.poll(1 << 10)  # (small pieces: the rows come over several polls)
        if u.rows is not None:
            scored += u.rows.scored.tolist()
            evals += u.rows.evals.tolist()
        if u.empty and not u.more:
            tail.close()
            return scored, evals


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_scored_and_evals_are_written_and_read_back_whole_and_followed(tmp_path, suffix):
    rec, path, out = written(tmp_path, suffix)
    scored = [r.scored for r in rec.rows]
    evals = [r.evals for r in rec.rows]
    assert False in scored and True in scored and evals[3] == 7 * 4 + 2  # (fake's)
    back = Recording.load(path)
    assert [r.scored for r in back.rows] == scored and [r.evals for r in back.rows] == evals
    assert followed(path) == (scored, evals)
    if out is not None:
        out.close()
        assert followed(tmp_path / "r.npz") == (scored, evals)  # the assembled .npz


def as_before(path, suffix):
    """Rewrite a recording as walker-tui wrote it before ``scored`` and ``evals``."""
    if suffix == ".csv":
        lines = path.read_text().split("\n")
        for i, line in enumerate(lines):
            if i >= 2 and line and not line.startswith("#"):
                cells = line.split(",")
                lines[i] = ",".join(cells[:5] + cells[7:])
        assert lines[2].startswith("epoch,winner,lr,loss,moved,lr_0,")
        path.write_text("\n".join(lines))
    elif suffix == ".json":
        text, n = re.subn(r', "scored": (true|false), "evals": \d+', "", path.read_text())
        assert n == 12 and '"scored"' not in text
        path.write_text(text)
    elif suffix == ".npz":
        with zipfile.ZipFile(path) as z:
            members = {n: z.read(n) for n in z.namelist()}
        with zipfile.ZipFile(path, "w") as z:
            for name, data in members.items():
                if name not in ("scored.npy", "evals.npy"):
                    z.writestr(name, data)
    else:  # the sidecar: magic 1, records without the two fields
        data = path.read_bytes()
        lines = data.split(b"\n", 3)
        d, k = json.loads(lines[2])["d"], json.loads(lines[1])["lrs"].__len__()
        new = np.frombuffer(lines[3], stream_dtype(d, k))
        old = np.zeros(len(new), stream_dtype(d, k, version=1))
        for name in old.dtype.names:
            old[name] = new[name]
        magic = next(m for m, v in MAGICS.items() if v == 1)
        path.write_bytes(magic + b"\n".join(lines[1:3]) + b"\n" + old.tobytes())


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_recording_from_before_scored_reads_as_every_row_scored(tmp_path, suffix):
    rec, path, _ = written(tmp_path, suffix)  # (an .npz.part: as a killed run leaves it)
    as_before(path, suffix)
    back = Recording.load(path)
    assert [r.epoch for r in back.rows] == list(range(1, 13))
    assert [r.lr for r in back.rows] == [r.lr for r in rec.rows]  # (the rest reads as ever)
    assert all(r.scored for r in back.rows) and all(r.evals == 0 for r in back.rows)
    assert followed(path) == ([True] * 12, [0] * 12)
    # not counted: replay and watch count k a row, as they always did for such a file
    k = len(rec.lrs)
    counted = counted_evals(np.zeros(12), np.ones(12, bool), k)
    assert counted.tolist() == [k * e for e in range(1, 13)]


def test_evaluations_not_recorded_are_counted_k_a_scored_row_and_1_a_reused_one():
    scored = np.array([True, True, False, False, True, False])
    assert counted_evals(np.zeros(6), scored, 4).tolist() == [4, 8, 9, 10, 14, 15]
    assert counted_evals(np.zeros(2), scored[:2], 4, before=15).tolist() == [19, 23]
    assert counted_evals(np.array([13, 168]), scored[1:3], 13).tolist() == [13, 168]  # recorded


def test_a_replay_of_walker_adam_on_digits_shows_its_reused_epochs_and_counts_as_it_ran(
    tmp_path, capsys
):
    """run --record of walker:adam on a model problem: its epochs after the first reuse a rate
    (core/schedule.py). The replay (and watch) said every epoch scored its grid, with
    epoch x k evaluations; they now show what the run showed."""
    path = tmp_path / "d.csv"
    argv = ["run", "--problem", "digits", "--direction", "adam", "--epochs", "3"]
    assert main([*argv, "--record", str(path)]) == 0
    table = capsys.readouterr().out
    assert "(reused)" in table  # (what run itself said)
    recording, cfg = load_replay(path)
    rows = recording.rows
    assert rows[0].scored and not all(r.scored for r in rows)
    playback = Playback(recording, cfg)
    v = ReplayView(cfg, Control(paused=True, pace=4.0), playback)
    v.started(
        Started("cpu", ["walker"], list(recording.lrs), tuple(playback.start), None,
                playback.origin, playback.proj, playback.min_loss)
    )  # fmt: skip
    epochs = playback.advance(10)
    v.epochs(Epochs(epochs, {"walker": Outcome("limit", 3, rows[-1].loss)}, None, []))
    recs = [e["walker"] for e in epochs]
    # the trainer's count: 13 at the start, then every mini-batch's step, 1 where reused
    assert [r.evals for r in recs] == [r.evals for r in rows] and recs[0].evals == 13
    assert recs[-1].evals < 3 * 13 * 23  # (not k every step of every epoch)
    for row in rows:
        v.travel(row.epoch, 0)
        frame = panels(v)
        status = status_frame(v, frame.rec, row.epoch, 3)
        said = [text for text, _ in first_items(status)]
        if row.scored:
            assert frame.bars.reused is None and not any("reused" in t for t in said)
        else:
            assert frame.bars.reused == pytest.approx(row.lr) and status.reused
            assert any("(reused)" in t for t in said)
            # the surface marks no candidates: those held are the last scored step's
            assert frame.surface.walk is None and frame.surface.win is not None
    # watch reads the same file the same way
    feed = Reader(0, path).poll(1 << 20)
    assert [r.scored for _, r in feed.held] == [r.scored for r in rows]
    assert feed.evals.tolist() == [r.evals for r in rows]


def test_walkersgds_recording_says_which_steps_reused_a_rate(tmp_path):
    """WalkerSGD along adam reuses a rate between scorings too (optim/reuse.py): its recording
    says so step by step (evaluations not counted: replay counts k a scored step, 1 a reused)."""
    from test_optim import lbfgs_closure, least_squares, mse

    from walker_tui import WalkerSGD

    model, x, y = least_squares()
    path = tmp_path / "s.csv"
    opt = WalkerSGD(model.parameters(), lrs="log:0.001:0.3:5", direction="adam", record=path)
    closure = lbfgs_closure(opt, model, x, y, mse)
    seen = []
    for _ in range(30):
        opt.step(closure)
        seen.append(opt.last.scored)
    opt.close()
    assert False in seen
    rows = Recording.load(path).rows
    assert [r.scored for r in rows] == seen and all(r.evals == 0 for r in rows)
    recording, cfg = load_replay(path)
    recs = [e["walker"] for e in Playback(recording, cfg).advance(100)]
    assert [r.scored for r in recs] == seen
    assert recs[-1].evals == sum(5 if s else 1 for s in seen)


@pytest.mark.parametrize("suffix", FORMATS)
def test_the_apps_w_and_run_record_keep_the_engines_scored_and_evals(tmp_path, suffix):
    """run --record and the app's w write the engine's records (HostEpoch) through as_row."""
    from walker_tui.core.trainers.loop import HostEpoch

    recording = Recording([0.1, 0.2])
    for epoch, scored, evals in ((1, True, 2), (2, False, 40), (3, True, 75)):
        recording.add(
            HostEpoch(epoch, np.zeros((2, 2), "f4"), np.ones(2, "f4"), 1, 0.15, 1.0, False,
                      np.array([0.1, 0.2]), evals=evals, scored=scored)
        )  # fmt: skip
    recording.save(tmp_path / f"w{suffix}")
    back = Recording.load(tmp_path / f"w{suffix}").rows
    assert [(r.scored, r.evals) for r in back] == [(True, 2), (False, 40), (True, 75)]


def test_a_replay_walks_where_the_run_walked_on_epochs_that_reused_a_rate(tmp_path):
    """A reused rate tries no candidate, so a row kept the last scoring's candidate weights, and
    replay and watch drew the walk standing at that scoring's winner for up to 16 steps while
    its loss fell (a new user's trial: batches of 512, epochs 7 and 8). The row's weights are now
    where the walk went; replay's and watch's path is the engine's, epoch by epoch."""
    from walker_tui.config import Config
    from walker_tui.core.grid import parse_lrs
    from walker_tui.core.problems.zoo import make_problem
    from walker_tui.core.trainers.loop import to_host
    from walker_tui.core.trainers.walker import make_walker

    path = tmp_path / "b.csv"
    argv = ["run", "--problem", "digits", "--direction", "adam", "--batch-size", "512"]
    assert main([*argv, "--epochs", "12", "--quiet", "--record", str(path)]) == 0
    spec = "log:0.0001:0.1:13"  # (digits' adam grid)
    problem = make_problem("digits", 100, 17, "cpu", batch_size=512)
    cfg = Config(problem="digits", lrs_spec=spec, lrs=parse_lrs(spec), direction="adam",
                 batch_size=512, min_loss=0.0)  # fmt: skip
    trainer = make_walker(problem, cfg)
    ran = to_host([trainer.step() for _ in range(12)])
    assert [r.scored for r in ran].count(False) >= 2  # (epochs that ended on a reused step)
    recording, rcfg = load_replay(path)
    assert [r.scored for r in recording.rows] == [r.scored for r in ran]
    replayed = [e["walker"] for e in Playback(recording, rcfg).advance(100)]
    feed = Reader(0, path).poll(1 << 20)
    watched = [r for _, r in feed.held]
    for a, b, c in zip(ran, replayed, watched, strict=True):
        np.testing.assert_allclose(b.position, a.w, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(c.position, a.w, rtol=1e-6, atol=1e-7)


def test_walkersgds_recording_is_where_a_reused_rate_went(tmp_path):
    """WalkerSGD's reused step wrote the grid's rates along its direction (points never visited,
    the last winner's index among them); each row's winner is now the weights after the step."""
    from test_optim import lbfgs_closure, least_squares, mse

    from walker_tui import WalkerSGD

    model, x, y = least_squares()
    opt = WalkerSGD(model.parameters(), lrs="log:0.001:0.3:5", direction="adam",
                    record=tmp_path / "s.csv")  # fmt: skip
    closure = lbfgs_closure(opt, model, x, y, mse)
    at = []
    for _ in range(30):
        opt.step(closure)
        now = [p.detach().clone() for p in model.parameters()]
        at.append(opt.recorder.coords(now, [torch.zeros_like(p) for p in now], [0.0])[:, 0])
    opt.close()
    rows = Recording.load(tmp_path / "s.csv").rows
    assert not all(r.scored for r in rows)
    for row, where in zip(rows, at, strict=True):
        np.testing.assert_allclose(row.weights[:, row.winner], where, rtol=1e-5, atol=1e-6)
