"""Recordings stream to disk as they go: a killed run keeps its epochs, memory stays flat."""

import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from types import SimpleNamespace

import children
import numpy as np
import pytest

import walker_tui.recording.npz_zip as npz_zip
from walker_tui.catalog import RECORD_FORMATS
from walker_tui.core.grid import parse_lrs
from walker_tui.core.problems.zoo import make_problem
from walker_tui.core.trainers.loop import run
from walker_tui.core.trainers.walker import Walker
from walker_tui.recording import formats
from walker_tui.recording.reader import Recording
from walker_tui.recording.schema import sidecar
from walker_tui.recording.writer import RecordWriter

FORMATS = [".csv", ".json", ".npz"]
KEYS = ["epoch", "weights", "losses", "winner", "rates", "moved", "lr", "loss", "scored", "evals",
        "lrs"]  # fmt: skip


def fake(epoch, k=4, d=3, moved=True):
    """An epoch whose rate taken and loss held are not the winner's (as when an adaptive walk
    stays put), with a nan and an inf candidate; every fifth from the third reused a rate (not
    scored), and the evaluations counted are not k an epoch."""
    rng = np.random.default_rng(epoch)
    losses = rng.random(k).astype(np.float32)
    losses[1], losses[2] = np.nan, np.inf
    return SimpleNamespace(
        epoch=epoch,
        weights=rng.standard_normal((d, k)).astype(np.float32),
        losses=losses,
        winner=epoch % k,
        rates=np.geomspace(1e-3, 1.0, k) * (1 + epoch / 7),
        moved=moved,
        lr=0.0 if not moved else 0.1 + epoch / 3,
        loss=float(np.pi * epoch),
        scored=epoch % 5 != 3,
        evals=7 * epoch + 2,
    )


def fake_recording(epochs=50, k=4, d=3):
    rec = Recording(list(np.geomspace(1e-3, 1.0, k)), {"seed": 5, "note": "é"})
    for e in range(1, epochs + 1):
        rec.add(fake(e, k, d, moved=e % 3 != 0))
    return rec


def same(a, b):
    for key in KEYS:
        assert a[key].shape == b[key].shape, key
        assert np.array_equal(a[key], b[key], equal_nan=a[key].dtype.kind == "f"), key


def consecutive(rec):
    epochs = [r.epoch for r in rec.rows]
    assert epochs == list(range(1, len(epochs) + 1))
    return len(epochs)


@pytest.mark.parametrize("suffix", FORMATS)
def test_round_trip_keeps_lr_and_loss_as_given(tmp_path, suffix):
    rec = fake_recording()
    path = tmp_path / f"r{suffix}"
    rec.save(path)
    back = Recording.load(path)
    assert back.options == rec.options and back.lrs == rec.lrs
    same(rec.arrays(), back.arrays())
    a = back.arrays()
    assert a["lr"][2] == 0.0 and a["lr"][2] != a["rates"][2, a["winner"][2]]  # stayed put
    assert a["loss"][4] == np.pi * 5 != a["losses"][4, a["winner"][4]]
    assert not sidecar(path).exists() and not list(tmp_path.glob(".*"))  # no temporary left


@pytest.mark.parametrize("suffix", FORMATS)
def test_streamed_file_is_todays_layout(tmp_path, suffix):
    """What the writer streams is what the in-memory save writes, and loads as before."""
    rec = fake_recording(20)
    path = tmp_path / f"s{suffix}"
    with RecordWriter(path, rec.lrs, rec.options) as out:
        for row in rec.rows:
            out.add(row)
    same(rec.arrays(), Recording.load(path).arrays())
    if suffix == ".json":
        doc = json.loads(path.read_text())
        # today's keys, and the end record (issue 22) that today's loaders skip
        assert set(doc) == {"options", "lrs", "epochs", "end"} and len(doc["epochs"]) == 20
        assert doc["end"]["outcome"] == "closed" and doc["end"]["epoch"] == 20
        assert doc["epochs"][2]["lr"] == 0.0 and doc["epochs"][0]["losses"][1] == "nan"
    if suffix == ".csv":
        lines = path.read_text().splitlines()
        assert lines[0].startswith("# walker-tui record; options: ")
        assert lines[2].startswith("epoch,winner,lr,loss,moved,scored,evals,lr_0,loss_0,w0_0")
    if suffix == ".npz":
        with np.load(path) as z:
            assert set(z) == {*KEYS, "options", "end"} and z["weights"].shape == (20, 3, 4)


@pytest.mark.parametrize("suffix", FORMATS)
def test_no_epochs(tmp_path, suffix):
    path = tmp_path / f"e{suffix}"
    RecordWriter(path, [0.1, 0.2], {"x": 1}).close()
    back = Recording.load(path)
    assert back.rows == [] and back.lrs == [0.1, 0.2] and back.options == {"x": 1}


def test_npz_is_assembled_window_by_window(tmp_path, monkeypatch):
    monkeypatch.setattr(npz_zip, "WINDOW", 1000)  # a few records a window
    rec = fake_recording(77)
    rec.save(tmp_path / "w.npz")
    same(rec.arrays(), Recording.load(tmp_path / "w.npz").arrays())


def write_unclosed(path, epochs=30):
    """A writer that dies without closing: everything it was given is flushed, nothing ended
    (and no flush timer left running after the test)."""
    rec = fake_recording(epochs)
    out = RecordWriter(path, rec.lrs, rec.options, flush_every=None)
    for row in rec.rows:
        out.add(row)
    out.flush()
    return rec


@pytest.mark.parametrize("suffix", [".csv", ".json", ".npz.part"])
def test_a_file_cut_anywhere_loads_its_whole_epochs(tmp_path, suffix):
    whole = tmp_path / "whole.npz" if suffix == ".npz.part" else tmp_path / f"whole{suffix}"
    rec = write_unclosed(whole)
    data = (sidecar(whole) if suffix == ".npz.part" else whole).read_bytes()
    full = rec.arrays()
    cut = tmp_path / f"cut{suffix}"
    counts = []
    for end in np.linspace(len(data) // 3, len(data), 23).astype(int):
        cut.write_bytes(data[:end])  # mid-line, mid-number, mid-record
        back = Recording.load(cut)
        n = consecutive(back)
        assert n >= 9
        a = back.arrays()
        same({key: full[key][:n] if key != "lrs" else full[key] for key in KEYS}, a)
        counts.append(n)
    assert counts[-1] == 30 and len(set(counts)) > 10


def test_npz_path_opens_the_sidecar_of_a_killed_run(tmp_path):
    rec = write_unclosed(tmp_path / "k.npz")
    assert not (tmp_path / "k.npz").exists()
    same(rec.arrays(), Recording.load(tmp_path / "k.npz").arrays())


@pytest.mark.parametrize("suffix", FORMATS)
def test_on_disk_within_the_interval_without_another_epoch(tmp_path, suffix):
    """A burst of epochs then a long wait (the GPU path's batches, or a slow epoch): what was
    written reaches the disk within flush_every, not at the next epoch."""
    path = tmp_path / f"f{suffix}"
    out = RecordWriter(path, [0.1, 0.2, 0.3, 0.4], {}, flush_every=0.2)
    on_disk = sidecar(path) if suffix == ".npz" else path
    try:
        for e in range(1, 4):
            out.add(fake(e))
        deadline = time.monotonic() + 10
        while len(Recording.load(on_disk).rows) < 3:
            assert time.monotonic() < deadline, "not flushed"
            time.sleep(0.05)
    finally:
        out.close()  # (its flush timer too, whatever happened)
    assert consecutive(Recording.load(path)) == 3


def test_an_error_drops_an_atomic_save(tmp_path):
    for suffix in FORMATS:
        path = tmp_path / f"old{suffix}"
        path.write_text("keep me")
        with pytest.raises(ZeroDivisionError):
            with RecordWriter(path, [0.1, 0.2, 0.3, 0.4], {}, atomic=True) as out:
                out.add(fake(1))
                raise ZeroDivisionError
        assert path.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.csv", "old.json", "old.npz"]


@pytest.mark.parametrize("suffix", FORMATS)
def test_writer_memory_does_not_grow_with_epochs(tmp_path, suffix):
    out = RecordWriter(tmp_path / f"m{suffix}", [0.1, 0.2, 0.3, 0.4], {})
    rows = [fake(e) for e in range(1, 101)]
    tracemalloc.start()
    try:
        for i in range(2000):
            out.add(rows[i % 100])
        start = tracemalloc.get_traced_memory()[0]
        for i in range(20000):
            out.add(rows[i % 100])
        grown = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
        out.close()
    assert grown < 100_000  # bytes, over 20,000 epochs: nothing kept per epoch


def test_adaptive_walk_records_what_the_trainer_says(tmp_path):
    """lr and loss are the trainer's own (rec.lr, rec.loss), not the winner's rate and loss."""
    rates = parse_lrs("0.1:1:0.1")
    seen = []
    with RecordWriter(tmp_path / "a.json", rates, {}) as out:

        def keep(rec):
            seen.append((rec.lr, rec.loss))
            out.add(rec)

        run(
            Walker(make_problem("rosenbrock", 100, 17, "cpu"), rates, adaptive=True),
            30,
            0.0,
            on_epoch=keep,
        )
    a = Recording.load(tmp_path / "a.json").arrays()
    assert list(zip(a["lr"], a["loss"], strict=True)) == seen


def start_run(path):
    """`walker-tui run` that would go on for ever, recording to ``path`` (killed after the test)."""
    proc = children.spawn(
        [sys.executable, "-m", "walker_tui", "run", "--min-loss", "0", "--epochs", "100000000"]
        + ["--quiet", "--device", "cpu", "--record", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    on_disk = sidecar(path) if path.suffix == ".npz" else path
    deadline = time.monotonic() + 60
    while not on_disk.exists():  # torch is loaded and the run has begun
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate(timeout=30)
            pytest.fail(f"the run never started its recording (exit {proc.returncode}): {err}")
        time.sleep(0.05)
    return proc


@pytest.mark.skipif(os.name != "posix", reason="signals")
@pytest.mark.parametrize("suffix", FORMATS)
def test_kill_9_keeps_the_epochs_up_to_the_last_second(tmp_path, suffix):
    path = tmp_path / f"r{suffix}"
    proc = start_run(path)
    time.sleep(3.0)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    if suffix == ".npz":
        assert not path.exists() and sidecar(path).exists()
    rec = Recording.load(path)  # .npz: opens its sidecar
    assert consecutive(rec) >= 100
    assert rec.options["epochs"] == 100000000 and len(rec.lrs) == 9
    assert all(r.weights.shape == (2, 9) and np.isfinite(r.loss) for r in rec.rows)


@pytest.mark.skipif(os.name != "posix", reason="signals")
@pytest.mark.parametrize("suffix", FORMATS)
def test_ctrl_c_ends_the_file_cleanly(tmp_path, suffix):
    path = tmp_path / f"c{suffix}"
    proc = start_run(path)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Interrupted at epoch" in err
    stopped = int(err.split("Interrupted at epoch ")[1].split(".")[0])
    assert not sidecar(path).exists() and not list(tmp_path.glob(".*"))
    if suffix == ".json":
        json.loads(path.read_text())  # one whole JSON document
    if suffix == ".csv":
        assert path.read_text().endswith("\n")
    # every epoch handed over is there (Ctrl+C may land after the step, before its record)
    back = Recording.load(path)
    assert consecutive(back) in (stopped - 1, stopped)
    # and the file says how it ended (issue 22): not as a killed run reads
    assert back.end["outcome"] == "interrupted" and back.end["how"] == "Ctrl+C"
    assert back.end["epoch"] == back.rows[-1].epoch


def test_every_format_the_command_line_takes_has_its_writer_reader_and_tail(tmp_path):
    assert tuple(formats.FORMATS) == RECORD_FORMATS  # (--record checks against the catalog's list)
    for suffix, kind in formats.FORMATS.items():
        assert kind.suffix == suffix
        assert formats.format_of(tmp_path / f"r{suffix.upper()}") is kind
        path = tmp_path / f"r{suffix}"
        sink = kind.open_sink(path, [0.1, 1.0], {"problem": "x"})
        sink.close(path)
        assert kind.read(path)[0] == [0.1, 1.0]
        tail = kind.tail(path)
        assert tail.poll().head.lrs == [0.1, 1.0]
        tail.close()
    assert formats.format_of(tmp_path / "r.npz.part") is formats.FORMATS[".npz"]
    assert formats.format_of(tmp_path / "r.txt") is None


@pytest.mark.parametrize("suffix", FORMATS)
def test_the_end_record_names_the_last_row_written_though_a_signal_beat_its_count(tmp_path, suffix):
    """Ctrl+C can land after a row's write and before the writer counts it (seen once under
    load: 'interrupted' at epoch 1958 over a last row 1959); the end record names the row on
    disk."""
    from walker_tui.recording.schema import as_row

    path = tmp_path / f"s{suffix}"
    out = RecordWriter(path, list(np.geomspace(1e-3, 1.0, 4)), {"seed": 5})
    for e in range(1, 6):
        out.add(fake(e))
    out._sink.write(as_row(fake(6), out.lrs))  # written, the count beaten to it
    out.close("interrupted")
    back = Recording.load(path)
    assert back.rows[-1].epoch == 6 and back.end["epoch"] == 6


@pytest.mark.parametrize("suffix", FORMATS)
def test_an_end_record_built_from_the_count_names_the_row_written(tmp_path, suffix):
    """As `run` ends a file on Ctrl+C: an end record built from ``last_epoch`` (the count) is
    corrected to the row on disk where a signal beat the count."""
    from walker_tui.recording.ends import end_record
    from walker_tui.recording.schema import as_row

    path = tmp_path / f"e{suffix}"
    out = RecordWriter(path, list(np.geomspace(1e-3, 1.0, 4)), {"seed": 5})
    for e in range(1, 6):
        out.add(fake(e))
    out._sink.write(as_row(fake(6), out.lrs))  # written, the count beaten to it
    out.close(end_record("interrupted", out.last_epoch, "Ctrl+C"))
    back = Recording.load(path)
    assert back.rows[-1].epoch == 6 and back.end["epoch"] == 6 and back.end["how"] == "Ctrl+C"
