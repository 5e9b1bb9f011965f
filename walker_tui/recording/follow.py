"""Following a recording as it grows, like ``tail -f``, whatever its format: the file's identity,
a deletion, a replacement or a truncation, and the bytes written since the last look.

Each format's tail (``format_csv.CsvTail``, ``format_json.JsonTail``, ``format_npz.NpzTail``)
is a :class:`Tail` that turns those bytes into an :class:`~walker_tui.recording.rows.Update`
(:meth:`Tail.read_new`); :func:`walker_tui.recording.formats.open_tail` picks it by suffix.
Nothing new costs one ``os.stat``. Plain Python; no torch, no UI.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from walker_tui.recording.rows import CHUNK, Head, Update


class NotRecording(ValueError):
    """The file is not a walker-tui recording (its head says what it is not)."""


class Tail:
    """Follows one recording. :meth:`poll` reads what was written since the last poll: the head
    (rates and options) once, the new rows, logged metrics, the end record, and a one-line
    ``problem`` when the file was deleted or is not a recording, or ``restart`` when it was
    truncated or replaced (what was read no longer stands)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.reset()

    def reset(self) -> None:
        """Forget what was read (a subclass adds what its format keeps across polls)."""
        self.fh: Any = None
        self.mtime = 0.0
        self.identity: tuple[int, int] | None = None
        self.offset = 0
        self.buf = b""
        self.head: Head | None = None
        self.ended = False
        self.stopped: str | None = None  # a problem said: nothing more is read
        self.deleted = False  # the file went: watched for a new one at its path
        self.rows_read = 0

    def close(self) -> None:
        if self.fh is not None:
            try:
                self.fh.close()
            except OSError:
                pass
            self.fh = None

    @property
    def watched(self) -> Path:
        """The file read now."""
        return self.path

    def there_again(self) -> bool:
        """After a deletion: whether a new file is at the path."""
        return self.watched.exists()

    def read_new(self, budget: int) -> Update:
        """What the format makes of the bytes written since the last poll (at most ``budget``);
        raises :class:`NotRecording` or OSError to stop following."""
        raise NotImplementedError

    def poll(self, budget: int = CHUNK) -> Update:
        if self.deleted:  # (said once; a new file at the path is read from its start)
            if self.there_again():
                return self.restart(f"{self.path.name} is there again: reading the new file")
            return Update()
        if self.stopped is not None:
            return Update()
        if self.ended:  # (a finished file is still watched: deleted, or a new run writes it)
            gone, _ = self.changed(self.watched)
            return gone or Update()
        try:
            return self.read_new(budget)
        except NotRecording as error:
            self.stopped = str(error)
            self.close()
            return Update(problem=self.stopped)
        except OSError as error:
            self.stopped = f"{self.path} cannot be read: {error.strerror or error}"
            self.close()
            return Update(problem=self.stopped)

    def changed(self, path: Path) -> tuple[Update | None, os.stat_result | None]:
        """(an update saying the file went away or was replaced, or None; its stat)."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            if self.identity is None:
                return None, None  # (not there yet: waiting for it)
            self.close()
            self.deleted = True
            why = f"{path.name} was deleted: what was read stays on screen"
            return Update(problem=why), None
        if self.identity is not None and (st.st_dev, st.st_ino) != self.identity:
            return self.restart(f"{path.name} was replaced by another file: reading it anew"), st
        if self.fh is not None and st.st_size < self.offset:
            return self.restart(f"{path.name} was truncated: reading it anew"), st
        return None, st

    def restart(self, why: str) -> Update:
        self.close()
        self.reset()
        return Update(restart=why)

    def open_file(self, path: Path) -> None:
        self.fh = open(path, "rb")  # noqa: SIM115 (kept open while following)
        st = os.fstat(self.fh.fileno())
        self.identity = (st.st_dev, st.st_ino)

    def read_bytes(self, budget: int) -> tuple[bytes, int]:
        """New bytes (at most ``budget``) and the size now."""
        st = os.fstat(self.fh.fileno())
        size, self.mtime = st.st_size, st.st_mtime
        if size <= self.offset:
            return b"", size
        self.fh.seek(self.offset)
        data = self.fh.read(min(budget, size - self.offset))
        self.offset += len(data)
        return data, size


class TextTail(Tail):
    """A recording of text lines (``.csv``, ``.json``): whole lines are handed to :meth:`parse`,
    a line still being written waits for the next poll."""

    def parse(self, text: bytes, update: Update) -> bytes:
        """Take the rows of ``text`` into ``update``; returns what is left for the next poll."""
        raise NotImplementedError

    def read_new(self, budget: int) -> Update:
        gone, st = self.changed(self.path)
        if gone is not None:
            return gone
        if st is None:
            return Update()  # not there yet
        if self.fh is None:
            self.open_file(self.path)
        if st.st_size <= self.offset:
            return Update(done=self.offset, size=st.st_size)
        data, size = self.read_bytes(budget)
        text = self.buf + data
        update = Update(done=self.offset, size=size, more=self.offset < size, mtime=self.mtime)
        self.buf = self.parse(text, update)
        return update
