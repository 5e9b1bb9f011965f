"""The recording formats behind one protocol, chosen by suffix: each format's module
(``format_csv``, ``format_json``, ``format_npz``) holds its writer (a :class:`Sink`), its
whole-file reader and its tail; :data:`FORMATS` maps ``.csv``, ``.json`` and ``.npz`` (the
suffixes of ``catalog.RECORD_FORMATS``) to them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

from walker_tui.recording.follow import Tail
from walker_tui.recording.format_csv import CsvFormat
from walker_tui.recording.format_json import JsonFormat
from walker_tui.recording.format_npz import NpzFormat
from walker_tui.recording.schema import Contents, Row


class Sink(Protocol):
    """A format's writer of one recording, driven by ``RecordWriter`` (which holds the lock,
    the flush timer and the failures): rows and logged metrics as they come, an end record at
    :meth:`close`."""

    file: Path  # the file it streams to (an .npz's sidecar; a temporary file when atomic)
    fh: Any  # its open file (the writer watches its identity)

    def write(self, row: Row) -> None: ...
    def log(self, epoch: int, values: dict[str, float]) -> None: ...
    def flush(self) -> None: ...
    def close(self, path: Path, end: dict[str, Any] | None = None) -> None:
        """End the file with ``end`` (None: none); ``path`` is where it belongs."""

    def discard(self) -> None:
        """Close it and drop what it wrote (an atomic write that failed)."""

    def abandon(self) -> None:
        """Close it, leaving on disk what is there (a streamed write that failed)."""

    def last_epoch(self) -> int | None:
        """The last whole row on disk, as the format's reader would load it."""


class RecordFormat(Protocol):
    """One recording format: its writer, its whole-file reader and its tail."""

    suffix: str
    whole_at_close: bool  # the file is written whole at close, renamed into place (an .npz)

    def open_sink(self, path: Path, lrs: list[float], options: dict[str, Any]) -> Sink:
        """A writer streaming to ``path`` (its head written: raises OSError where it cannot)."""

    def read(self, path: Path) -> Contents:
        """The whole recording, finished or cut short."""

    def tail(self, path: Path) -> Tail:
        """A follower of the recording as it grows."""


FORMATS: dict[str, RecordFormat] = {".csv": CsvFormat(), ".json": JsonFormat(), ".npz": NpzFormat()}


def format_of(path: str | os.PathLike[str]) -> RecordFormat | None:
    """The format of a recording by its suffix (an ``.npz`` run's sidecar ``r.npz.part`` is an
    ``.npz``), or None for a suffix that is none of them."""
    name = Path(path).name.lower()
    if name.endswith(".npz.part"):
        return FORMATS[".npz"]
    return FORMATS.get(Path(name).suffix)


def open_tail(path: str | os.PathLike[str]) -> Tail:
    """A follower of ``path`` (``.csv``, ``.json``, ``.npz`` or ``.npz.part``), like ``tail -f``:
    each ``poll()`` returns what was written since the last; raises ValueError for another
    suffix."""
    kind = format_of(path)
    if kind is None:
        raise ValueError(f"{str(path)!r}: a recording ends in .csv, .json, .npz or .npz.part")
    return kind.tail(Path(path))


def probe(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be watched (one line), or None: a recording, or not there yet."""
    if Path(path).is_dir():  # (before the suffix: /tmp has none, d.csv/ has one)
        return f"{str(path)!r} is a folder"
    try:
        tail = open_tail(path)
    except ValueError as error:
        return str(error)
    update = tail.poll(1 << 16)
    tail.close()
    return update.problem
