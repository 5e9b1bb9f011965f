"""``--data FILE.csv``: the user's own table for linear or logistic regression (numpy, no torch).

The first row is a header unless every cell of it is a number. Every other cell must be a finite
number. Features are standardised (mean 0, standard deviation 1) and an intercept column of ones is
added last, so the weights are one per feature plus the intercept.
"""

from __future__ import annotations

import csv
import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class DataError(ValueError):
    """A table that cannot be used; the message names the problem."""


@dataclass
class Table:
    x: np.ndarray  # n x (features + 1), standardised, intercept last
    y: np.ndarray  # n
    features: list[str]
    target: str


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _delimiter(text: str) -> str:
    """The table's delimiter: comma, semicolon, tab or |, whichever splits its first lines
    into the same number of cells, more than one (a comma when none does)."""
    lines = [ln for ln in text.splitlines() if ln.strip()][:20]
    best, cells = ",", 1
    for d in (",", ";", "\t", "|"):
        counts = {len(r) for r in csv.reader(lines, delimiter=d)}
        if len(counts) == 1 and (n := counts.pop()) > cells:
            best, cells = d, n
    return best


def load_table(path: str | Path, target: str | None = None, binary: bool = False) -> Table:
    """Read and check a CSV table; ``target`` is a column name or a 0-based number (default: the
    last column); ``binary`` asks for 0/1 targets (logistic regression).

    A file is parsed once: the command line's check, every reseed and every race of the run get
    the same (read-only) arrays, until the file changes on disk."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{str(path)!r} does not exist or is not a file")
    stat = path.stat()
    return _load(path, path.resolve(), stat.st_mtime_ns, stat.st_size, target, binary)


@functools.lru_cache(maxsize=4)
def _load(
    path: Path, where: Path, mtime_ns: int, size: int, target: str | None, binary: bool
) -> Table:
    """load_table's work, kept for the file at ``where`` as it was at (mtime_ns, size); messages
    name it as the user did (``path``)."""
    table = _parse(path, target, binary)
    table.x.flags.writeable = False
    table.y.flags.writeable = False
    return table


def _parse(path: Path, target: str | None, binary: bool) -> Table:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{str(path)!r} cannot be read as text: {e}") from None
    delimiter = _delimiter(text)
    # (file line, cells) of every row that is not blank: errors name the line of the file
    rows = [
        (line, r)
        for line, r in enumerate(csv.reader(text.splitlines(), delimiter=delimiter), start=1)
        if any(c.strip() for c in r)
    ]
    if not rows:
        raise DataError(f"{str(path)!r} is empty")
    header = [c.strip() for c in rows[0][1]]
    if len(header) > 1 and all(_is_number(c) for c in header):
        # a first row of numbers is data, not names: said, never guessed (a guess either way
        # misreads someone's file: a row lost, or numbers taken for column names)
        raise DataError(
            f"{str(path)!r} line {rows[0][0]} holds only numbers: --data needs a header row "
            f"naming the columns first (e.g. {','.join(f'x{i}' for i in range(1, len(header)))},y)"
        )
    names, body = header, rows[1:]
    if len(names) < 2:
        seen = f"one column, split on {delimiter!r}"
        raise DataError(
            f"{str(path)!r} needs at least two columns (features and a target); saw {seen} "
            f"in line {rows[0][0]}: {','.join(rows[0][1])[:60]!r}"
        )
    if len(body) < 2:
        raise DataError(f"{str(path)!r} needs at least two rows of data")
    values = np.empty((len(body), len(names)))
    for i, (line, row) in enumerate(body):
        if len(row) != len(names):
            raise DataError(f"line {line} has {len(row)} cells, the header {len(names)}")
        for j, cell in enumerate(row):
            try:
                v = float(cell)
            except ValueError:
                raise DataError(
                    f"line {line}, column {names[j]!r}: {cell.strip()!r} is not a number"
                ) from None
            if not math.isfinite(v):
                raise DataError(f"line {line}, column {names[j]!r} holds {cell.strip()!r}")
            values[i, j] = v
    if target is None:
        col = len(names) - 1
    elif target in names:
        col = names.index(target)
    elif target.isdigit() and int(target) < len(names):
        col = int(target)
    else:
        raise DataError(f"no column {target!r}; columns: {', '.join(names)}")
    y = values[:, col]
    feats = np.delete(values, col, axis=1)
    std = feats.std(0)
    if np.any(std == 0):
        flat = [n for n, s in zip(np.delete(names, col), std, strict=True) if s == 0]
        raise DataError(f"column(s) {', '.join(flat)} hold one value only")
    if binary and not np.all((y == 0) | (y == 1)):
        raise DataError(f"logistic regression needs 0/1 targets; {names[col]!r} has others")
    x = np.hstack([(feats - feats.mean(0)) / std, np.ones((len(y), 1))])
    return Table(x, y, [n for k, n in enumerate(names) if k != col] + ["intercept"], names[col])
