"""float32 values as decimal text, all at once in numpy: what a ``.csv`` recording writes of its
candidates' losses and weights (repr, one value at a time, took 5 ms an epoch of ``mlp``'s 4,394
values on the UI thread).

Each value gets 9 significant digits in scientific notation, trailing zeros dropped
(``1.25e-03``, ``-3e+00``), or ``0``, ``-0``, ``nan``, ``inf``, ``-inf``. 9 digits bring back the
float32 bit for bit, read as float32 or as float64 cast to float32: the digits are within 5e-9
of the value (float64 arithmetic adds ~1e-15), half a float32 step is at least 3e-8 of it.
"""

from __future__ import annotations

import numpy as np

# A value's text is built in 5 little-endian 4-byte words, then the bytes a mask keeps are joined:
# [unused, -, lead digit, .] [4 digits] [4 digits] [e, sign, 2 digits] [, - - -]
_WORDS = 5


def _words(texts: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(t.ljust(4, b"\0") for t in texts), dtype="<u4")


_DIGITS4 = _words([f"{i:04d}".encode() for i in range(10_000)])
_ZEROS4 = np.array([4 - len(f"{i:04d}".rstrip("0")) for i in range(10_000)], dtype=np.int64)
_EXPONENTS = _words([f"e{e:+03d}".encode() for e in range(-50, 51)])  # at [e + 50]
_POWERS = 10.0 ** np.arange(-50, 51)  # at [e + 50]
_KEEP4 = _words([b"\1" * i for i in range(5)])  # the first i bytes of a word
_ODD = _words([b"nan", b"inf"])
_ALL = 0x01010101


def _scaled(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(q, e): a 9-digit integer mantissa (as float64) and an exponent, q * 10**(e - 8) ~ a, for
    a > 0 finite (float64 holding float32 values)."""
    e = np.floor(np.log10(a)).astype(np.intp)  # (may be 1 off: mended below)
    q = np.rint(a / _POWERS[e + 50] * 1e8)
    off = (q < 1e8).astype(np.intp) - (q >= 1e9)
    if off.any():
        e -= off
        q = np.rint(a / _POWERS[e + 50] * 1e8)
        up = q >= 1e9  # (9.999999999 rounded up)
        e, q = e + up, np.where(up, q / 10, q)
    return q, e


def text(values: np.ndarray) -> tuple[bytes, np.ndarray]:
    """The values (float32) as ASCII, each followed by a comma, and where each one's text ends
    (its comma included)."""
    with np.errstate(invalid="ignore"):  # (a signalling nan)
        x = np.asarray(values, dtype=np.float32).ravel().astype(np.float64)
    a = np.abs(x)
    finite = np.isfinite(a)
    number = finite & (a > 0)
    odd = ~finite
    q, e = _scaled(np.where(number, a, 1.0))
    lead = np.floor(q / 1e8)
    rest = q - lead * 1e8
    high = np.floor(rest / 1e4)
    low = (rest - high * 1e4).astype(np.intp)
    high = high.astype(np.intp)
    kept = 8 - np.where(low == 0, 4 + _ZEROS4[high], _ZEROS4[low])  # fraction digits
    kept = np.where(number, kept, 0)
    sign = np.signbit(x) & ~np.isnan(x)
    out = np.empty((len(x), _WORDS), dtype="<u4")
    out[:, 0] = 0x2E002D00 + (np.where(number, lead, 0).astype("<u4") + 48 << 16)
    out[:, 1] = np.where(odd, _ODD[np.isinf(x).astype(np.intp)], _DIGITS4[high])
    out[:, 2] = _DIGITS4[low]
    out[:, 3] = _EXPONENTS[e + 50]
    out[:, 4] = ord(",")
    keep = np.empty_like(out)
    keep[:, 0] = (
        (sign.astype("<u4") << 8) + (finite.astype("<u4") << 16) + ((kept > 0).astype("<u4") << 24)
    )
    keep[:, 1] = np.where(odd, _KEEP4[3], _KEEP4[np.minimum(kept, 4)])
    keep[:, 2] = _KEEP4[np.maximum(kept - 4, 0)]
    keep[:, 3] = np.where(number, _ALL, 0)
    keep[:, 4] = 1
    size = 2 + sign + kept + (kept > 0) + 4 * number + 2 * odd  # (ints: bool + bool is 'or')
    chars = np.compress(keep.view(bool).ravel(), out.view(np.uint8).ravel())
    return chars.tobytes(), np.cumsum(size)
