"""Weighted ordering of deployments (pure: the random source is passed in)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

__all__ = ["weighted_order"]


def weighted_order(weights: Sequence[float], rng: random.Random) -> list[int]:
    """Indices ordered by a weighted draw without replacement.

    Each position is filled with probability proportional to weight among the
    indices left (Efraimidis-Spirakis keys: ``u ** (1 / w)``, largest first).
    """
    if len(weights) <= 1:
        return list(range(len(weights)))
    keys = [
        (math.log(rng.random() or 1e-300) / weight, index) for index, weight in enumerate(weights)
    ]
    keys.sort(reverse=True)
    return [index for _, index in keys]
