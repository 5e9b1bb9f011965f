"""A scalar series (a loss, a logged metric) with its exponential moving averages, in bounded
memory: the raw values and the averages, kept in a :class:`~walker_tui.viewmodel.history.Curve`.

The averages are TensorBoard's smoothing: ``s_t = w s_(t-1) + (1 - w) v_t``, debiased (divided
by ``1 - w^t``, so the first values are not pulled towards 0), skipping values that are not
finite. They are taken over every value as it comes, not over the points the curve keeps, so
a long run thinned for memory smooths as it would in full. Plain numpy.
"""

from __future__ import annotations

import numpy as np

from walker_tui.viewmodel.history import Curve

WEIGHTS = (0.6, 0.9, 0.99)  # the smoothing key's steps after "off"
BLOCK = 256  # values per block of the vectorised average (w**BLOCK stays a normal float)


class Series:
    """Rows (x, value, ema of each weight in WEIGHTS) of one series; ``latest`` its last raw
    value."""

    def __init__(self, cap: int = 4096) -> None:
        self.curve = Curve(cap)
        self.num = np.zeros(len(WEIGHTS))  # the averages' running sums (value and weight)
        self.den = np.zeros(len(WEIGHTS))
        self.latest: tuple[float, float] | None = None  # (x, value)
        self.count = 0

    def extend(self, xs: np.ndarray, values: np.ndarray) -> None:
        xs = np.asarray(xs, dtype=float)
        values = np.asarray(values, dtype=float)
        n = len(xs)
        if n == 0:
            return
        smooth = np.empty((n, len(WEIGHTS)))
        for j, w in enumerate(WEIGHTS):
            self.num[j], self.den[j], smooth[:, j] = ema(values, w, self.num[j], self.den[j])
        self.curve.extend(np.column_stack([xs, values, smooth]))
        self.latest = (float(xs[-1]), float(values[-1]))
        self.count += n

    def columns(self, weight: float | None = None, upto: float | None = None):  # noqa: ANN201
        """(x, values) of the kept rows: raw (``weight`` None) or smoothed with ``weight``."""
        cols = self.curve.columns(upto)
        if not cols:
            return np.zeros(0), np.zeros(0)
        j = 1 if weight is None else 2 + WEIGHTS.index(weight)
        return cols[0], cols[j]

    def at(self, x: float) -> float | None:
        """The latest raw value at or before ``x`` (None: none yet)."""
        if self.latest is not None and x >= self.latest[0]:
            return self.latest[1]
        xs, vs = self.columns(upto=x)
        return float(vs[-1]) if len(vs) else None


def ema(
    values: np.ndarray, w: float, num: float = 0.0, den: float = 0.0
) -> tuple[float, float, np.ndarray]:
    """(num, den, averages) of ``values`` continuing from the running sums ``num`` and ``den``
    (0, 0 at the start): num_t = w num + (1 - w) v_t and den_t = w den + (1 - w) over finite
    values (others leave both as they were), the average num_t / den_t (nan before the first
    finite value). Vectorised in blocks of BLOCK: a lower-triangular matrix of powers of w."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    ok = np.isfinite(values)
    x = np.where(ok, values, 0.0) * (1 - w)
    m = ok * (1 - w)
    out = np.empty(n)
    powers = w ** np.arange(BLOCK + 1, dtype=float)
    lower = np.tril(powers[np.subtract.outer(np.arange(BLOCK), np.arange(BLOCK)).clip(0)])
    whole = (n // BLOCK) * BLOCK
    if whole and ok[:whole].all():  # every value finite: all the blocks in one product
        blocks = x[:whole].reshape(-1, BLOCK)
        inner_x, inner_m = blocks @ lower.T, np.full_like(blocks, 1 - w) @ lower.T
        starts_x, starts_m = np.empty(len(blocks)), np.empty(len(blocks))
        decay = powers[BLOCK]
        for b in range(len(blocks)):  # the sums carried from block to block (a scalar each)
            starts_x[b], starts_m[b] = num, den
            num = decay * num + inner_x[b, -1]
            den = decay * den + inner_m[b, -1]
        nums = inner_x + powers[1:, None].T * starts_x[:, None]
        dens = inner_m + powers[1:, None].T * starts_m[:, None]
        out[:whole] = (nums / dens).ravel()
        done = whole
    else:
        done = 0
    for at in range(done, n, BLOCK):
        b = min(BLOCK, n - at)
        xb, mb, okb = x[at : at + b], m[at : at + b], ok[at : at + b]
        # a value that is not finite holds the sums: within a block, powers of w count only
        # the finite values between (a cumulative count), so each is exact
        if okb.all():
            mat = lower[:b, :b]
            carry = powers[1 : b + 1]
        else:
            steps = np.cumsum(okb)  # finite values up to each position
            gap = steps[:, None] - steps[None, :]  # finite values after i, up to j
            mat = np.where(np.tril(np.ones((b, b), bool)), w ** gap.clip(0), 0.0) * okb[None, :]
            carry = w**steps
        nums = carry * num + mat @ xb
        dens = carry * den + mat @ mb
        num, den = float(nums[-1]), float(dens[-1])
        with np.errstate(invalid="ignore", divide="ignore"):
            out[at : at + b] = np.where(dens > 0, nums / np.where(dens > 0, dens, 1.0), np.nan)
    return num, den, out
