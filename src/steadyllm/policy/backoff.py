"""Retry timing: exponential backoff with jitter, presets, and the retry decision.

Pure: the random draw and the time left are passed in, so a table of cases tests it.
``attempt`` counts retries from 1 (the first retry waits about ``initial_delay``)::

    delay  = min(initial_delay * multiplier ** (attempt - 1), max_delay)
    jitter = delay * jitter_factor * (random - 0.5) * 2        # random in [0, 1)

With the ``standard`` preset and a factor of 0.1 that is 1 s ± 0.1, 2 s ± 0.2, 4 s ± 0.4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "PRESETS",
    "BackoffPolicy",
    "PresetName",
    "RetryDecision",
    "RetryReason",
    "backoff_delay",
    "decide_retry",
]

PresetName = Literal["aggressive", "standard", "conservative"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BackoffPolicy:
    """How often and how far apart one deployment is retried."""

    max_retries: int = 3
    initial_delay: float = 1.0  # seconds
    max_delay: float = 32.0
    multiplier: float = 2.0
    jitter_factor: float = 0.1

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries: must be at least 0")
        for name in ("initial_delay", "max_delay"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name}: must be a finite number, at least 0")
        if not math.isfinite(self.multiplier) or self.multiplier < 1:
            raise ValueError("multiplier: must be a finite number, at least 1")
        if not 0 <= self.jitter_factor <= 1:
            raise ValueError("jitter_factor: must be between 0 and 1")


PRESETS: dict[PresetName, BackoffPolicy] = {
    "aggressive": BackoffPolicy(max_retries=5, initial_delay=0.5, max_delay=8.0, multiplier=1.5),
    "standard": BackoffPolicy(max_retries=3, initial_delay=1.0, max_delay=32.0, multiplier=2.0),
    "conservative": BackoffPolicy(max_retries=2, initial_delay=2.0, max_delay=60.0, multiplier=3.0),
}

# Past this exponent every sane policy is at max_delay already; it keeps ** from overflowing.
_MAX_EXPONENT = 1024


def backoff_delay(policy: BackoffPolicy, attempt: int, random_value: float) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based), jitter included."""
    exponent = min(max(attempt, 1) - 1, _MAX_EXPONENT)
    try:
        raw = policy.initial_delay * policy.multiplier**exponent
    except OverflowError:
        raw = math.inf
    delay = min(raw, policy.max_delay)
    jitter = delay * policy.jitter_factor * (random_value - 0.5) * 2
    return max(0.0, delay + jitter)


RetryReason = Literal[
    "retry",  # wait ``delay`` and try the same deployment again
    "client_error",  # the request itself was refused: the same request fails anywhere
    "not_retryable",  # nothing a retry could change
    "failover",  # another deployment of the model can answer now: go there instead
    "exhausted",  # max_retries used up
    "retry_after_too_long",  # the upstream asked for a longer pause than the cap allows
    "deadline",  # the wait would run past the request's deadline
]


@dataclass(frozen=True, slots=True)
class RetryDecision:
    retry: bool
    delay: float
    reason: RetryReason


def decide_retry(
    policy: BackoffPolicy,
    *,
    retries_done: int,
    retryable: bool,
    client_error: bool,
    retry_after: float | None,
    retry_after_cap: float,
    remaining: float,
    alternative_available: bool,
    random_value: float,
) -> RetryDecision:
    """Whether a failed attempt is retried on the same deployment, and after how long.

    ``remaining`` is the time left before the request's deadline. A ``Retry-After``
    within ``retry_after_cap`` is a floor on the delay; a longer one is not waited
    for. When ``alternative_available``, the caller fails over instead of waiting.
    """
    if client_error:
        return RetryDecision(False, 0.0, "client_error")
    if not retryable:
        return RetryDecision(False, 0.0, "not_retryable")
    if alternative_available:
        return RetryDecision(False, 0.0, "failover")
    if retries_done >= policy.max_retries:
        return RetryDecision(False, 0.0, "exhausted")
    if retry_after is not None and retry_after > retry_after_cap:
        return RetryDecision(False, 0.0, "retry_after_too_long")
    delay = backoff_delay(policy, retries_done + 1, random_value)
    if retry_after is not None:
        delay = max(delay, retry_after)
    if delay >= remaining:
        return RetryDecision(False, delay, "deadline")
    return RetryDecision(True, delay, "retry")
