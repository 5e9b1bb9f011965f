"""What ``w`` saves: the walker's epochs streamed to a temporary CSV recording as they arrive
(bounded memory, whatever the run's length), copied out under a free name with an end record.
No Textual: the app hands it epochs and says the line it returns."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from walker_tui.numbers import epochs
from walker_tui.recording.ends import end_record
from walker_tui.recording.format_csv import append_end
from walker_tui.recording.writer import RecordWriter, describe_os_error
from walker_tui.viewmodel.view import Note


def write_new(
    stem: str, suffix: str, write: Callable[[BinaryIO], object], folder: Path | None = None
) -> Path:
    """Write a new file ``stem.suffix`` in ``folder`` (the working folder), or ``stem-2.suffix``...
    where that name is taken, and return its path. The name is claimed with O_CREAT | O_EXCL, so a
    save never overwrites a file and never writes through a symlink (one that points nowhere
    included: its name counts as taken). ``write`` fills the file, open in binary for reading and
    writing. On an OSError the file made is removed where the disk still allows it, and the
    error goes up (a read-only disk refuses the unlink too)."""
    folder = Path.cwd() if folder is None else folder
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_BINARY", 0)
    for i in range(1, 10_000):
        path = folder / (f"{stem}{suffix}" if i == 1 else f"{stem}-{i}{suffix}")
        try:
            fd = os.open(path, flags, 0o666)
        except FileExistsError:
            continue
        try:
            with os.fdopen(fd, "r+b") as fh:
                write(fh)
        except OSError:
            with contextlib.suppress(OSError):
                path.unlink()  # (a copy a full disk cut short)
            raise
        return path
    raise FileExistsError(f"no free name for {stem}{suffix} in {folder}")


class RunRecord:
    """The walker's recording of each run (``gen``), and why it stopped, said once a run."""

    def __init__(self) -> None:
        self.dir: str | None = None
        self.writer: RecordWriter | None = None  # this run's
        self.failed: tuple[int, str] | None = None  # (run, why)

    def new_run(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.writer = None

    def failure(self, gen: int) -> str | None:
        """Why run ``gen``'s recording stopped (a full disk, a deleted file), if it did."""
        return self.failed[1] if self.failed is not None and self.failed[0] == gen else None

    def add(
        self, gen: int, epochs: list[dict], options: Callable[[], dict[str, Any]]
    ) -> Note | None:
        """Stream the walker's epochs of these Epochs (``options``: the run's, asked for when
        its file starts); a Note the first time recording stops (the training goes on)."""
        recs = [f["walker"] for f in epochs if "walker" in f]
        if not recs:
            return None
        if self.writer is None:
            if self.failure(gen) is not None:
                return None  # (it could not start this run: said once)
            try:
                if self.dir is None:
                    self.dir = tempfile.mkdtemp(prefix="walker-tui-")
                path = Path(self.dir) / f"run-{gen}.csv"
                self.writer = RecordWriter(path, list(recs[0].rates), options(), flush_every=None)
            except OSError as error:  # (a full disk where temporary files go)
                return self._stopped(gen, f"cannot record the run: {describe_os_error(error)}")
        for rec in recs:
            self.writer.add(rec)
        if self.writer.failure is not None and self.failure(gen) is None:
            return self._stopped(gen, self.writer.failure)
        return None

    def _stopped(self, gen: int, why: str) -> Note:
        self.failed = (gen, why)
        return Note(f"{why}; training goes on", style="bold red", seconds=30, sticky=True)

    def save(self, gen: int, stem: str, state: str) -> Note:
        """Copy run ``gen``'s recording to ``stem.csv`` (a free name) with an end record saying
        how the run ended (``state``), or that it went on after the save."""
        writer = self.writer
        if writer is not None:
            writer.flush()  # (never raises; sees a file another process deleted)
            if writer.failure is not None and self.failure(gen) is None:
                self.failed = (gen, writer.failure)
        failed = self.failure(gen)  # the recording stopped: w saves what it holds
        held = 0 if writer is None else writer.count
        if failed is not None:
            held = 0 if writer is None or writer.gone else (writer.kept or 0)
            if not held:
                return Note(f"could not save the run: {failed}", style="bold red", sticky=True)
        elif held == 0 or writer is None:
            return Note("nothing to save yet: the run has no epochs")
        assert writer is not None  # (it holds epochs)
        source, end = writer.path, state if state in ("reached", "limit", "diverged") else "saved"

        def write(fh: BinaryIO) -> None:
            with open(source, "rb") as src:
                shutil.copyfileobj(src, fh)
            append_end(fh, end_record(end, held))

        try:
            dest = write_new(stem, ".csv", write)
        except OSError as error:
            return Note(f"could not save the run: {error}", "bold red", seconds=8, sticky=True)
        note = "" if failed is None else f" ({failed})"
        return Note(
            f"saved {epochs(held)} to {dest} (walker-tui replay {dest.name}){note}",
            seconds=8,
            sticky=True,
        )

    def close(self) -> None:
        """The app is quitting: the temporary recordings go."""
        self.new_run()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
