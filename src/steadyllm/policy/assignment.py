"""Sticky assignment: the same subject always lands in the same arm (pure).

The subject (user or conversation id) is hashed with the experiment's salt, so the
same user can fall in different arms of different experiments, and a conversation
never switches arm while the weights stay the same.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["assign", "bucket", "in_sample"]

_SCALE = float(1 << 64)


def bucket(salt: str, subject: str) -> float:
    """A uniform number in [0, 1) fixed by ``(salt, subject)``."""
    digest = hashlib.blake2b(f"{salt}\x00{subject}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def assign(salt: str, subject: str, arms: Sequence[tuple[str, float]]) -> str:
    """The arm for ``subject``; ``arms`` are ``(name, weight)`` with positive weights."""
    if not arms:
        raise ValueError("an experiment needs at least one arm")
    total = sum(weight for _, weight in arms)
    point = bucket(salt, subject) * total
    running = 0.0
    for name, weight in arms:
        running += weight
        if point < running:
            return name
    return arms[-1][0]


def in_sample(salt: str, subject: str, percent: float) -> bool:
    """Whether ``subject`` is in the first ``percent`` % (shadow traffic, ramps).

    Raising the percentage keeps everyone who was already in.
    """
    return bucket(salt, subject) * 100.0 < percent
