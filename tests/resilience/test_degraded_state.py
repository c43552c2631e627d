"""Breakers and the retry budget when their Redis fails: this replica's own state,
never a failed call; back on the shared store once it answers (Redis restarted).

Regression: with ``store.redis_url`` set, a Redis outage made every call that reached
the breaker or the retry budget fail with 500 (``ConnectionError`` from the shared
state), whatever ``access.on_counter_failure`` said.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

import pytest
import redis

from steadyllm.policy.breaker import BreakerPolicy, BreakerState
from steadyllm.policy.retry_budget import BudgetPolicy, Refusal
from steadyllm.resilience import BreakerRegistry, CircuitOpen
from steadyllm.resilience.budget import MemoryRetryBudget
from steadyllm.resilience.degraded import FailSafeBreakerStore, FailSafeRetryBudget, shared_state
from steadyllm.resilience.state import MemoryBreakerStore

_R = TypeVar("_R")


class Flaky:
    """A stand-in for Redis: a memory store that fails while ``down``."""

    def __init__(self) -> None:
        self.down = False
        self.calls = 0
        self.breakers = MemoryBreakerStore()
        self.budget = MemoryRetryBudget()

    def check(self) -> None:
        self.calls += 1
        if self.down:
            raise redis.ConnectionError("Connection closed by server.")


class FlakyBreakers:
    def __init__(self, flaky: Flaky) -> None:
        self.flaky = flaky

    async def read(self, name: str) -> BreakerState:
        self.flaky.check()
        return await self.flaky.breakers.read(name)

    async def update(
        self, name: str, transition: Callable[[BreakerState], tuple[_R, BreakerState]]
    ) -> tuple[_R, BreakerState, BreakerState]:
        self.flaky.check()
        return await self.flaky.breakers.update(name, transition)

    async def close(self) -> None:
        return None


class FlakyBudget:
    def __init__(self, flaky: Flaky) -> None:
        self.flaky = flaky

    async def first_attempt(self, deployment: str, policy: BudgetPolicy, now: float) -> None:
        self.flaky.check()
        await self.flaky.budget.first_attempt(deployment, policy, now)

    async def take_retry(self, deployment: str, policy: BudgetPolicy, now: float) -> Refusal | None:
        self.flaky.check()
        return await self.flaky.budget.take_retry(deployment, policy, now)

    async def close(self) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_an_outage_goes_local_then_back_to_the_shared_store() -> None:
    flaky, clock = Flaky(), Clock()
    guard = shared_state(retry_interval=1.0, monotonic=clock)
    store = FailSafeBreakerStore(FlakyBreakers(flaky), guard)
    policy = BreakerPolicy(failure_threshold=2, recovery_timeout=60)
    breaker = BreakerRegistry(store, policy=policy).get("d")

    flaky.down = True
    for _ in range(2):  # no exception: the failures are counted in this process
        admission = await breaker.admit()
        await breaker.record(admission, failed=True)
    assert guard.status() == {"degraded": True, "failures": 1}
    with pytest.raises(CircuitOpen):  # the local breaker opened
        await breaker.admit()
    calls = flaky.calls
    await breaker.state()
    assert flaky.calls == calls  # within the retry interval Redis is not asked again

    flaky.down = False  # Redis is back (empty or not): its state is used again
    clock.now += 1.0
    assert await breaker.state() == BreakerState()
    assert not guard.degraded
    assert flaky.calls == calls + 1


async def test_the_retry_budget_keeps_counting_through_an_outage() -> None:
    flaky, clock = Flaky(), Clock()
    guard = shared_state(monotonic=clock)
    budget = FailSafeRetryBudget(FlakyBudget(flaky), guard)
    policy = BudgetPolicy(max_retries_per_window=2, ratio=1.0, min_retries=0, window=60)
    flaky.down = True
    for _ in range(10):
        await budget.first_attempt("d", policy, 6000.0)
    granted = [await budget.take_retry("d", policy, 6000.0) for _ in range(3)]
    assert granted == [None, None, "count"]  # the local budget still holds the line
    assert guard.failures == 1

    flaky.down = False
    clock.now += 1.0
    assert await budget.take_retry("d", policy, 6000.0) == "ratio"  # shared: no first attempts
    assert not guard.degraded


async def test_cancellation_is_not_taken_for_an_outage() -> None:
    class Cancelled(FlakyBreakers):
        async def read(self, name: str) -> BreakerState:
            raise asyncio.CancelledError  # a BaseException: passed on, never swallowed

    guard = shared_state()
    store = FailSafeBreakerStore(Cancelled(Flaky()), guard)
    with pytest.raises(asyncio.CancelledError):
        await store.read("d")
    assert not guard.degraded
