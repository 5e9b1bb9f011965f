"""The three file formats a recording streams to, one sink each (``.csv``, ``.json``, and the
``.npz``'s sidecar, assembled into the ``.npz`` at the end), and the file helpers they open with."""

from __future__ import annotations

import json
import math
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from walker_tui.recording.files import (
    _MAGIC,
    _MEMBERS,
    END_MARK,
    LOG_MARK,
    Row,
    _read_log_lines,
    _stream_dtype,
    log_sidecar,
    sidecar,
)


def _open(path: Path, mode: str, newline: str | None = None) -> Any:
    """Every file a recording streams to is opened here (the tests hand it a disk that fills)."""
    return open(path, mode, newline=newline)  # noqa: SIM115 (the sink closes it)


def _begin(path: Path, mode: str, head: Any, newline: str | None = None) -> Any:
    """A recording's file, opened with its head written and flushed; a head that does not fit
    (a full disk) takes the file it began with it."""
    fh = _open(path, mode, newline=newline)
    try:
        fh.write(head)
        fh.flush()
    except OSError:
        _close_quietly(fh)
        path.unlink(missing_ok=True)
        raise
    return fh


def _close_quietly(fh: Any) -> None:
    """Close a file whose writes failed: what its buffer still holds is dropped, the handle is
    closed all the same."""
    try:
        fh.close()
    except OSError:
        pass


def _tail_lines(path: Path, block: int = 1 << 16, lines: int = 2) -> list[bytes]:
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
    lines = b"".join(blocks).split(b"\n")
    return lines[1:] if at > 0 else lines  # (the first piece may have been cut by the window)


class _CsvSink:
    """Two comment lines (options, lrs), a header row (written with the first epoch, when the
    number of weights is known), then one row an epoch; logged metrics and the end record as
    comment lines (``# log: {...}``, ``# end: {...}``), which today's loaders skip."""

    def __init__(self, path: Path, lrs: list[float], options: dict[str, Any]) -> None:
        self.k = len(lrs)
        self.file = path
        self.fh = _begin(
            path,
            "w",
            f"# walker-tui record; options: {json.dumps(options)}\n# lrs: {json.dumps(lrs)}\n",
            newline="",
        )
        self.d: int | None = None

    def _header(self, d: int) -> None:
        self.d = d
        head = ["epoch", "winner", "lr", "loss", "moved"]
        for j in range(self.k):
            head += [f"lr_{j}", f"loss_{j}"] + [f"w{i}_{j}" for i in range(d)]
        self.fh.write(",".join(head) + "\n")

    def write(self, row: Row) -> None:
        if self.d is None:
            self._header(row.weights.shape[0])
        per = np.empty((self.k, row.weights.shape[0] + 2))
        per[:, 0] = row.rates
        per[:, 1] = row.losses
        per[:, 2:] = row.weights.T
        # floats as repr: float32 values widened exactly, nan and inf as such; one write a row
        head = [row.epoch, row.winner, row.lr, row.loss, int(row.moved)]
        self.fh.write(",".join(map(repr, head + per.ravel().tolist())) + "\n")

    def log(self, epoch: int, values: dict[str, float]) -> None:
        # a comment line: today's loaders (np.loadtxt) skip it
        self.fh.write(f"{LOG_MARK}{json.dumps({'epoch': epoch, 'values': values})}\n")

    def flush(self) -> None:
        self.fh.flush()

    def close(self, path: Path, end: dict[str, Any] | None = None) -> None:
        if self.d is None:
            self._header(0)
        # (a file of no epochs gets none: today's loaders read what follows the header as rows)
        elif end is not None:
            self.fh.write(f"{END_MARK}{json.dumps(end)}\n")
        self.fh.close()

    def discard(self) -> None:
        _close_quietly(self.fh)

    def abandon(self) -> None:
        _close_quietly(self.fh)

    def last_epoch(self) -> int | None:
        """The last whole row on disk (the loader drops a cut one; comment lines are skipped)."""
        lines = _tail_lines(self.file, lines=64)
        for whole in reversed(lines[:-1]):
            if whole.startswith(b"#"):
                continue
            first = whole.split(b",", 1)[0]
            return int(first) if first.isdigit() else None  # (a head line: no epochs yet)
        return None


class _JsonSink:
    """The head (options, lrs, ``"epochs": [``) on one line, one epoch object a line, ``]}`` at
    the end: a finished file is one JSON document; a cut one loads line by line."""

    def __init__(self, path: Path, lrs: list[float], options: dict[str, Any]) -> None:
        self.file = path
        head = json.dumps({"options": options, "lrs": lrs})
        self.fh = _begin(path, "w", head[:-1] + ', "epochs": [')
        self.sep = "\n"
        self.logs: list[dict[str, Any]] = []  # logged since the last row: they go with the next

    def log(self, epoch: int, values: dict[str, float]) -> None:
        self.logs.append({"epoch": epoch, "values": values})

    def write(self, row: Row) -> None:
        doc = {
            "epoch": row.epoch,
            "winner": row.winner,
            "lr": _num(row.lr),
            "loss": _num(row.loss),
            "moved": row.moved,
            "rates": row.rates.tolist(),
            "losses": _nums(row.losses.tolist()),
            "weights": [_nums(w) for w in row.weights.tolist()],
        }
        if self.logs:  # (today's loaders read the keys they know)
            doc["logs"], self.logs = self.logs, []
        self.fh.write(self.sep + json.dumps(doc))
        self.sep = ",\n"

    def flush(self) -> None:
        self.fh.flush()

    def close(self, path: Path, end: dict[str, Any] | None = None) -> None:
        # one closing line: ], then the logs still held and the end record, then }
        tail = "\n]"
        if self.logs:
            tail += f', "logs": {json.dumps(self.logs)}'
        if end is not None:
            tail += f', "end": {json.dumps(end)}'
        self.fh.write(tail + "}\n")
        self.fh.close()

    def discard(self) -> None:
        _close_quietly(self.fh)

    def abandon(self) -> None:
        _close_quietly(self.fh)

    def last_epoch(self) -> int | None:
        """The last epoch line on disk that parses whole (as the loader reads a cut file)."""
        for line in reversed(_tail_lines(self.file)[-2:]):
            try:
                doc = json.loads(line.strip().strip(b","))
            except ValueError:
                continue
            if isinstance(doc, dict) and "epoch" in doc and "options" not in doc:
                return int(doc["epoch"])
        return None


_WINDOW = 16 << 20  # bytes of the sidecar in memory at a time while assembling the .npz


class _NpzSink:
    def __init__(self, path: Path, lrs: list[float], options: dict[str, Any]) -> None:
        self.k = len(lrs)
        self.lrs = lrs
        self.options = options
        self.part = self.file = sidecar(path)
        self.logs_part = log_sidecar(path)
        self.logs_part.unlink(missing_ok=True)  # (an earlier run's)
        head = _MAGIC + json.dumps({"options": options, "lrs": lrs}).encode() + b"\n"
        self.fh = _begin(self.part, "wb", head)
        self.buf: np.ndarray | None = None
        self.logs_fh: Any = None

    def log(self, epoch: int, values: dict[str, float]) -> None:
        if self.logs_fh is None:
            self.logs_fh = _open(self.logs_part, "w")
        self.logs_fh.write(json.dumps({"epoch": epoch, "values": values}) + "\n")

    def _dims(self, d: int) -> None:
        self.fh.write(json.dumps({"d": d, "k": self.k}).encode() + b"\n")
        self.start = self.fh.tell()
        self.buf = np.zeros(1, _stream_dtype(d, self.k))

    def write(self, row: Row) -> None:
        if self.buf is None:
            self._dims(row.weights.shape[0])
        b = self.buf
        assert b is not None
        b["epoch"] = row.epoch
        b["winner"] = row.winner
        b["lr"] = row.lr
        b["loss"] = row.loss
        b["moved"] = row.moved
        b["rates"][0] = row.rates
        b["losses"][0] = row.losses
        b["weights"][0] = row.weights
        self.fh.write(b.data)

    def flush(self) -> None:
        self.fh.flush()
        if self.logs_fh is not None:
            self.logs_fh.flush()

    def close(self, path: Path, end: dict[str, Any] | None = None) -> None:
        if self.buf is None:
            self._dims(0)
        self.fh.close()
        logs = None
        if self.logs_fh is not None:
            self.logs_fh.close()
            logs = _read_log_lines(self.logs_part)
        dtype = self.buf.dtype  # type: ignore[union-attr]
        count = (self.part.stat().st_size - self.start) // dtype.itemsize
        extras = {"log": logs, "end": end}
        _assemble(self.part, self.start, dtype, count, path, self.lrs, self.options, extras)
        self.part.unlink()
        self.logs_part.unlink(missing_ok=True)

    def discard(self) -> None:
        _close_quietly(self.fh)
        if self.logs_fh is not None:
            _close_quietly(self.logs_fh)
        self.part.unlink(missing_ok=True)
        self.logs_part.unlink(missing_ok=True)

    def abandon(self) -> None:
        _close_quietly(self.fh)
        if self.logs_fh is not None:
            _close_quietly(self.logs_fh)

    def last_epoch(self) -> int | None:
        """The last whole record of the sidecar on disk."""
        with open(self.part, "rb") as fh:
            head = [fh.readline() for _ in range(3)]
            if head[0] != _MAGIC or not head[2].endswith(b"\n"):
                return None
            dtype = _stream_dtype(json.loads(head[2])["d"], self.k)
            start = fh.tell()
            count = (os.fstat(fh.fileno()).st_size - start) // dtype.itemsize
            if count <= 0:
                return None
            fh.seek(start + (count - 1) * dtype.itemsize)
            return int(np.frombuffer(fh.read(8), "<i8")[0])


def _assemble(
    part: Path,
    start: int,
    dtype: np.dtype,
    count: int,
    path: Path,
    lrs: list[float],
    options: dict[str, Any],
    extras: dict[str, Any] | None = None,
) -> None:
    """Write the .npz of ``count`` streamed records, one member at a time from windows of the
    sidecar (at most ~16 MB in memory), to a temporary file renamed into place. ``extras``:
    members held as JSON text (``log``, ``end``), where not None."""
    chunk = max(1, _WINDOW // dtype.itemsize)
    fd, tmp = _temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED) as zf:
            for name, fieldname, kind in _MEMBERS:
                sub = dtype.fields[fieldname][0].shape  # type: ignore[index]
                with zf.open(name + ".npy", "w", force_zip64=True) as member:
                    header = {
                        "descr": np.lib.format.dtype_to_descr(np.dtype(kind)),
                        "fortran_order": False,
                        "shape": (count, *sub),
                    }
                    np.lib.format.write_array_header_1_0(member, header)
                    for at in range(0, count, chunk):
                        n = min(chunk, count - at)
                        window = np.memmap(
                            part, dtype, "r", offset=start + at * dtype.itemsize, shape=(n,)
                        )
                        member.write(np.ascontiguousarray(window[fieldname]).tobytes())
                        del window
            members = [
                ("lrs", np.asarray(lrs, dtype=np.float64)),
                ("options", np.asarray(json.dumps(options))),
            ]
            for name, value in (extras or {}).items():
                if value is not None:  # (today's loaders read the members they know)
                    members.append((name, np.asarray(json.dumps(value))))
            for name, value in members:
                with zf.open(name + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, value, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _temp_beside(path: Path) -> tuple[int, str]:
    """A temporary file next to ``path`` (renamed onto it at the end), with the permissions a
    new file gets (mkstemp's are 0600)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)
    return fd, tmp


def _num(v: Any) -> float | str:
    """A float for JSON that round-trips float32 exactly; nan and inf as strings."""
    f = float(v)
    return f if math.isfinite(f) else str(f)


def _nums(values: list[float]) -> list[float | str]:
    return [v if math.isfinite(v) else str(v) for v in values]
