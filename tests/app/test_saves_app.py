"""w and p in every state (live, replay, watch) on a disk that refuses writes: each says in one
line why it saved nothing, and the app stays up (the clean-up after a failed save once raised
the same error again and took the app down)."""

from __future__ import annotations

import builtins
import errno
import os
import pathlib

from faults import read_only
from helpers import status_text, until

from walker_tui.cli import main
from walker_tui.config import Config
from walker_tui.ui.app import make_app, make_watch_app
from walker_tui.viewmodel.replay import load_replay


def refused(path: object) -> OSError:
    return OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))


async def press_and_read(pilot, key: str) -> str:
    await pilot.press(key)
    await pilot.pause(0.2)
    return status_text(pilot.app)


async def saves_refused(app, keys: str = "wp") -> list[str]:
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.latest_epoch > 0, timeout=60)
        said = [await press_and_read(pilot, key) for key in keys]
        assert app.is_running  # still up after both
    return said


def recorded(folder: pathlib.Path) -> pathlib.Path:
    path = folder / "run.csv"
    assert main(["run", "--record", str(path), "--quiet", "--device", "cpu"]) == 0
    return path


async def test_w_and_p_on_a_read_only_mount_in_every_state(tmp_path, monkeypatch):
    path = recorded(tmp_path)
    with read_only(tmp_path) as disk:
        monkeypatch.chdir(disk)
        live = await saves_refused(make_app(Config(device="cpu", pace=0)))
        assert "could not save the run: [Errno 30] Read-only file system" in live[0]
        assert "could not save the screenshot: [Errno 30] Read-only file system" in live[1]
        recording, cfg = load_replay(path)
        replay = await saves_refused(make_app(cfg, replay=recording))
        assert "on disk already: w saves nothing new" in replay[0]
        assert "could not save the screenshot: [Errno 30]" in replay[1]
        watch = await saves_refused(make_watch_app([path]), "p")
        assert "could not save the screenshot: [Errno 30]" in watch[0]
        assert list(disk.iterdir()) == []


async def test_p_where_both_the_write_and_its_clean_up_are_refused(tmp_path, monkeypatch):
    """As a read-only disk does, faked where no mount is allowed: every open for writing in the
    folder and every unlink raise EROFS."""
    monkeypatch.chdir(tmp_path)
    real_open, real_os_open = builtins.open, os.open

    def no_write_open(file, mode="r", *args, **kwargs):
        if str(tmp_path) in str(file) and any(c in mode for c in "wax+"):
            raise refused(file)
        return real_open(file, mode, *args, **kwargs)

    def no_write_os_open(path, flags, *args, **kwargs):
        if str(tmp_path) in str(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise refused(path)
        return real_os_open(path, flags, *args, **kwargs)

    def no_unlink(self, missing_ok=False):
        raise refused(self)

    app = make_app(Config(device="cpu", pace=0))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.done)
        monkeypatch.setattr(builtins, "open", no_write_open)
        monkeypatch.setattr(os, "open", no_write_os_open)
        monkeypatch.setattr(pathlib.Path, "unlink", no_unlink)
        text = await press_and_read(pilot, "p")
        assert "could not save the screenshot: [Errno 30] Read-only file system" in text
        assert app.is_running
    assert list(tmp_path.iterdir()) == []
