"""The file handling every format's writer shares: opening a recording's files (one place, so the
tests can hand it a disk that fills), beginning one with its head, closing one whose writes
failed, reading its last lines, and the temporary file renamed into place at the end."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any


def open_for_writing(path: Path, mode: str, newline: str | None = None) -> Any:
    """Every file a recording streams to is opened here (the tests hand it a disk that fills)."""
    return open(path, mode, newline=newline)  # noqa: SIM115 (the sink closes it)


def begin(path: Path, mode: str, head: Any, newline: str | None = None) -> Any:
    """A recording's file, opened with its head written and flushed; a head that does not fit
    (a full disk) takes the file it began with it."""
    fh = open_for_writing(path, mode, newline=newline)
    try:
        fh.write(head)
        fh.flush()
    except OSError:
        close_quietly(fh)
        path.unlink(missing_ok=True)
        raise
    return fh


def close_quietly(fh: Any) -> None:
    """Close a file whose writes failed: what its buffer still holds is dropped, the handle is
    closed all the same."""
    try:
        fh.close()
    except OSError:
        pass


def last_lines(path: Path, block: int = 1 << 16, lines: int = 2) -> list[bytes]:
    """A file's last lines as its loader sees them: the piece after the last newline (a cut row,
    or empty) last, and before it at least ``lines`` whole lines (or the file's start)."""
    with open(path, "rb") as fh:
        at = fh.seek(0, os.SEEK_END)
        blocks: list[bytes] = []
        newlines = 0
        while at > 0 and newlines < lines + 1:
            step = min(block, at)
            at -= step
            fh.seek(at)
            blocks.insert(0, fh.read(step))
            newlines += blocks[0].count(b"\n")
    pieces = b"".join(blocks).split(b"\n")
    return pieces[1:] if at > 0 else pieces  # (the first piece may have been cut by the window)


def temp_beside(path: Path) -> tuple[int, str]:
    """A temporary file next to ``path`` (renamed onto it at the end), with the permissions a
    new file gets (mkstemp's are 0600)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)
    return fd, tmp
