"""Writing a recording epoch by epoch as a run goes (:class:`RecordWriter`, ``--record``), in
whichever format its suffix names (walker_tui.recording.formats)."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from walker_tui.recording.disk import temp_beside
from walker_tui.recording.ends import check_metric, end_record, outcome_of_exit
from walker_tui.recording.formats import FORMATS
from walker_tui.recording.schema import as_row


def _end_of(end: str | dict[str, Any] | None, epoch: int | None) -> dict[str, Any] | None:
    """An end record from an outcome's name (or a record as it is; None: none)."""
    if end is None or isinstance(end, dict):
        return end
    return end_record(end, epoch)


class RecordWriter:
    """Writes a recording epoch by epoch as it comes, in O(1) memory, and flushes what it wrote to
    the operating system within ``flush_every`` seconds (a timer thread: epochs that come in bursts,
    as the GPU path delivers them, or slowly, are on disk a second later all the same), so a killed
    run keeps all but its last second.

    ``.csv`` and ``.json`` stream straight to ``path``; a file cut anywhere (even mid-line) still
    loads. ``.npz`` cannot be appended: the epochs stream to :func:`sidecar` (``path.part``), and
    :meth:`close` assembles the ``.npz`` from it in bounded memory, atomically, then deletes it.
    ``atomic=True`` (used by :meth:`Recording.save`) gives all or nothing instead: ``.csv`` and
    ``.json`` go to a temporary file renamed into place at the end, and an error drops the write.
    Use as a context manager, or call :meth:`close`.

    A streamed recording never raises once it is open (opening it does, on a bad path or a full
    disk): when the file cannot be written (a full disk, a quota, an I/O error), or another
    process deletes or replaces it (seen at the next flush), the recording stops there, leaves
    what is on disk as it is (it loads: a half-written last row is dropped) and :attr:`failure`
    says in one line after which epoch and why; :meth:`add` then does nothing.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        lrs: Sequence[float],
        options: dict[str, Any] | None = None,
        flush_every: float | None = 1.0,
        atomic: bool = False,
    ) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        kind = FORMATS.get(suffix)
        if kind is None:
            raise ValueError(f"unknown record format {suffix!r}; use {', '.join(FORMATS)}")
        self.lrs = [float(r) for r in lrs]
        self.options = dict(options or {})
        self.atomic = atomic
        self.count = 0
        self.closed = False
        self.failure: str | None = None  # why the recording stopped, in one line
        self.last_epoch: int | None = None  # the last epoch handed over (and written)
        self.kept: int | None = None  # after a failure: the last whole epoch left on disk
        self.gone = False  # after a failure: another process deleted or replaced the file
        self._tmp: Path | None = None
        target = self.path
        if atomic and not kind.whole_at_close:
            fd, tmp = temp_beside(self.path)
            os.close(fd)
            self._tmp = target = Path(tmp)
        self._format = kind
        self._sink = kind.open_sink(target, self.lrs, self.options)
        self._identity = _identity(self._sink.fh)  # to see another process delete or replace it
        # add() and the timer take turns on the file: neither sees the other's half-done write
        self._lock = threading.Lock()
        self._unflushed = False
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        if flush_every is not None:
            self._timer = threading.Thread(
                target=self._flush_every, args=(flush_every,), name="record-flush", daemon=True
            )
            self._timer.start()

    def add(self, rec: Any) -> None:
        if self.failure is not None:
            return
        row = as_row(rec, self.lrs)
        with self._lock:
            if self.failure is not None:
                return
            try:
                self._sink.write(row)
            except OSError as error:
                self._fail(error)
                return
            self._unflushed = True
            self.last_epoch = row.epoch
        self.count += 1

    def log(self, epoch: int, values: dict[str, Any]) -> None:
        """Add named numbers (finite) to epoch ``epoch``'s row, one already written (a .csv
        writes them at once as a comment line; a .json with its next row or its end; an .npz
        to its ``.log.part`` beside the ``.part``). Never raises once open, as :meth:`add`."""
        clean = {str(k): check_metric(k, v) for k, v in values.items()}
        if self.failure is not None or not clean:
            return
        if self.last_epoch is None:
            raise ValueError("log: no epoch written yet; log adds to an epoch's row")
        with self._lock:
            if self.failure is not None or self.closed:
                return
            try:
                self._sink.log(int(epoch), clean)
            except OSError as error:
                self._fail(error)
                return
            self._unflushed = True

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        """(Holding the lock.) Hand what was written to the operating system, unless the file
        is no longer ours."""
        if self.failure is not None or self.closed:
            return
        gone = self._gone()
        if gone is not None:
            self._fail(gone=gone)
            return
        try:
            self._sink.flush()
        except OSError as error:
            self._fail(error)
            return
        self._unflushed = False

    def _flush_every(self, seconds: float) -> None:
        while not self._stop.wait(seconds):
            with self._lock:
                if self._unflushed and not self.closed:
                    try:
                        self._flush()
                    except OSError:  # an atomic write: close() says it
                        pass

    def _gone(self) -> str | None:
        """'deleted' or 'moved or replaced' when the file at the sink's path is no longer the
        one it opened (another process: rm, log rotation); None while it is."""
        if self._identity is None:
            return None
        try:
            now = os.stat(self._sink.file)
        except FileNotFoundError:
            return "deleted"
        except OSError:
            return None
        return None if (now.st_dev, now.st_ino) == self._identity else "moved or replaced"

    def _fail(self, error: OSError | None = None, gone: str | None = None) -> None:
        """(Holding the lock.) Stop recording: the file is closed as it is and :attr:`failure`
        says after which epoch and why. An atomic write raises instead (nothing is kept)."""
        if self.atomic and error is not None:
            self.failure = f"{describe_os_error(error)} ({self._sink.file})"
            raise error
        sink = self._sink
        sink.abandon()
        file = sink.file
        kept = self.last_epoch
        if gone is None:
            try:
                kept = sink.last_epoch()  # what is on disk: a cut last row does not count
            except (OSError, ValueError):
                pass
        at = "before its first epoch" if kept is None else f"after epoch {kept}"
        if gone is not None:
            why = f"{file} was {gone} by another process"
            if gone != "deleted":
                why += " (the file there now is left alone)"
        else:
            why = f"{describe_os_error(error)} ({file}"
            why += ": walker-tui replay opens it)" if file.suffix == ".part" else ")"
        self.failure = f"the recording stopped {at}: {why}"
        self.kept, self.gone = kept, gone is not None
        self._unflushed = False

    def _written_epoch(self) -> int | None:
        """(Holding the lock.) The last epoch written: :attr:`last_epoch`, or the row on disk
        where a signal (Ctrl+C) landed after a row's write and before :meth:`add` counted it
        (the end record said epoch 1958 over a last row 1959)."""
        try:
            self._sink.flush()
            on_disk = self._sink.last_epoch()
        except (OSError, ValueError):
            return self.last_epoch
        if on_disk is not None and (self.last_epoch is None or on_disk > self.last_epoch):
            return on_disk
        return self.last_epoch

    def _stop_timer(self) -> None:
        self._stop.set()
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.join()

    def close(self, end: str | dict[str, Any] | None = "closed") -> None:
        """End the file cleanly (idempotent), with its end record: ``end`` names the outcome
        (walker_tui.recording.ends.OUTCOMES: "reached", "limit", "diverged", "interrupted",
        "closed", "failed", "saved"), or is an end record, or None for none (a recording that
        was cut short, saved again as it was). A streamed recording that cannot be ended says
        why in :attr:`failure` (an .npz that cannot be assembled keeps its whole ``.part``)."""
        if self.closed:
            return
        ending = _end_of(end, self.last_epoch)
        self._stop_timer()
        with self._lock:
            self.closed = True
            if self.failure is not None:
                if self.atomic:
                    self._sink.discard()
                    self._discard()
                    raise OSError(self.failure)
                return  # (the file was left as it stood when it stopped)
            gone = None if self.atomic else self._gone()
            if gone is not None:
                self._fail(gone=gone)
                return
            if not self.atomic and ending is not None and ending.get("epoch") == self.last_epoch:
                # the end names the last epoch counted: the last written, where a signal beat
                # the count (see _written_epoch); a record naming another epoch is kept as given
                written = self._written_epoch()
                if written is not None:
                    ending = {**ending, "epoch": written}
            try:
                self._sink.close(self.path, ending)
            except OSError as error:
                if self.atomic:
                    self._sink.discard()
                    self._discard()
                    raise
                self._fail(error)
                if self._format.whole_at_close:  # (an .npz: its .part is kept)
                    upto = "no epochs" if self.kept is None else f"the epochs up to {self.kept}"
                    why = describe_os_error(error)
                    self.failure = (
                        f"could not assemble {self.path}: {why}; {self._sink.file} holds {upto} "
                        "(walker-tui replay opens it)"
                    )
                return
            except BaseException:
                self._discard()
                raise
        if self._tmp is not None:
            os.replace(self._tmp, self.path)

    def abort(self, end: str | dict[str, Any] | None = "failed") -> None:
        """Drop an ``atomic`` write (the target is left as it was); otherwise the same as
        close, with the end record ``end``."""
        if not self.atomic:
            self.close(end)
            return
        if self.closed:
            return
        self._stop_timer()
        with self._lock:
            self.closed = True
            self._sink.discard()
            self._discard()

    def _discard(self) -> None:
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, kind: Any, error: Any, tb: Any) -> None:
        if kind is not None:  # atomic: nothing written; streamed: the file ends cleanly
            outcome, how = outcome_of_exit(kind)
            self.abort(end_record(outcome, self.last_epoch, how))
        else:
            self.close()


def _identity(fh: Any) -> tuple[int, int] | None:
    """(device, inode) of an open file, or None where the platform gives no inode."""
    try:
        st = os.fstat(fh.fileno())
    except (OSError, AttributeError, ValueError):
        return None
    return (st.st_dev, st.st_ino) if st.st_ino else None


def describe_os_error(error: OSError | None) -> str:
    """An OSError's words, as a sentence's clause: 'no space left on device'."""
    text = (getattr(error, "strerror", None) or str(error)).strip() or type(error).__name__
    return text[0].lower() + text[1:] if text[1:2].islower() else text
