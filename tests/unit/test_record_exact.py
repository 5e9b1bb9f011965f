"""A .csv recording's numbers read back bit for bit: float32 losses and weights written with 9
significant digits (walker_tui.recording.float_text, or '%.9g' for small rows), float64 rates,
lr and loss as repr; through the whole-file reader (replay) and the tail (watch); and files of
the old writer (repr everywhere) read as before."""

from __future__ import annotations

import numpy as np
import pytest

from walker_tui.recording import float_text
from walker_tui.recording.format_csv import SMALL
from walker_tui.recording.formats import open_tail
from walker_tui.recording.reader import Recording
from walker_tui.recording.schema import CSV_HEAD, Row
from walker_tui.recording.writer import RecordWriter

F32_EDGES = np.array(
    [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.1,
        np.nan,
        np.inf,
        -np.inf,
        1e-45,
        -1e-45,
        2e-45,
        1.1754942e-38,
        1.17549435e-38,
        -1.17549435e-38,  # denormals, normal
        3.4028235e38,
        -3.4028235e38,
        3.4028233e38,
        9.999999e-5,
        1e-4,
        99999995.0,
        1e8,
        1e10,
        123456789.0,
        0.3333333,
        16777217.0,
        5e-324,
    ],  # fmt: skip
    dtype=np.float32,
)
F64_EDGES = [0.1, 0.1 + 0.2, 1 / 3, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
             -0.0, 1e-300, 123456789.12345678, float("nan"), float("inf")]  # fmt: skip


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal bit for bit, any nan matching any nan (their payloads are not kept)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    bits = "u4" if a.dtype == np.float32 else "u8"
    nan = np.isnan(a) & np.isnan(b)
    return bool(np.all((a.view(bits) == b.view(bits)) | nan))


def random_float32(n: int, seed: int = 0) -> np.ndarray:
    """Every exponent (denormals, nan and inf included), random mantissas and signs."""
    bits = np.random.default_rng(seed).integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    return bits.view(np.float32)


def test_float_text_brings_back_every_float32_bit_for_bit():
    x = np.concatenate([F32_EDGES, random_float32(200_000)])
    chars, ends = float_text.text(x)
    parts = chars.decode("ascii").split(",")
    assert parts[-1] == "" and len(parts) == len(x) + 1
    assert np.array_equal(ends, np.cumsum([len(p) + 1 for p in parts[:-1]]))
    assert max(len(p) for p in parts) <= 15  # (format_csv.FIELD: 32)
    as32 = np.array(parts[:-1], dtype=np.float32)  # read as float32, and as the readers do
    as64 = np.array(parts[:-1], dtype=np.float64).astype(np.float32)
    assert same_bits(as32, x) and same_bits(as64, x)
    assert parts[:8] == ["0", "-0", "1e+00", "-1e+00", "1.00000001e-01", "nan", "inf", "-inf"]


def edge_rows(d: int, epochs: int = 3) -> tuple[list[float], list[Row]]:
    """Rows of d weights and 5 candidates holding every edge value and random float32s, and
    float64 rates, lr and loss."""
    k = 5
    rng = np.random.default_rng(d)
    lrs = [0.1, 1 / 3, 5e-324, 1.7976931348623157e308, 123456789.12345678]
    rows = []
    for epoch in range(1, epochs + 1):
        pool = np.concatenate([F32_EDGES, random_float32(d * k, seed=epoch)])[: d * k]
        weights = rng.permutation(pool).reshape(d, k)
        some = np.concatenate([F32_EDGES, random_float32(k, seed=100 + epoch)])
        losses = rng.permutation(some)[:k]
        rates = np.array(rng.permutation(F64_EDGES)[:k], dtype=np.float64)
        lr, loss = F64_EDGES[epoch % len(F64_EDGES)], float(rng.standard_normal())
        rows.append(Row(epoch, weights, losses, epoch % k, rates, True, lr, loss, True, epoch))
    return lrs, rows


# (random bits hold signalling nans: widening one to float64 warns, as it always did)
@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("d", [40, 337], ids=["small rows ('%.9g')", "float_text rows"])
def test_a_csv_recording_reads_back_bit_for_bit_whole_and_tailed(tmp_path, d):
    lrs, rows = edge_rows(d)
    assert (rows[0].weights.size + 5 < SMALL) == (d == 40)  # (both ways of writing are tried)
    path = tmp_path / "r.csv"
    with RecordWriter(path, lrs, {"problem": "edges"}, flush_every=None) as out:
        for row in rows:
            out.add(row)
    back = Recording.load(path)  # (what replay reads)
    assert same_bits(np.array(back.lrs), np.array(lrs))
    for got, want in zip(back.rows, rows, strict=True):
        assert same_bits(got.weights, want.weights) and same_bits(got.losses, want.losses)
        assert same_bits(got.rates, want.rates)
        assert same_bits(np.array([got.lr, got.loss]), np.array([want.lr, want.loss]))
        assert (got.epoch, got.winner, got.evals) == (want.epoch, want.winner, want.evals)
    tail = open_tail(path)  # (what watch reads)
    update = tail.poll(1 << 24)
    weights, losses, rates = update.rows.full(np.arange(len(rows)))
    assert same_bits(weights, np.stack([r.weights for r in rows]))
    assert same_bits(losses, np.stack([r.losses for r in rows]))
    assert same_bits(rates, np.stack([r.rates for r in rows]))
    assert same_bits(update.rows.lr, np.array([r.lr for r in rows]))
    assert same_bits(update.rows.loss, np.array([r.loss for r in rows]))


def old_csv(path, lrs: list[float], rows: list[Row]) -> None:
    """A .csv as the writer before float_text wrote it: every number as repr."""
    k, d = len(lrs), rows[0].weights.shape[0]
    head = ["epoch", "winner", "lr", "loss", "moved", "scored", "evals"]
    for j in range(k):
        head += [f"lr_{j}", f"loss_{j}"] + [f"w{i}_{j}" for i in range(d)]
    lines = [f'{CSV_HEAD}; options: {{"problem": "old"}}', f"# lrs: {lrs}", ",".join(head)]
    for r in rows:
        per = np.empty((k, d + 2))
        per[:, 0], per[:, 1], per[:, 2:] = r.rates, r.losses, r.weights.T
        first = [r.epoch, r.winner, r.lr, r.loss, int(r.moved), int(r.scored), r.evals]
        lines.append(",".join(map(repr, first + per.ravel().tolist())))
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("d", [40, 337])
def test_old_files_of_repr_numbers_read_as_the_new_ones(tmp_path, d):
    lrs, rows = edge_rows(d)
    old, new = tmp_path / "old.csv", tmp_path / "new.csv"
    old_csv(old, lrs, rows)
    with RecordWriter(new, lrs, {"problem": "old"}, flush_every=None) as out:
        for row in rows:
            out.add(row)
    assert old.read_bytes() != new.read_bytes().rsplit(b"\n# end: ", 1)[0] + b"\n"
    a, b = Recording.load(old).arrays(), Recording.load(new).arrays()
    for name in ("weights", "losses", "rates", "lr", "loss", "epoch", "winner", "evals"):
        assert same_bits(a[name], b[name]), name
    ta, tb = open_tail(old).poll(1 << 24).rows, open_tail(new).poll(1 << 24).rows
    everything = np.arange(len(rows))
    for x, y in zip(ta.full(everything), tb.full(everything), strict=True):
        assert same_bits(x, y)
