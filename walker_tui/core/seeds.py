"""Seeds: the range torch's ``manual_seed`` takes, and a derived seed (``seed + 1``,
``seed * 1_000_003 + epoch``) brought back into it. Torch-free, so the command line checks
``--seed`` with it before torch loads."""

from __future__ import annotations

SEED_MIN = -(2**63)  # manual_seed takes -2**63 .. 2**64 - 1, a negative one as itself mod 2**64
SEED_MAX = 2**64 - 1


def seed64(seed: int) -> int:
    """``seed`` mod 2**64: the same generator torch makes of any seed it takes, and one for
    a derived seed past the range (which ``manual_seed`` refuses)."""
    return int(seed) % 2**64
