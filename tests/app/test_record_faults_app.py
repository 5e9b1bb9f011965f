"""The app meets a long run's faults (issue 24): its recording on a disk that fills stops with a
line on the status line while training goes on; w and p on a full disk say so and leave no
half-written file; SIGTERM and SIGHUP end it as q does, with a line and 128 + the signal."""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import sys

import pytest
from faults import fill, fill_disk_after, small_disk
from helpers import ANSI, Terminal, descendants, running, status_text, until
from test_record_stream import consecutive

from walker_tui.config import Config
from walker_tui.recording.reader import Recording
from walker_tui.ui.app import make_app

SAVED = "walker-tui-linear-seed17"


def stopped_after(line: str) -> int:
    return int(line.split("stopped after epoch ", 1)[1].split(":", 1)[0])


async def test_a_disk_that_fills_stops_the_apps_recording_and_training_goes_on(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    fill_disk_after(monkeypatch, 20_000)  # (the app's recording for w: a CSV where tmp files go)
    app = make_app(Config(device="cpu", pace=0, epochs=5000, min_loss=0))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.record.failure(app.gen) is not None, timeout=60)
        failure = app.record.failure(app.gen)
        assert "no space left on device" in failure and "\n" not in failure
        assert "the recording stopped after epoch" in status_text(app)
        stopped = stopped_after(failure)
        await until(pilot, lambda: app.view.latest_epoch > stopped + 200, timeout=60)  # trains on
        assert app.view.state in ("running", "limit") and not app.view.error
        await pilot.press("w")  # saves what the recording holds
        await pilot.pause(0.1)
        assert f"saved {stopped} epochs" in status_text(app)
    assert consecutive(Recording.load(tmp_path / f"{SAVED}.csv")) == stopped


async def test_w_when_the_apps_recording_could_not_start(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fill_disk_after(monkeypatch, 0)
    app = make_app(Config(device="cpu", pace=0))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.done)
        assert app.record.failure(app.gen) == "cannot record the run: no space left on device"
        await pilot.press("w")
        await pilot.pause(0.05)
        assert "could not save the run: cannot record the run" in status_text(app)
    assert list(tmp_path.iterdir()) == []


async def test_w_sees_its_recording_deleted_by_another_process(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_app(Config(device="cpu", pace=0))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.done)
        app.record.writer.path.unlink()  # (a cleaner of /tmp)
        await pilot.press("w")
        await pilot.pause(0.05)
        text = status_text(app)
        assert "could not save the run: the recording stopped after epoch 11" in text, text
        assert "deleted by another process" in app.record.failure(app.gen)
    assert list(tmp_path.iterdir()) == []


async def test_w_on_a_full_disk_says_so_and_leaves_no_half_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def half_copy(src, dst, *args, **kwargs):  # a full disk: part of the copy, then ENOSPC
        dst.write(src.read(100))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), dst.name)

    app = make_app(Config(device="cpu", pace=0))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.done)
        monkeypatch.setattr(shutil, "copyfileobj", half_copy)
        await pilot.press("w")
        await pilot.pause(0.05)
        assert "could not save the run: [Errno 28] No space left on device" in status_text(app)
    assert list(tmp_path.iterdir()) == []


async def test_w_and_p_on_a_real_full_disk(tmp_path, monkeypatch):
    with small_disk(tmp_path) as disk:
        fill(disk, 4096)
        monkeypatch.chdir(disk)
        app = make_app(Config(device="cpu", pace=0))
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.view.done)
            await pilot.press("w")
            await pilot.pause(0.05)
            assert "could not save the run: [Errno 28] No space left" in status_text(app)
            await pilot.press("p")
            await pilot.pause(0.2)
            assert "could not save the screenshot: [Errno 28] No space left" in status_text(app)
            assert [p.name for p in disk.iterdir()] == ["filler"]  # no half-written file
            (disk / "filler").unlink()  # room again: both work
            await pilot.press("w")
            await pilot.pause(0.05)
            assert "saved 11 epochs" in status_text(app)
            await pilot.press("p")
            await pilot.pause(0.2)
            assert "screenshot saved" in status_text(app)
        assert sorted(p.name for p in disk.iterdir()) == [f"{SAVED}.csv", f"{SAVED}.svg"]
        monkeypatch.chdir(tmp_path)


# --- signals, in a real pseudo-terminal ---

APP = [sys.executable, "-m", "walker_tui", "--device", "cpu", "--pace", "0", "--min-loss", "0",
       "--epochs", "100000000"]  # fmt: skip
ENV = {"TERM": "xterm-256color", "OMP_NUM_THREADS": "1"}


@pytest.mark.skipif(os.name != "posix", reason="signals and a pseudo-terminal")
def test_sigterm_ends_the_app_restores_the_terminal_and_names_the_epoch():
    term = Terminal(APP, ENV)
    try:
        term.wait_for("running", timeout=90)
        term.wait_for("ep/s", timeout=30)
        at = len(term.raw)
        os.kill(term.pid, signal.SIGTERM)
        code = term.exit_code(60)
        assert code == 143, (code, term.text[-2000:])
        after = term.raw[at:]
        assert b"\x1b[?1049l" in after  # it left the alternate screen: the terminal is back
        text = ANSI.sub(b"", after.split(b"\x1b[?1049l")[-1]).decode("utf-8", "replace")
        assert re.search(r"Terminated at epoch [1-9]\d*\.", text), text
        assert "Traceback" not in term.text
    finally:
        term.kill()


@pytest.mark.skipif(os.name != "posix", reason="signals and a pseudo-terminal")
def test_a_dropped_terminal_ends_the_app_with_sighup_and_leaves_nothing_running():
    term = Terminal(APP, ENV)
    try:
        term.wait_for("running", timeout=90)
        term.wait_for("ep/s", timeout=30)
        below = descendants(term.pid)
        term.hang_up()  # the SSH session drops: the kernel sends SIGHUP
        code = term.exit_code(60)
        assert code == 128 + signal.SIGHUP, code
        assert not [p for p in below if running(p)]
    finally:
        term.kill()
