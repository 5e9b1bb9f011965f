"""What w and p write (walker_tui.viewmodel.saved.write_new): a new file under the name they report,
never through a symlink, and an OSError that goes up as one line even where the clean-up fails
too (a read-only disk refuses the unlink as it refused the write)."""

from __future__ import annotations

import errno
import os
import pathlib
import shutil

import pytest

from walker_tui.viewmodel.saved import RunRecord, write_new


def erofs(*args, **kwargs):
    raise OSError(errno.EROFS, os.strerror(errno.EROFS))


def test_a_name_taken_by_a_symlink_is_skipped_and_nothing_written_through_it(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "run.csv").symlink_to(outside / "target.csv")  # points nowhere yet
    dest = write_new("run", ".csv", lambda fh: fh.write(b"data\n"), folder)
    assert dest == folder / "run-2.csv" and dest.read_bytes() == b"data\n"
    assert list(outside.iterdir()) == []  # nothing written outside the folder
    assert (folder / "run.csv").is_symlink()


def test_an_existing_file_is_never_overwritten(tmp_path):
    (tmp_path / "run.csv").write_bytes(b"old")
    dest = write_new("run", ".csv", lambda fh: fh.write(b"new"), tmp_path)
    assert dest.name == "run-2.csv" and (tmp_path / "run.csv").read_bytes() == b"old"


def test_a_failed_write_goes_up_even_when_its_clean_up_fails(tmp_path, monkeypatch):
    def half(fh):
        fh.write(b"part")
        erofs()

    monkeypatch.setattr(pathlib.Path, "unlink", erofs)
    with pytest.raises(OSError) as raised:
        write_new("run", ".csv", half, tmp_path)
    assert raised.value.errno == errno.EROFS


def test_w_on_a_disk_that_refuses_the_write_and_the_clean_up_says_one_line(tmp_path, monkeypatch):
    record = RunRecord()
    record.dir = str(tmp_path)
    src = tmp_path / "run-1.csv"
    src.write_text("# walker-tui\nepoch,loss\n1,0.5\n")

    class Writer:  # what RunRecord.save reads of its RecordWriter
        path, count, failure, gone, kept = src, 1, None, False, None

        def flush(self) -> None:
            pass

    record.writer = Writer()  # type: ignore[assignment]
    monkeypatch.chdir(tmp_path)
    for name in ("copyfile", "copyfileobj"):  # (the copy, however it is made)
        monkeypatch.setattr(shutil, name, erofs)
    monkeypatch.setattr(pathlib.Path, "unlink", erofs)
    note = record.save(1, "saved", "running")
    assert note.text.startswith("could not save the run: [Errno 30] Read-only file system")
    assert "\n" not in note.text
