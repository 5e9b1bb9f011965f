"""Faults a long run meets (issue 24): a full disk, a file deleted or replaced under the writer,
SIGTERM and SIGHUP. The recording stops and says so in one line, what is on disk still loads,
training goes on; a signal ends `run` and `bench` as Ctrl+C does."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest
import torch
from faults import fill_disk_after, small_disk
from test_record_stream import consecutive, fake, start_run

from walker_tui import WalkerSGD
from walker_tui.cli import main
from walker_tui.cli.signals import Stopped, ending
from walker_tui.recording.reader import Recording
from walker_tui.recording.schema import sidecar
from walker_tui.recording.writer import RecordWriter

FORMATS = [".csv", ".json", ".npz"]
RATES = [0.1, 0.2, 0.3, 0.4]
FULL = "no space left on device"


def on_disk(path):
    return sidecar(path) if path.suffix == ".npz" else path


def stopped_after(line: str) -> int:
    """The epoch a failure line says the recording stopped after."""
    return int(line.split("stopped after epoch ", 1)[1].split(":", 1)[0])


# --- the writer ---


@pytest.mark.parametrize("suffix", FORMATS)
@pytest.mark.parametrize("room", [400, 3000, 50_000])
def test_a_disk_that_fills_stops_the_recording_and_keeps_what_it_holds(
    tmp_path, monkeypatch, suffix, room
):
    fill_disk_after(monkeypatch, room)
    path = tmp_path / f"r{suffix}"
    out = RecordWriter(path, RATES, {"seed": 1}, flush_every=None)
    for e in range(1, 3001):  # never raises
        out.add(fake(e))
    out.close()
    out.close()
    assert out.failure is not None and FULL in out.failure, out.failure
    assert "\n" not in out.failure and str(on_disk(path)) in out.failure
    assert out.count < 3000  # it stopped taking epochs
    rec = Recording.load(path)  # .npz: opens the .part it left
    kept = consecutive(rec)
    if kept:
        assert stopped_after(out.failure) == kept == out.kept
    else:
        assert "before its first epoch" in out.failure
    assert rec.options == {"seed": 1} and len(rec.lrs) == 4
    if suffix == ".npz":
        assert not path.exists()  # (not assembled: the disk is full)


@pytest.mark.parametrize("suffix", FORMATS)
def test_a_disk_full_from_the_start_raises_at_open_and_leaves_no_file(
    tmp_path, monkeypatch, suffix
):
    fill_disk_after(monkeypatch, 10)
    path = tmp_path / f"r{suffix}"
    with pytest.raises(OSError) as error:
        RecordWriter(path, RATES, {}, flush_every=None)
    assert error.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", FORMATS)
def test_an_atomic_save_on_a_full_disk_raises_and_leaves_the_old_file(
    tmp_path, monkeypatch, suffix
):
    path = tmp_path / f"old{suffix}"
    path.write_text("keep me")
    rec = Recording(RATES, {})
    for e in range(1, 200):
        rec.add(fake(e))
    fill_disk_after(monkeypatch, 2000)
    with pytest.raises(OSError):
        rec.save(path)
    assert path.read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize("suffix", FORMATS)
@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_file_deleted_or_replaced_is_seen_at_the_next_flush(tmp_path, suffix, how):
    path = tmp_path / f"r{suffix}"
    out = RecordWriter(path, RATES, {}, flush_every=None)
    for e in range(1, 11):
        out.add(fake(e))
    out.flush()
    target = on_disk(path)
    rotated = tmp_path / ("rotated" + (".npz.part" if suffix == ".npz" else suffix))
    if how == "deleted":
        target.unlink()
    else:  # log rotation: moved aside, a new file in its place
        target.rename(rotated)
        target.write_text("someone else's")
    for e in range(11, 21):
        out.add(fake(e))
    assert out.failure is None  # not yet: at the next flush
    out.flush()
    assert out.failure is not None and "another process" in out.failure
    assert ("deleted" if how == "deleted" else "moved or replaced") in out.failure
    assert stopped_after(out.failure) == 20 and out.gone
    out.add(fake(21))
    out.close()
    assert out.count == 20
    if how == "replaced":
        assert target.read_text() == "someone else's"  # left alone
        assert consecutive(Recording.load(rotated)) >= 10  # what was flushed went with it
    else:
        assert not target.exists()
    if suffix == ".npz":
        assert not path.exists()  # never assembled from a file that is not its own


def test_the_flush_timer_sees_a_deleted_file_too(tmp_path):
    path = tmp_path / "r.csv"
    out = RecordWriter(path, RATES, {}, flush_every=0.05)
    try:
        out.add(fake(1))
        deadline = time.monotonic() + 10
        while "\n1," not in path.read_text():  # the timer has flushed epoch 1
            assert time.monotonic() < deadline, "the timer never flushed"
            time.sleep(0.02)
        path.unlink()
        out.add(fake(2))
        while out.failure is None:
            assert time.monotonic() < deadline, "the timer never noticed"
            time.sleep(0.02)
    finally:
        out.close()  # (its flush timer's thread too, whatever happened)
    assert "deleted by another process" in out.failure and not path.exists()


@pytest.fixture
def tmpfs(tmp_path):
    with small_disk(tmp_path) as disk:
        yield disk


def test_an_npz_that_cannot_be_assembled_keeps_its_whole_part(tmpfs):
    path = tmpfs / "r.npz"
    out = RecordWriter(path, RATES, {}, flush_every=None)
    epochs = 0
    while sidecar(path).stat().st_size < 150_000:  # more than half the disk: no room for both
        epochs += 1
        out.add(fake(epochs))
    out.close()
    assert out.failure is not None and out.failure.startswith(f"could not assemble {path}: {FULL}")
    assert f"{sidecar(path)} holds the epochs up to {epochs}" in out.failure
    assert not path.exists() and consecutive(Recording.load(path)) == epochs
    assert [p.name for p in tmpfs.iterdir()] == ["r.npz.part"]  # (its temporary file is gone)


# --- run ---


@pytest.mark.parametrize("suffix", FORMATS)
def test_run_on_a_disk_that_fills_trains_on_and_ends_with_the_line(
    tmp_path, monkeypatch, capsys, suffix
):
    fill_disk_after(monkeypatch, 20_000)
    path = tmp_path / f"r{suffix}"
    argv = ["run", "--min-loss", "0", "--epochs", "2000", "--device", "cpu", "--record", str(path)]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert out.splitlines()[-1] == "Final loss: 0.083 in 2000 epochs."  # the training went on
    lines = err.strip().splitlines()
    assert lines[0].endswith("; the run goes on") and FULL in lines[0]
    assert lines[-1].startswith("walker-tui run: error: the recording stopped after epoch ")
    kept = consecutive(Recording.load(path))
    assert 0 < kept < 2000 and stopped_after(lines[-1]) == kept


@pytest.mark.parametrize("suffix", FORMATS)
def test_run_on_a_full_disk_says_so_at_the_start(tmp_path, monkeypatch, capsys, suffix):
    fill_disk_after(monkeypatch, 0)
    path = tmp_path / f"r{suffix}"
    assert main(["run", "--device", "cpu", "--record", str(path)]) == 1
    out, err = capsys.readouterr()
    assert err == f"walker-tui run: error: cannot write {path}: {FULL}\n" and out == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", FORMATS)
def test_run_on_a_real_small_disk(tmpfs, suffix):
    path = tmpfs / f"r{suffix}"
    done = subprocess.run(
        [sys.executable, "-m", "walker_tui", "run", "--min-loss", "0", "--epochs", "3000"]
        + ["--quiet", "--device", "cpu", "--record", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "Final loss" in done.stdout
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("walker-tui run: error: the recording stopped after epoch ")
    assert FULL in last and consecutive(Recording.load(path)) == stopped_after(last)


def run_into_a_closed_pipe(path, epochs):
    """`walker-tui run --record PATH | head` where the reader has already left: its stdout is a
    pipe whose read end is closed, so its first flush fails with EPIPE. Its stdout is block
    buffered, as a pipe's is (no PYTHONUNBUFFERED): the rows go out 8 KiB at a time."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "walker_tui", "run", "--epochs", str(epochs), "--min-loss", "0"]
            + ["--device", "cpu", "--record", str(path)],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            env=env,
        )
    finally:
        os.close(write)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, Recording.load(path)


@pytest.mark.skipif(os.name != "posix", reason="pipes")
@pytest.mark.parametrize("suffix", FORMATS)
def test_a_pipe_closed_at_the_final_line_keeps_the_whole_recording(tmp_path, suffix):
    """3 epochs: the table is flushed only with the final line, after the training; the file
    still holds every epoch and ends with the run's own outcome (the epoch limit)."""
    path = tmp_path / f"p{suffix}"
    code, rec = run_into_a_closed_pipe(path, 3)
    assert code == 141  # (as a pipe broken mid-run: walker_tui.cli.main)
    assert consecutive(rec) == 3
    assert rec.end is not None and (rec.end["outcome"], rec.end["epoch"]) == ("limit", 3)
    assert not sidecar(path).exists()


@pytest.mark.skipif(os.name != "posix", reason="pipes")
def test_a_pipe_closed_mid_run_keeps_the_epochs_that_ran(tmp_path):
    """Enough rows to fill stdout's buffer mid-run: the run stops there, its file ends."""
    path = tmp_path / "m.csv"
    code, rec = run_into_a_closed_pipe(path, 5000)
    assert code == 141
    kept = consecutive(rec)
    assert 0 < kept < 5000
    assert rec.end is not None and rec.end["outcome"] == "failed"
    assert (rec.end["epoch"], rec.end["how"]) == (kept, "BrokenPipeError")


# --- WalkerSGD ---


def regression(seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 3, generator=gen)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.3
    model = torch.nn.Linear(3, 1)
    return model, x, y


@pytest.mark.parametrize("suffix", FORMATS)
def test_walkersgd_on_a_disk_that_fills_warns_once_and_trains_on(tmp_path, monkeypatch, suffix):
    torch.manual_seed(0)
    fill_disk_after(monkeypatch, 6000)
    model, x, y = regression()
    path = tmp_path / f"run{suffix}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with WalkerSGD(model.parameters(), lrs="0.1:1:0.1", record=path) as opt:

            def closure():
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(model(x).squeeze(1), y)
                loss.backward()
                return loss

            first = float(opt.step(closure))
            for _ in range(299):
                loss = float(opt.step(closure))
    ours = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(ours) == 1 and FULL in str(ours[0].message), [str(w.message) for w in caught]
    assert ours[0].filename == __file__  # pointed at the user's step, not inside the library
    assert opt.last.step == 300 and loss < first * 1e-3  # the training went on
    assert opt.record_error is not None and "\n" not in opt.record_error
    kept = consecutive(Recording.load(path))
    assert 0 < kept < 300 and stopped_after(opt.record_error) == kept


def test_walkersgd_sees_its_file_deleted_and_trains_on(tmp_path):
    model, x, y = regression()
    path = tmp_path / "run.csv"
    opt = WalkerSGD(model.parameters(), lrs="0.1:1:0.1", record=path)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x).squeeze(1), y)
        loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)
    assert opt.record_error is None
    path.unlink()
    opt.writer.flush()  # (the flush timer's next tick, without waiting a second for it)
    with pytest.warns(RuntimeWarning, match="deleted by another process"):
        opt.step(closure)
    opt.step(closure)
    opt.close()
    assert opt.last.step == 7 and not path.exists()


def test_walkersgd_installs_no_signal_handler(tmp_path):
    before = [signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)]
    model, _, _ = regression()
    with WalkerSGD(model.parameters(), record=tmp_path / "r.npz"):
        now = [signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)]
    assert now == before


USER_SCRIPT = """
import signal, sys, time
import torch
from walker_tui import WalkerSGD

# the README's line: SIGTERM ends the script through its finally (and the with)
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
x = torch.randn(256, 2)
y = x[:, 0] - x[:, 1]
model = torch.nn.Linear(2, 1)
with WalkerSGD(model.parameters(), lrs="0.1:1:0.1", record=sys.argv[1]) as opt:
    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x).squeeze(1), y)
        loss.backward()
        return loss
    for step in range(10**9):
        opt.step(closure)
        if step == 20:
            print("stepping", flush=True)
"""


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_a_users_script_under_sigterm_assembles_its_npz(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(USER_SCRIPT))
    path = tmp_path / "run.npz"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline() == "stepping\n"
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143
    assert path.exists() and not sidecar(path).exists()
    assert consecutive(Recording.load(path)) > 20


# --- signals: run and bench end as Ctrl+C ends them ---


@pytest.mark.skipif(os.name != "posix", reason="signals")
@pytest.mark.parametrize(
    "signum, words", [(signal.SIGTERM, "Terminated"), (signal.SIGHUP, "Hung up")]
)
def test_sigterm_and_sighup_end_run_and_assemble_the_npz(tmp_path, signum, words):
    path = tmp_path / "x.npz"
    proc = start_run(path)
    time.sleep(1.5)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"{words} at epoch ") and line.endswith(".")
    stopped = int(line.split(" at epoch ")[1][:-1])
    assert path.exists() and not sidecar(path).exists() and not list(tmp_path.glob(".*"))
    with np.load(path) as z:
        assert len(z["epoch"]) in (stopped - 1, stopped)


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_under_nohup_sighup_is_left_ignored(tmp_path):
    path = tmp_path / "n.csv"
    ignore = lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN)  # noqa: E731 (as nohup does)
    proc = subprocess.Popen(
        [sys.executable, "-m", "walker_tui", "run", "--min-loss", "0", "--epochs", "100000000"]
        + ["--quiet", "--device", "cpu", "--record", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ignore,
    )
    try:
        deadline = time.monotonic() + 60
        while not path.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert proc.poll() is None  # still running
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143 and err.startswith("Terminated at epoch ")


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_sigterm_ends_bench_with_one_line(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "walker_tui", "bench", "--min-loss", "0", "--epochs", "10000000"]
        + ["--repeat", "1", "--device", "cpu"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr.readline().startswith("timing ")  # the racers are running
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143 and err == "Terminated.\n"


def test_main_in_process_leaves_the_signal_handlers_as_they_were(capsys):
    before = [signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)]
    assert main(["run", "--device", "cpu", "--quiet"]) == 0
    assert [signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)] == before


def test_a_signal_in_process_ends_run_as_ctrl_c_does(tmp_path, monkeypatch, capsys):
    """The handler raises Stopped where Ctrl+C raises KeyboardInterrupt: same clean end."""
    import walker_tui.cli.headless as headless

    real = headless.run

    def terminated(trainer, *args, on_epoch=None, **kw):
        def then_term(rec):
            on_epoch(rec)
            if rec.epoch == 30:
                os.kill(os.getpid(), signal.SIGTERM)

        return real(trainer, *args, on_epoch=then_term, **kw)

    monkeypatch.setattr(headless, "run", terminated)
    path = tmp_path / "t.npz"
    code = main(["run", "--min-loss", "0", "--epochs", "1000", "--device", "cpu", "--quiet",
                 "--record", str(path)])  # fmt: skip
    assert code == 143
    assert capsys.readouterr().err in ("Terminated at epoch 30.\n", "Terminated at epoch 31.\n")
    assert consecutive(Recording.load(path)) in (30, 31) and not sidecar(path).exists()


def test_stopped_is_a_keyboard_interrupt_with_its_signal():
    with contextlib.suppress(KeyboardInterrupt):
        raise Stopped(signal.SIGHUP)
    assert ending(Stopped(signal.SIGTERM)) == ("Terminated", 143)
    assert ending(Stopped(signal.SIGHUP)) == ("Hung up", 129)
    assert ending(KeyboardInterrupt()) == ("Interrupted", 130)


@pytest.mark.parametrize(
    "cut,why",
    [
        (300, "it was cut in its head"),  # inside its first line, the options
        (5, "it was cut in its head"),  # inside "# walker-tui record"
        (0, "it is empty"),
    ],
)
def test_a_csv_cut_inside_its_first_line_says_it_was_cut_in_its_head(tmp_path, cut, why):
    """A recording cut before its first newline (``head -c 300``) is not empty: the reader
    dropped the cut line and said 'it is empty' of a 300-byte file (beside
    test_walkersgd_checks' test of the files that are not recordings)."""
    from walker_tui.viewmodel.replay import ReplayError, load_replay

    model = torch.nn.Linear(4, 1)
    whole = tmp_path / "run.csv"
    with WalkerSGD(model.parameters(), lrs=[0.1, 0.01], record=whole) as opt:

        def closure():
            opt.zero_grad()
            loss = model(torch.ones(2, 4)).pow(2).mean()
            loss.backward()
            return loss

        for _ in range(2):
            opt.step(closure)
    text = whole.read_bytes()
    assert text.index(b"\n") > 300  # (the options line is longer than the cut)
    path = tmp_path / "cut.csv"
    path.write_bytes(text[:cut])
    with pytest.raises(ReplayError) as error:
        load_replay(path)
    assert str(error.value).startswith(f"{str(path)!r} is not a walker-tui recording: {why}")
