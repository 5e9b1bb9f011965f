"""What recording an epoch costs the app's UI thread: the live app streams each walker epoch to a
.csv (for w) through RunRecord.add, on the UI thread.

    python benchmarks/record_write.py [--epochs 12] [--repeat 200]

For mlp (337 weights x 13 candidates) and digits (a model: its records hold 2 plane coordinates
x 13), real epochs of the walker (to_host, as the app receives them), and a made-up row of
digits' whole 2,410 weights x 13: milliseconds an epoch (median) of the writer before (every
number as repr, as CsvSink wrote until float_text) and now (CsvSink.write), and of the app's
whole RunRecord.add. Each row is checked to read back bit for bit.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from walker_tui.catalog import CATALOG  # noqa: E402
from walker_tui.cli.headless import build  # noqa: E402
from walker_tui.config import Config  # noqa: E402
from walker_tui.core.trainers.loop import HostEpoch, to_host  # noqa: E402
from walker_tui.core.trainers.walker import make_walker  # noqa: E402
from walker_tui.recording.format_csv import CsvSink  # noqa: E402
from walker_tui.recording.reader import Recording  # noqa: E402
from walker_tui.recording.schema import Row, as_row  # noqa: E402
from walker_tui.viewmodel.saved import RunRecord  # noqa: E402


def epochs_of(problem: str, count: int) -> list[HostEpoch]:
    """The walker's first ``count`` epochs of ``problem`` on the CPU, as the app receives them."""
    entry = CATALOG[problem]
    cfg = Config(problem=problem, lrs_spec=entry.lrs, device="cpu", batch_size=entry.batch_size)
    cfg, p, _ = build(cfg)
    trainer = make_walker(p, cfg)
    return to_host([trainer.step() for _ in range(count)], None)


def wide(count: int, d: int = 2410, k: int = 13) -> list[Row]:
    """Made-up rows of d weights x k candidates (random float32), as a full-width record."""
    rng = np.random.default_rng(0)
    rates = np.geomspace(0.01, 10, k)
    return [
        Row(
            i + 1,
            rng.standard_normal((d, k)).astype(np.float32),
            rng.random(k).astype(np.float32),
            0,
            rates,
            True,
            0.1,
            0.5,
        )  # fmt: skip
        for i in range(count)
    ]


def old_write(sink: CsvSink, row: Row) -> None:
    """CsvSink.write as it was before float_text: every number as repr."""
    if sink.d is None:
        sink._header(row.weights.shape[0])
    per = np.empty((sink.k, row.weights.shape[0] + 2))
    per[:, 0] = row.rates
    per[:, 1] = row.losses
    per[:, 2:] = row.weights.T
    head = [row.epoch, row.winner, row.lr, row.loss, int(row.moved), int(row.scored),
            row.evals]  # fmt: skip
    sink.fh.write(",".join(map(repr, head + per.ravel().tolist())) + "\n")


def median_ms(write, rows: list[Row], repeat: int) -> float:
    times = []
    for i in range(repeat):
        row = rows[i % len(rows)]._replace(epoch=i + 1)
        t0 = time.perf_counter()
        write(row)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def sink_ms(folder: Path, rows: list[Row], repeat: int, old: bool) -> float:
    """An epoch's write through a CsvSink (old: the repr writer); checks what it read back."""
    lrs = rows[0].rates.tolist()
    path = folder / ("old.csv" if old else "new.csv")
    sink = CsvSink(path, lrs, {"problem": "bench"})
    ms = median_ms((lambda r: old_write(sink, r)) if old else sink.write, rows, repeat)
    sink.close(path)
    back = Recording.load(path).rows
    for got, want in zip(back, (rows[i % len(rows)] for i in range(repeat)), strict=True):
        assert got.weights.tobytes() == want.weights.tobytes(), "a weight did not read back"
        assert got.losses.tobytes() == want.losses.tobytes(), "a loss did not read back"
    return ms


def live_ms(host: list[HostEpoch], repeat: int) -> float:
    """The app's RunRecord.add of one epoch (its first call opens the file: left out)."""
    record = RunRecord()
    record.add(1, [{"walker": host[0]}], lambda: {"problem": "bench"})
    times = []
    for i in range(repeat):
        rec = host[i % len(host)]
        t0 = time.perf_counter()
        record.add(1, [{"walker": rec}], lambda: {})
        times.append(time.perf_counter() - t0)
    record.close()
    return statistics.median(times) * 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--repeat", type=int, default=200)
    args = ap.parse_args()
    print(f"ms an epoch (median of {args.repeat}) writing the app's .csv recording, CPU")
    print(f"{'rows':<28} {'values':>7} {'before':>8} {'now':>8} {'speed-up':>9} {'live add':>9}")
    cases = []
    for problem in ("mlp", "digits"):
        host = epochs_of(problem, args.epochs)
        rows = [as_row(h, h.rates.tolist()) for h in host]
        cases.append((f"{problem} (real epochs)", rows, host))
    cases.append(("2,410 x 13 (made up)", wide(args.epochs), None))
    with tempfile.TemporaryDirectory() as folder:
        for name, rows, host in cases:
            before = sink_ms(Path(folder), rows, args.repeat, old=True)
            now = sink_ms(Path(folder), rows, args.repeat, old=False)
            live = f"{live_ms(host, args.repeat):9.3f}" if host else f"{'-':>9}"
            values = rows[0].weights.size + rows[0].losses.size
            print(f"{name:<28} {values:>7,} {before:8.3f} {now:8.3f} {before / now:8.1f}x {live}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
