"""The retry budget: two guards against retry storms, decided from window counts.

Per deployment, over a sliding window of ``window`` seconds:

- a count: at most ``max_retries_per_window`` retries;
- a ratio: retries at most ``ratio`` times the first attempts (as Envoy and gRPC do),
  but never fewer than ``min_retries``, so a quiet gateway can still retry at all.

Windows are two fixed buckets blended by time (the estimate Cloudflare and nginx use
for sliding windows): ``previous * (1 - elapsed) + current``, where ``elapsed`` is the
fraction of the current bucket gone. Two numbers per counter keep the shared (Redis)
version one small script; ``stores/lua/retry_budget.lua`` repeats :func:`refusal`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = ["BudgetPolicy", "Refusal", "refusal", "sliding_count", "window_position"]

Refusal = Literal["count", "ratio"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetPolicy:
    max_retries_per_window: int = 10
    ratio: float = 0.2
    min_retries: int = 5
    window: float = 60.0  # seconds

    def __post_init__(self) -> None:
        if self.max_retries_per_window < 0 or self.min_retries < 0:
            raise ValueError("max_retries_per_window and min_retries: must be at least 0")
        if not math.isfinite(self.ratio) or self.ratio < 0:
            raise ValueError("ratio: must be a finite number, at least 0")
        if not math.isfinite(self.window) or self.window <= 0:
            raise ValueError("window: must be a positive number of seconds")


def window_position(now: float, window: float) -> tuple[int, float]:
    """The index of the bucket ``now`` falls in, and the fraction of it gone."""
    scaled = now / window
    index = math.floor(scaled)
    return index, scaled - index


def sliding_count(previous: float, current: float, elapsed: float) -> float:
    """The estimated count over the last window, from two adjacent buckets."""
    return previous * (1.0 - elapsed) + current


def refusal(policy: BudgetPolicy, *, retries: float, first_attempts: float) -> Refusal | None:
    """Why one more retry is refused (``None``: it is allowed).

    ``retries`` and ``first_attempts`` are the sliding counts before this retry.
    """
    if retries + 1 > policy.max_retries_per_window:
        return "count"
    if retries + 1 > max(float(policy.min_retries), policy.ratio * first_attempts):
        return "ratio"
    return None
