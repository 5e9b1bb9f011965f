"""A disk that fills: the file object a recording gets raises ENOSPC once ``room`` bytes are
written, as a full disk does (the write that crosses the limit is cut short, the next fails);
and a real small disk (tmpfs) where the tests run as root."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import walker_tui.recording.disk as disk


class FullDisk(io.RawIOBase):
    """A real file on disk that takes ``room`` bytes, then fails every write with ENOSPC."""

    def __init__(self, path: os.PathLike[str] | str, room: int) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        self.room = room

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return os.lseek(self.fd, offset, whence)

    def tell(self) -> int:
        return os.lseek(self.fd, 0, os.SEEK_CUR)

    def write(self, data) -> int:  # type: ignore[override]
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = os.write(self.fd, bytes(memoryview(data)[: self.room]))
        self.room -= n
        return n

    def close(self) -> None:
        if not self.closed:
            os.close(self.fd)
        super().close()


def fill_disk_after(monkeypatch, room: int) -> list[FullDisk]:
    """Every recording file opened from now on fills after ``room`` bytes; the list gets each."""
    opened: list[FullDisk] = []

    def opener(path, mode: str, newline: str | None = None):
        raw = FullDisk(path, room)
        opened.append(raw)
        buffered = io.BufferedWriter(raw)
        if "b" in mode:
            return buffered
        return io.TextIOWrapper(buffered, encoding="utf-8", newline=newline)

    monkeypatch.setattr(disk, "open_for_writing", opener)
    return opened


@contextlib.contextmanager
def small_disk(folder: Path, size: str = "256k") -> Iterator[Path]:
    """A real small disk (a tmpfs mounted at ``folder/small``), where root may mount one;
    skips the test elsewhere, saying why."""
    mount = folder / "small"
    mount.mkdir()
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=30)


def fill(disk: Path, leave: int) -> None:
    """Fill ``disk`` but for ``leave`` bytes (tmpfs counts whole 4 KiB pages)."""
    free = shutil.disk_usage(disk).free
    (disk / "filler").write_bytes(b"\0" * max(0, free - leave))


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    """``folder/ro``: a read-only bind mount of ``folder/rw`` (writes there fail with EROFS, as
    on a read-only disk), where root may mount one; skips the test elsewhere, saying why."""
    source, mount = folder / "rw", folder / "ro"
    source.mkdir()
    mount.mkdir()
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a read-only bind mount needs root")
    made = subprocess.run(
        ["mount", "--bind", "-o", "ro", str(source), str(mount)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot bind-mount read-only here: {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=30)
