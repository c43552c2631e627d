"""Counters for ``GET /api/reliability/metrics`` and the load figures balancing reads.

Plain integers and small bounded deques, updated on the event loop: no locks, no
allocation per request beyond one float in a ring.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from steadyllm.policy.balancing import ewma, quantile

__all__ = ["DeploymentLoad", "RetryStats"]

_RECENT = 200  # latencies kept per deployment for the hedging quantile


@dataclass(slots=True)
class RetryStats:
    attempts: int = 0  # attempts sent through the retry stage (first ones and retries)
    retries: int = 0
    successes: int = 0  # attempts that answered
    success_after_retry: int = 0  # calls answered by a retry
    exhausted: int = 0  # calls that used up their retries (or deadline) on a deployment
    budget_exceeded: int = 0  # retries refused by the retry budget
    failovers: int = 0  # moves to the next deployment after a failure or an open breaker
    hedges: int = 0
    hedge_wins: int = 0
    unavailable: int = 0  # calls no deployment could answer (503)

    def snapshot(self) -> dict[str, Any]:
        attempts = self.attempts
        return {
            "totalAttempts": attempts,
            "totalRetries": self.retries,
            "successAfterRetry": self.success_after_retry,
            "exhaustedRetries": self.exhausted,
            "budgetExceeded": self.budget_exceeded,
            "retryRate": self.retries / attempts if attempts else 0.0,
            "successRate": self.successes / attempts if attempts else 0.0,
            "failovers": self.failovers,
            "hedges": self.hedges,
            "hedgeWins": self.hedge_wins,
            "unavailable": self.unavailable,
        }


@dataclass(slots=True)
class _Load:
    in_flight: int = 0
    latency: float | None = None  # EWMA of seconds to the answer (or first token)
    sampled_at: float = 0.0
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=_RECENT))


class DeploymentLoad:
    """In-flight counts and latency per deployment (a fixed set, from the config)."""

    def __init__(self, *, alpha: float, stale_after: float) -> None:
        self._alpha = alpha
        self._stale_after = stale_after
        self._loads: dict[str, _Load] = {}

    def _get(self, name: str) -> _Load:
        load = self._loads.get(name)
        if load is None:
            load = self._loads[name] = _Load()
        return load

    def started(self, name: str) -> None:
        self._get(name).in_flight += 1

    def ended(self, name: str) -> None:
        load = self._get(name)
        load.in_flight = max(load.in_flight - 1, 0)

    def observe(self, name: str, seconds: float, now: float) -> None:
        load = self._get(name)
        load.latency = ewma(load.latency, seconds, self._alpha)
        load.sampled_at = now
        load.recent.append(seconds)

    def in_flight(self, name: str) -> int:
        load = self._loads.get(name)
        return load.in_flight if load is not None else 0

    def latency(self, name: str, now: float) -> float | None:
        """The smoothed latency, or ``None`` when unknown or stale."""
        load = self._loads.get(name)
        if load is None or load.latency is None or now - load.sampled_at > self._stale_after:
            return None
        return load.latency

    def quantile(self, name: str, q: float, min_samples: int) -> float | None:
        load = self._loads.get(name)
        if load is None or len(load.recent) < min_samples:
            return None
        return quantile(list(load.recent), q)
