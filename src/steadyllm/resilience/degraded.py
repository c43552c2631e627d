"""Breakers and the retry budget when their shared store (Redis) cannot be reached.

Breaker state and retry-budget counters are an aid to serving, never a reason to
refuse a call. So, as limits do with ``on_counter_failure: open``, a failed Redis
command makes this replica go on with its own in-memory state (each replica then
trips its breakers and spends its budget alone) and try Redis again every
``retry_interval`` seconds (:class:`~steadyllm.shared_state.SharedState`, which the
limiter uses too).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from steadyllm.policy.breaker import BreakerState
from steadyllm.policy.retry_budget import BudgetPolicy, Refusal
from steadyllm.resilience.budget import MemoryRetryBudget, RedisRetryBudget, RetryBudgetStore
from steadyllm.resilience.state import BreakerStore, MemoryBreakerStore
from steadyllm.shared_state import SharedState

__all__ = ["FailSafeBreakerStore", "FailSafeRetryBudget", "SharedState", "shared_state"]

log = logging.getLogger("steadyllm.resilience")


def shared_state(**kw: Any) -> SharedState:
    """The guard of the breaker and retry-budget store (``kw``: clock and interval)."""
    return SharedState(
        "breaker and retry-budget store",
        when_down="this replica goes on with its own state",
        log=log,
        **kw,
    )


_R = TypeVar("_R")


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
