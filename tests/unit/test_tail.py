"""Issue 22: recordings read as they grow (formats.open_tail), their end records and logged
metrics in every format, and the bulk paths (Curve/History.extend, the EMA) that let watch open
a long file without a Python step per epoch."""

import io
import json
import os
import zipfile

import numpy as np
import pytest
from test_record_stream import FORMATS, fake, fake_recording, same

from walker_tui.recording.ends import describe_end, end_record
from walker_tui.recording.formats import open_tail
from walker_tui.recording.reader import Recording
from walker_tui.recording.schema import log_sidecar, sidecar
from walker_tui.recording.writer import RecordWriter
from walker_tui.viewmodel.history import Curve, History
from walker_tui.viewmodel.series import Series, ema
from walker_tui.viewmodel.watch import Reader


def drain(tail, budget=1 << 20):
    """Everything new: rows (small columns, and the candidates of every row), logs, end."""
    out = {"epoch": [], "loss": [], "moved": [], "weights": [], "logs": [], "end": None,
           "problems": [], "restarts": []}  # fmt: skip
    while True:
        u = tail.poll(budget)
        if u.rows is not None and len(u.rows):
            out["epoch"] += u.rows.epoch.tolist()
            out["loss"] += u.rows.loss.tolist()
            out["moved"] += u.rows.moved.tolist()
            out["weights"] += list(u.rows.full(np.arange(len(u.rows)))[0])
        out["logs"] += u.logs
        out["end"] = u.end or out["end"]
        out["problems"] += [u.problem] if u.problem else []
        out["restarts"] += [u.restart] if u.restart else []
        if u.empty and not u.more:
            return out


@pytest.mark.parametrize("suffix", FORMATS)
def test_a_growing_file_is_read_piece_by_piece_as_the_loader_reads_it_whole(tmp_path, suffix):
    rec = fake_recording(30)
    path = tmp_path / f"g{suffix}"
    out = RecordWriter(path, rec.lrs, rec.options, flush_every=None)
    tail = open_tail(path)
    seen = drain(tail)
    assert seen["epoch"] == []
    got = {"epoch": [], "loss": [], "moved": [], "weights": [], "logs": []}
    for at in range(0, 30, 7):  # a few rows, a flush, a look: as a live writer and watch go
        for row in rec.rows[at : at + 7]:
            out.add(row)
        out.log(rec.rows[min(at + 6, 29)].epoch, {"acc": at / 30})
        out.flush()
        part = drain(tail)
        for key in got:
            got[key] += part[key]
        assert part["end"] is None  # (no end record until close)
    out.close("reached")
    last = drain(tail)
    for key in got:
        got[key] += last[key]
    assert last["end"]["outcome"] == "reached" and last["end"]["epoch"] == 30
    whole = Recording.load(path)
    assert got["epoch"] == [r.epoch for r in whole.rows]
    assert np.array_equal(got["loss"], [r.loss for r in whole.rows])
    assert got["moved"] == [r.moved for r in whole.rows]
    for a, b in zip(got["weights"], whole.rows, strict=True):
        assert np.array_equal(a, b.weights, equal_nan=True)
    assert got["logs"] == whole.logs and len(whole.logs) == 5
    assert whole.end["outcome"] == "reached"


def test_a_csv_row_cut_mid_line_waits_for_its_end(tmp_path):
    rec = fake_recording(4)
    path = tmp_path / "cut.csv"
    rec.save(path)
    text = path.read_bytes()
    head_and_two = text.split(b"\n")
    partial = b"\n".join(head_and_two[:5]) + b"\n" + head_and_two[5][:11]
    path.write_bytes(partial)
    tail = open_tail(path)
    assert drain(tail)["epoch"] == [1, 2]  # the half row is not read as a row
    with open(path, "ab") as fh:
        fh.write(head_and_two[5][11:] + b"\n")
    assert drain(tail)["epoch"] == [3]


def test_a_json_row_is_read_before_the_next_one_is_written(tmp_path):
    """The writer puts the comma before the next row: the newest row has no newline yet, and
    watch must not wait for the next epoch to show it."""
    rec = fake_recording(3)
    path = tmp_path / "j.json"
    out = RecordWriter(path, rec.lrs, rec.options, flush_every=None)
    tail = open_tail(path)
    out.add(rec.rows[0])
    out.flush()
    assert drain(tail)["epoch"] == [1]
    out.add(rec.rows[1])
    out.flush()
    assert drain(tail)["epoch"] == [2]
    out.close()


def test_an_npz_run_is_followed_from_its_part_to_its_assembled_file(tmp_path):
    rec = fake_recording(12)
    path = tmp_path / "n.npz"
    out = RecordWriter(path, rec.lrs, rec.options, flush_every=None)
    tail = open_tail(sidecar(path))  # (watch run.npz.part: the same as watch run.npz)
    for row in rec.rows[:8]:
        out.add(row)
    out.log(8, {"acc": 0.5})
    out.flush()
    first = drain(tail)
    assert first["epoch"] == list(range(1, 9)) and first["logs"] == [(8, {"acc": 0.5})]
    for row in rec.rows[8:]:
        out.add(row)  # not flushed: these reach watch through the assembled .npz
    out.log(12, {"acc": 0.75})
    out.close("limit")
    assert not sidecar(path).exists() and not log_sidecar(path).exists()
    rest = drain(tail)
    assert rest["epoch"] == [9, 10, 11, 12] and rest["problems"] == []
    assert rest["logs"] == [(12, {"acc": 0.75})] and rest["end"]["outcome"] == "limit"


def test_a_finished_npz_opens_in_pieces(tmp_path):
    rec = fake_recording(200)
    path = tmp_path / "big.npz"
    rec.save(path)
    tail = open_tail(path)
    pieces = 0
    epochs = []
    while True:
        u = tail.poll(2000)  # a few rows a piece
        if u.rows is not None:
            pieces += 1
            epochs += u.rows.epoch.tolist()
        if u.empty and not u.more:
            break
    assert epochs == list(range(1, 201)) and pieces > 10


def test_a_deleted_truncated_or_replaced_file_is_said_once(tmp_path):
    rec = fake_recording(6)
    path = tmp_path / "f.csv"
    rec.save(path)
    tail = open_tail(path)
    assert len(drain(tail)["epoch"]) == 6
    os.unlink(path)
    gone = drain(tail)
    assert gone["problems"] == ["f.csv was deleted: what was read stays on screen"]
    assert drain(tail)["problems"] == []  # said once
    fake_recording(3).save(path)  # a new file at the path: read from its start
    back = drain(tail)
    assert "there again" in back["restarts"][0] and back["epoch"] == [1, 2, 3]
    with open(path, "r+b") as fh:  # truncated (the same file: a writer that reopened it "w")
        fh.truncate(40)
    cut = drain(tail)
    assert "was truncated: reading it anew" in cut["restarts"][0] and cut["epoch"] == []
    fake_recording(2).save(tmp_path / "other.csv")
    os.replace(tmp_path / "other.csv", path)  # replaced (another inode)
    again = drain(tail)
    assert "was replaced by another file" in again["restarts"][0] and again["epoch"] == [1, 2]


def test_a_file_that_is_no_recording_is_one_line(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    assert drain(open_tail(path))["problems"] == ["x.csv is not a walker-tui recording"]
    path = tmp_path / "x.json"
    path.write_text('{"a": 1}\n')
    assert "not a walker-tui recording" in drain(open_tail(path))["problems"][0]


# --- the end record and logs, in the formats today's loaders read ---


@pytest.mark.parametrize("suffix", FORMATS)
def test_end_records_and_logs_leave_todays_loaders_reading(tmp_path, suffix):
    """The readers before issue 22 read: a .csv with np.loadtxt after its header (comment
    lines skipped), a .json with json.loads and the keys they know, an .npz by member."""
    rec = fake_recording(5)
    rec.logs = [(2, {"acc": 0.25}), (5, {"acc": 0.5, "norm": 3.0})]
    rec.end = end_record("interrupted", 5, "Terminated")
    path = tmp_path / f"t{suffix}"
    rec.save(path)
    back = Recording.load(path)
    same(rec.arrays(), back.arrays())
    assert back.logs == rec.logs and back.end["outcome"] == "interrupted"
    if suffix == ".csv":
        lines = path.read_text().split("\n", 3)
        table = np.loadtxt(io.StringIO(lines[3]), delimiter=",", ndmin=2)
        assert table.shape[0] == 5
        assert path.read_text().splitlines()[-1].startswith("# end: ")
    if suffix == ".json":
        doc = json.loads(path.read_text())
        assert [x["epoch"] for x in doc["epochs"]] == [1, 2, 3, 4, 5]
        assert doc["end"]["how"] == "Terminated"
    if suffix == ".npz":
        with zipfile.ZipFile(path) as z:
            assert {"end.npy", "log.npy"} <= set(z.namelist())
        with np.load(path) as z:
            assert z["weights"].shape == (5, 3, 4)


def test_a_recording_without_an_end_record_says_it_may_be_cut_short(tmp_path):
    rec = fake_recording(3)
    rec.save(tmp_path / "old.csv")  # (no end: as before issue 22, or a killed run)
    back = Recording.load(tmp_path / "old.csv")
    assert back.end is None
    assert describe_end(back.end) == "no end record: cut short, or still being written"
    assert describe_end(end_record("closed", 480), "step") == "closed by the script at step 480"
    assert describe_end(end_record("interrupted", 50, "Terminated")) == (
        "interrupted (Terminated) at epoch 50"
    )


def test_writer_log_refuses_what_a_file_cannot_hold(tmp_path):
    path = tmp_path / "l.csv"
    out = RecordWriter(path, [0.1, 0.2, 0.3, 0.4], {}, flush_every=None)
    with pytest.raises(ValueError, match="no epoch written yet"):
        out.log(1, {"acc": 0.5})
    out.add(fake(1))
    for bad, kind in [(float("nan"), ValueError), ("high", TypeError), (None, TypeError)]:
        with pytest.raises(kind, match="metric 'acc'"):
            out.log(1, {"acc": bad})
    out.log(1, {"acc": 0.5})
    out.close()
    assert Recording.load(path).logs == [(1, {"acc": 0.5})]


# --- bulk paths ---


def test_curve_extend_keeps_what_append_keeps():
    rng = np.random.default_rng(0)
    rows = np.column_stack([np.arange(1, 20001), rng.random(20000)])
    one, many = Curve(256), Curve(256)
    for r in rows:
        one.append(*r)
    at = 0
    for size in (3, 500, 1, 7000, 12496):  # pieces of every size, across the halvings
        many.extend(rows[at : at + size])
        at += size
    assert at == 20000 and one.stride == many.stride and len(one) == len(many)
    for a, b in zip(one.columns(), many.columns(), strict=True):
        assert np.array_equal(a, b)


def test_history_extend_holds_what_add_holds():
    recs = [fake(e, k=3, d=2) for e in range(1, 5001)]
    for r in recs:
        r.position = r.weights[:, r.winner]
        r.evals = r.epoch * 3
        r.seconds = 0.0
    one, many = History(keep=100), History(keep=100)
    for r in recs:
        one.add(r)
    # pieces as the follower gives them: all rows of a short piece, of a long one the first,
    # the sampled and the last `keep`
    at = 0
    for size in (50, 3000, 1950):
        piece = recs[at : at + size]
        held = [(i, r) for i, r in enumerate(piece) if size <= 100 or at + i < 2048
                or r.epoch % 4 == 0 or i >= size - 100]  # fmt: skip
        ep = np.array([r.epoch for r in piece])
        many.extend(ep, np.array([r.loss for r in piece]), ep * 3, held)
        at += size
    assert [r.epoch for r in one.recent] == [r.epoch for r in many.recent]
    assert [r.epoch for r in one.early] == [r.epoch for r in many.early]
    assert set(many.sampled) <= set(one.sampled) and len(many.sampled) > 0.9 * len(one.sampled)
    a, b = one.curve.columns(), many.curve.columns()
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert many.at(4000) is not None or many.nearest(4000) is not None


def test_the_ema_is_tensorboards_over_every_value():
    rng = np.random.default_rng(3)
    values = rng.random(3000)
    values[[5, 700, 701]] = np.nan
    values[9] = np.inf
    for w in (0.6, 0.9, 0.99):
        num = den = 0.0
        want = []
        for v in values:  # the debiased average, skipping what is not finite
            if np.isfinite(v):
                num, den = w * num + (1 - w) * v, w * den + (1 - w)
            want.append(num / den if den else np.nan)
        n1, d1, a = ema(values[:1234], w)
        _, _, b = ema(values[1234:], w, n1, d1)
        assert np.allclose(np.concatenate([a, b]), want, rtol=1e-12, equal_nan=True)
        series = Series(cap=64)  # thinned for memory: the averages are still over every value
        for at in range(0, 3000, 1000):
            series.extend(np.arange(at + 1, at + 1001), values[at : at + 1000])
        xs, smooth = series.columns(w)
        assert len(xs) < 100 and np.isclose(smooth[-1], want[-1])
        kept = xs.astype(int) - 1
        assert np.allclose(smooth, np.asarray(want)[kept], equal_nan=True)


def test_a_long_piece_builds_records_for_a_sample_only(tmp_path):
    rec = fake_recording(30000, k=4, d=2)
    path = tmp_path / "long.npz"
    rec.save(path)
    reader = Reader(0, path)
    held, rows = 0, 0
    while True:
        feed = reader.poll(8 << 20)
        if feed is None:
            break
        held += len(feed.held)
        rows += len(feed.epochs)
        if not feed.more and feed.end is not None:
            break
    assert rows == 30000 and held < 30000 / 2
