"""Breaker state and retry budget stores: one contract, every backend (memory, Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from steadyllm.policy.breaker import BreakerPolicy, BreakerState
from steadyllm.policy.retry_budget import BudgetPolicy
from steadyllm.resilience import BreakerRegistry, CircuitOpen
from steadyllm.resilience.budget import MemoryRetryBudget, RedisRetryBudget, RetryBudgetStore
from steadyllm.resilience.state import BreakerStore, MemoryBreakerStore, RedisBreakerStore
from steadyllm.stores.redis import redis_client
from tests.stores.conftest import (  # noqa: F401 - fixtures, registered by import
    REDIS_BACKENDS,
    redis_backend,
    redis_cluster_topology,
    redis_sentinel_topology,
)


@dataclass
class Backend:
    breakers: BreakerStore
    budget: RetryBudgetStore
    twin: BreakerStore  # a second handle on the same state (another replica), if shared


@pytest.fixture(params=["memory", *REDIS_BACKENDS])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        breakers = MemoryBreakerStore()
        found = Backend(breakers, MemoryRetryBudget(), breakers)
    else:
        if request.param == "redis":  # this module's own prefix fixture (url, prefix)
            url, prefix = request.getfixturevalue("redis_prefix")
        else:  # a throwaway Sentinel or Cluster (tests/stores/conftest.py)
            url, prefix = redis_backend(request, request.param)
        found = Backend(
            RedisBreakerStore(redis_client(url), prefix=prefix),
            RedisRetryBudget(redis_client(url), prefix=prefix),
            RedisBreakerStore(redis_client(url), prefix=prefix),
        )
    yield found
    for store in (found.breakers, found.budget, found.twin):
        await store.close()


async def test_unknown_breaker_is_closed(backend: Backend) -> None:
    assert await backend.breakers.read("nobody") == BreakerState()


async def test_update_applies_and_reports_before_and_after(backend: Backend) -> None:
    opened = BreakerState(state="open", opened_at=5.0, generation=1)
    result, before, after = await backend.breakers.update("d", lambda s: ("done", opened))
    assert (result, before, after) == ("done", BreakerState(), opened)
    assert await backend.twin.read("d") == opened
    result, before, after = await backend.breakers.update("d", lambda s: (s.state, s))
    assert (result, before, after) == ("open", opened, opened)


async def test_concurrent_updates_are_not_lost(backend: Backend) -> None:
    def bump(state: BreakerState) -> tuple[None, BreakerState]:
        return None, BreakerState(failures=state.failures + 1)

    stores = [backend.breakers, backend.twin] * 10
    await asyncio.gather(*(store.update("n", bump) for store in stores))
    assert (await backend.breakers.read("n")).failures == 20


async def test_breaker_state_is_shared_by_replicas(backend: Backend) -> None:
    policy = BreakerPolicy(failure_threshold=2, recovery_timeout=60)
    one = BreakerRegistry(backend.breakers, policy=policy).get("shared")
    two = BreakerRegistry(backend.twin, policy=policy).get("shared")
    for breaker in (one, two):  # one failure seen by each replica
        admission = await breaker.admit()
        await breaker.record(admission, failed=True)
    with pytest.raises(CircuitOpen):
        await one.admit()
    with pytest.raises(CircuitOpen):
        await two.admit()


async def test_budget_grants_min_retries_then_the_ratio(backend: Backend) -> None:
    policy = BudgetPolicy(max_retries_per_window=100, ratio=0.5, min_retries=2, window=60)
    now = 6000.0  # the start of a window: nothing carried over
    budget = backend.budget
    assert [await budget.take_retry("d", policy, now) for _ in range(3)] == [None, None, "ratio"]
    for _ in range(10):
        await budget.first_attempt("d", policy, now)
    granted = [await budget.take_retry("d", policy, now) for _ in range(5)]
    assert granted == [None, None, None, "ratio", "ratio"]  # 5 = half of 10, 2 used already
    assert await budget.take_retry("other", policy, now) is None  # per deployment


async def test_budget_count_cap_and_the_sliding_window(backend: Backend) -> None:
    policy = BudgetPolicy(max_retries_per_window=4, ratio=1.0, min_retries=0, window=60)
    budget = backend.budget
    now = 6000.0
    for _ in range(100):
        await budget.first_attempt("d", policy, now)
    granted = [await budget.take_retry("d", policy, now) for _ in range(5)]
    assert granted == [None, None, None, None, "count"]
    # Half-way through the next window half of the old bucket still counts: 2 of 4.
    assert await budget.take_retry("d", policy, now + 90) is None
    assert await budget.take_retry("d", policy, now + 90) is None
    assert await budget.take_retry("d", policy, now + 90) == "count"
