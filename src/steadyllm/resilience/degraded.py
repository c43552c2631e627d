"""Breakers and the retry budget when their shared store (Redis) cannot be reached.

Breaker state and retry-budget counters are an aid to serving, never a reason to
refuse a call. So, as limits do with ``on_counter_failure: open``, a failed Redis
command makes this replica go on with its own in-memory state (each replica then
trips its breakers and spends its budget alone) and try Redis again every
``retry_interval`` seconds. The first failure of an outage and the recovery are
logged once each; :meth:`SharedState.status` shows the rest for metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from steadyllm.policy.breaker import BreakerState
from steadyllm.policy.retry_budget import BudgetPolicy, Refusal
from steadyllm.resilience.budget import MemoryRetryBudget, RedisRetryBudget, RetryBudgetStore
from steadyllm.resilience.state import BreakerStore, MemoryBreakerStore

__all__ = ["FailSafeBreakerStore", "FailSafeRetryBudget", "SharedState"]

log = logging.getLogger("steadyllm.resilience")

_T = TypeVar("_T")
_R = TypeVar("_R")
RETRY_INTERVAL = 1.0  # seconds between attempts to reach a failed shared store


class SharedState:
    """Whether to use the shared store now, for every store sharing one Redis."""

    def __init__(
        self,
        *,
        retry_interval: float = RETRY_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.degraded = False
        self.failures = 0
        self._retry_interval = retry_interval
        self._retry_at = 0.0
        self._monotonic = monotonic

    def local_only(self) -> bool:
        """Whether the shared store failed less than an interval ago (so use local state)."""
        return self.degraded and self._monotonic() < self._retry_at

    async def run(
        self, shared: Callable[[], Awaitable[_T]], local: Callable[[], Awaitable[_T]]
    ) -> _T:
        """``shared()``, or ``local()`` when it fails or failed less than an interval ago."""
        if self.local_only():
            return await local()
        try:
            result = await shared()
        except Exception as exc:  # any Redis error: connection, timeout, reply
            self.failed(exc)
            return await local()
        if self.degraded:
            self.degraded = False
            log.warning("breaker and retry-budget store reachable again: state is shared")
        return result

    def failed(self, exc: Exception) -> None:
        """A command to the shared store failed (here, or in a background send)."""
        self.failures += 1
        self._retry_at = self._monotonic() + self._retry_interval
        if not self.degraded:
            self.degraded = True
            log.error(
                "breaker and retry-budget store unreachable (%s: %s): "
                "this replica goes on with its own state",
                type(exc).__name__,
                exc,
            )

    def status(self) -> dict[str, Any]:
        return {"degraded": self.degraded, "failures": self.failures}


class FailSafeBreakerStore:
    """``shared`` while it answers, else this process's own breaker states."""

    def __init__(self, shared: BreakerStore, guard: SharedState) -> None:
        self._shared = shared
        self._local = MemoryBreakerStore()
        self._guard = guard

    async def read(self, name: str) -> BreakerState:
        return await self._guard.run(
            lambda: self._shared.read(name), lambda: self._local.read(name)
        )

    async def update(
        self, name: str, transition: Callable[[BreakerState], tuple[_R, BreakerState]]
    ) -> tuple[_R, BreakerState, BreakerState]:
        return await self._guard.run(
            lambda: self._shared.update(name, transition),
            lambda: self._local.update(name, transition),
        )

    async def close(self) -> None:
        await self._shared.close()
        await self._local.close()


class FailSafeRetryBudget:
    """``shared`` while it answers, else this process's own retry-budget counters.

    First attempts are counted locally too, always (a dict update), so when Redis goes
    away the local budget knows this replica's recent traffic. A :class:`RedisRetryBudget`
    sends its first attempts in the background; a failed send counts as a failed command.
    """

    def __init__(self, shared: RetryBudgetStore, guard: SharedState) -> None:
        self._shared = shared
        self._local = MemoryRetryBudget()
        self._guard = guard
        self._buffered = isinstance(shared, RedisRetryBudget)
        if isinstance(shared, RedisRetryBudget):
            shared.on_error = guard.failed

    async def first_attempt(self, deployment: str, policy: BudgetPolicy, now: float) -> None:
        await self._local.first_attempt(deployment, policy, now)
        if self._buffered:  # no round trip here: whether Redis answers shows when it is sent
            if not self._guard.local_only():
                await self._shared.first_attempt(deployment, policy, now)
            return
        await self._guard.run(lambda: self._shared.first_attempt(deployment, policy, now), _nothing)

    async def take_retry(self, deployment: str, policy: BudgetPolicy, now: float) -> Refusal | None:
        return await self._guard.run(
            lambda: self._shared.take_retry(deployment, policy, now),
            lambda: self._local.take_retry(deployment, policy, now),
        )

    async def close(self) -> None:
        await self._shared.close()
        await self._local.close()


async def _nothing() -> None:
    return None
