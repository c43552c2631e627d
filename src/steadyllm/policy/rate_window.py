"""Sliding-window counters and calendar periods, decided in pure code.

A sliding-window counter keeps one counter per fixed bucket of ``window`` and
estimates the last ``window`` as the current bucket plus the previous one weighted
by how much of it still lies inside the window::

    count = previous * (1 - elapsed / window) + current

Two numbers per limit, whatever the traffic, and no burst of twice the limit at a
bucket edge as plain fixed windows allow. ``limits/lua/acquire.lua`` repeats this
arithmetic for Redis; the memory store calls these functions. Times are integer
milliseconds, so both backends take the same buckets.

Counts are not rounded down (``limits`` floors the weighted count): flooring lets a
burst that straddles a bucket edge through one request over the limit.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

__all__ = [
    "bucket_of",
    "day_period",
    "exceeds",
    "hour_period",
    "reset_after_ms",
    "retry_after_ms",
    "weighted_count",
]

_TOLERANCE = 1e-9  # the same float tolerance as stores.memory.exceeds_limit
_MS_SLACK = 1e-6  # 0.3 * 60000 is 18000.000000000004: not a reason to wait 1 ms more


def exceeds(total: float, limit: float) -> bool:
    return total > limit + _TOLERANCE * max(1.0, abs(limit))


def bucket_of(now_ms: int, window_ms: int) -> int:
    return now_ms // window_ms


def weighted_count(previous: float, current: float, now_ms: int, window_ms: int) -> float:
    elapsed = now_ms - bucket_of(now_ms, window_ms) * window_ms
    return previous * (1.0 - elapsed / window_ms) + current


def reset_after_ms(now_ms: int, window_ms: int) -> int:
    """Milliseconds until the current bucket ends (``X-RateLimit-Reset``)."""
    return (bucket_of(now_ms, window_ms) + 1) * window_ms - now_ms


def retry_after_ms(
    previous: float, current: float, amount: float, limit: float, now_ms: int, window_ms: int
) -> int | None:
    """How long until ``amount`` fits, if nothing else is counted meanwhile.

    ``None`` when it never fits (``amount`` alone is over ``limit``).
    """
    if exceeds(amount, limit):
        return None
    bucket = bucket_of(now_ms, window_ms)
    elapsed = now_ms - bucket * window_ms
    if not exceeds(current + amount, limit):
        # Within this bucket: wait for the previous bucket's weight to fall enough.
        if previous <= 0:
            return 0
        fraction = 1.0 - (limit - current - amount) / previous
        return max(0, math.ceil(fraction * window_ms - elapsed - _MS_SLACK))
    # Next bucket: today's count becomes the weighted previous one.
    until_next = window_ms - elapsed
    fraction = 1.0 - (limit - amount) / current
    return until_next + max(0, math.ceil(fraction * window_ms - _MS_SLACK))


def day_period(now: float) -> tuple[str, float]:
    """The UTC day holding epoch ``now`` (``YYYYMMDD``) and the seconds until it ends."""
    moment = datetime.fromtimestamp(now, UTC)
    start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return start.strftime("%Y%m%d"), (start + timedelta(days=1)).timestamp() - now


def hour_period(now: float, hours_back: int = 0) -> str:
    """The UTC hour holding epoch ``now``, ``hours_back`` hours earlier (``YYYYMMDDHH``)."""
    moment = datetime.fromtimestamp(now, UTC) - timedelta(hours=hours_back)
    return moment.strftime("%Y%m%d%H")
