"""The assembled ``.npz`` as a zip of ``.npy`` members: :func:`assemble` writes it from a run's
sidecar in bounded memory, :class:`ZipRows` reads it back in pieces for a tail, and
:func:`record_rows` makes either's columns the rows the readers share
(walker_tui.recording.format_npz holds the format: its writer, reader and tail)."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from walker_tui.recording import disk
from walker_tui.recording.ends import as_end
from walker_tui.recording.follow import NotRecording
from walker_tui.recording.rows import CHUNK, Rows
from walker_tui.recording.schema import MEMBERS, logs_of

__all__ = ["WINDOW", "ZipRows", "assemble", "record_rows"]

WINDOW = 16 << 20  # bytes of the sidecar in memory at a time while assembling the .npz


def assemble(
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
    chunk = max(1, WINDOW // dtype.itemsize)
    fd, tmp = disk.temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED) as zf:
            for name, fieldname, kind in MEMBERS:
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


def record_rows(a: Any) -> Rows:
    """Rows of columns by name: the sidecar's fixed-size records, or an .npz's members (already
    in memory: nothing to parse)."""

    def full(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (
            np.array(a["weights"][idx], dtype=np.float32),
            np.array(a["losses"][idx], dtype=np.float32),
            np.array(a["rates"][idx], dtype=np.float64),
        )

    names = a.dtype.names if isinstance(a, np.ndarray) else a
    return Rows(
        a["epoch"].astype(np.int64),
        a["winner"].astype(np.int64),
        np.asarray(a["lr"], dtype=np.float64),
        np.asarray(a["loss"], dtype=np.float64),
        a["moved"].astype(bool),
        full,
        a["scored"].astype(bool) if "scored" in names else None,  # (None: before it, scored)
        a["evals"].astype(np.int64) if "evals" in names else None,  # (None: not counted)
    )


NOT_ARCHIVE = "not an .npz archive (an .npz is a zip of .npy arrays)"


def is_archive(path: Path) -> bool:
    """A zip: what an .npz is (numpy takes any other file for a pickle, and says so)."""
    return zipfile.is_zipfile(path)


class ZipRows:
    """An assembled .npz read in pieces: each member streamed from the zip (ZIP_STORED, as the
    writer makes them; a compressed one streams too), from row ``skip`` on."""

    def __init__(self, path: Path, skip: int) -> None:
        if not is_archive(path):
            raise NotRecording(f"{path.name} is {NOT_ARCHIVE}")
        self.zf = zipfile.ZipFile(path)
        self.size = sum(i.file_size for i in self.zf.infolist())
        names = set(self.zf.namelist())
        with self.zf.open("lrs.npy") as f:
            self.lrs = [float(r) for r in np.lib.format.read_array(f)]
        with self.zf.open("options.npy") as f:
            self.options = json.loads(str(np.lib.format.read_array(f)))
        self.end, self.logs = None, []
        if "end.npy" in names:
            with self.zf.open("end.npy") as f:
                self.end = as_end(json.loads(str(np.lib.format.read_array(f))))
        if "log.npy" in names:
            with self.zf.open("log.npy") as f:
                self.logs = logs_of(json.loads(str(np.lib.format.read_array(f))))
        self.streams: dict[str, tuple[Any, np.dtype, tuple[int, ...]]] = {}
        self.count = 0
        wanted = [name for name, _, _ in MEMBERS if name != "moved" or "moved.npy" in names]
        wanted = [n for n in wanted if f"{n}.npy" in names]
        for name in wanted:
            f = self.zf.open(f"{name}.npy")
            version = np.lib.format.read_magic(f)
            reader = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = reader(f)
            self.streams[name] = (f, dtype, shape[1:])
            self.count = shape[0]
        self.at = 0
        self.done = 0
        self.row_bytes = sum(
            dt.itemsize * int(np.prod(sub)) for _, dt, sub in self.streams.values()
        )
        skip = min(skip, self.count)
        while self.at < skip:  # (read already, from the .part), in pieces
            self._take(min(skip - self.at, max(1, CHUNK // max(1, self.row_bytes))))

    @property
    def finished(self) -> bool:
        return self.at >= self.count

    def _take(self, n: int) -> dict[str, np.ndarray]:
        out = {}
        for name, (f, dtype, sub) in self.streams.items():
            size = dtype.itemsize * int(np.prod(sub))
            data = f.read(n * size)
            self.done += len(data)
            out[name] = np.frombuffer(data, dtype).reshape((n, *sub))
        self.at += n
        return out

    def read(self, budget: int) -> Rows | None:
        if self.finished:
            return None
        n = max(1, min(self.count - self.at, budget // max(1, self.row_bytes)))
        a = self._take(n)
        if "moved" not in a:
            a["moved"] = np.ones(n, dtype=bool)
        winner = a["winner"].astype(np.int64)
        at = np.arange(n)
        if "lr" not in a:
            a["lr"] = a["rates"][at, winner]
        if "loss" not in a:
            a["loss"] = a["losses"][at, winner]
        return record_rows(a)

    def close(self) -> None:
        for f, _, _ in self.streams.values():
            f.close()
        self.zf.close()
