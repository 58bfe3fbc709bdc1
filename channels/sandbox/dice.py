"""Deterministic chances: the same seed and the same parts always give the same number.

Decisions (faults, delays, which status arrives twice) hash their inputs instead of drawing from one
shared generator, so that a run with ``--seed`` decides the same for the same request or message
whatever the order concurrent requests arrive in.
"""

from __future__ import annotations

import hashlib

_SCALE = float(1 << 64)


def chance(seed: int, *parts: object) -> float:
    """A number in [0, 1) fixed by ``seed`` and ``parts``."""
    digest = hashlib.blake2b(repr((seed, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def between(low: float, high: float, seed: int, *parts: object) -> float:
    """A number in [low, high] fixed by ``seed`` and ``parts``."""
    return low + (high - low) * chance(seed, *parts)
