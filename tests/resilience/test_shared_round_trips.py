"""Round trips to Redis on the busy path: a reused breaker read and batched first attempts.

The gateway's breaker store reuses a read for at most ``reuse_for`` seconds in
``update`` (``read`` always asks Redis), and its retry budget sends first attempts in
one pipeline every ``flush_interval``. These tests pin what that saves and what it
may miss: how stale a replica's view of another's breaker can be, and that the budget
only ever errs towards refusing.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from steadyllm.policy.breaker import BreakerPolicy
from steadyllm.policy.retry_budget import BudgetPolicy
from steadyllm.resilience import BreakerRegistry, CircuitOpen
from steadyllm.resilience.budget import RedisRetryBudget
from steadyllm.resilience.degraded import FailSafeRetryBudget, shared_state
from steadyllm.resilience.state import REUSE_FOR, RedisBreakerStore
from steadyllm.stores.redis import redis_client

POLICY = BreakerPolicy(failure_threshold=2, recovery_timeout=60)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingClient:
    """A Redis client that counts the ``HMGET``s (breaker reads) sent through it."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.reads = 0

    async def hmget(self, key: str, fields: list[str]) -> Any:
        self.reads += 1
        return await self.client.hmget(key, fields)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


async def test_a_closed_breaker_costs_one_read_per_call(redis_prefix: tuple[str, str]) -> None:
    url, prefix = redis_prefix
    clock = Clock()
    client = CountingClient(redis_client(url))
    store = RedisBreakerStore(client, prefix=prefix, reuse_for=REUSE_FOR, monotonic=clock)
    breaker = BreakerRegistry(store, policy=POLICY).get("d")
    try:
        for _ in range(5):  # as the fallback stage does, then the breaker stage
            assert (await breaker.available())[0]
            admission = await breaker.admit()
            await breaker.record(admission, failed=False)
        assert client.reads == 5
        clock.now += REUSE_FOR + 0.01  # too old to reuse: the admission reads again
        await breaker.admit()
        assert client.reads == 6
    finally:
        await store.close()


async def test_another_replicas_open_breaker_is_seen_within_the_reuse_bound(
    redis_prefix: tuple[str, str],
) -> None:
    url, prefix = redis_prefix
    clock = Clock()
    stores = [
        RedisBreakerStore(redis_client(url), prefix=prefix, reuse_for=REUSE_FOR, monotonic=clock)
        for _ in range(2)
    ]
    one, two = (BreakerRegistry(store, policy=POLICY).get("d") for store in stores)
    try:
        assert (await two.available())[0]  # replica two has just read: closed
        for _ in range(2):  # replica one opens it
            admission = await one.admit()
            await one.record(admission, failed=True)
        assert (await one.state()).state == "open"

        await two.admit()  # within the bound, two's reused read still lets a call through
        clock.now += REUSE_FOR + 0.01
        with pytest.raises(CircuitOpen):  # past it, two reads the shared state
            await two.admit()
        clock.now -= REUSE_FOR + 0.01
        assert not (await two.available())[0]  # and a read is always fresh
    finally:
        for store in stores:
            await store.close()


async def test_a_stale_reused_state_is_never_written_over(redis_prefix: tuple[str, str]) -> None:
    url, prefix = redis_prefix
    clock = Clock()
    stores = [
        RedisBreakerStore(redis_client(url), prefix=prefix, reuse_for=REUSE_FOR, monotonic=clock)
        for _ in range(2)
    ]
    one, two = (BreakerRegistry(store, policy=POLICY).get("d") for store in stores)
    try:
        admission = await two.admit()  # two reads: closed, no failures
        first = await one.admit()
        await one.record(first, failed=True)  # one counts a failure
        # two's failure starts from its reused (stale) read; the compare-and-set notices,
        # reads again, and the two failures together open the breaker.
        await two.record(admission, failed=True)
        assert (await one.state()).state == "open"
        with pytest.raises(CircuitOpen):  # two's own transition is seen by two at once
            await two.admit()
    finally:
        for store in stores:
            await store.close()


BUDGET = BudgetPolicy(max_retries_per_window=100, ratio=0.5, min_retries=0, window=60)


async def test_first_attempts_are_sent_in_batches_and_count_for_every_replica(
    redis_prefix: tuple[str, str],
) -> None:
    url, prefix = redis_prefix
    one = RedisRetryBudget(redis_client(url), prefix=prefix, flush_interval=60)
    two = RedisRetryBudget(redis_client(url), prefix=prefix, flush_interval=60)
    try:
        for _ in range(4):
            await one.first_attempt("d", BUDGET, 6000.0)
        # Not sent yet: replica two cannot count them (it refuses; never grants more).
        assert await two.take_retry("d", BUDGET, 6000.0) == "ratio"
        # Replica one's own unsent first attempts go with its check: 0.5 x 4 = 2 retries.
        granted = [await one.take_retry("d", BUDGET, 6000.0) for _ in range(3)]
        assert granted == [None, None, "ratio"]
        for _ in range(2):
            await two.first_attempt("d", BUDGET, 6000.0)
        await two.flush()  # what the flush task does every flush_interval
        assert await one.take_retry("d", BUDGET, 6000.0) is None  # 0.5 x 6 = 3
        assert await one.take_retry("d", BUDGET, 6000.0) == "ratio"
    finally:
        await one.close()
        await two.close()


async def test_the_flush_runs_by_itself_and_reports_a_failed_send(
    redis_prefix: tuple[str, str],
) -> None:
    url, prefix = redis_prefix
    one = RedisRetryBudget(redis_client(url), prefix=prefix, flush_interval=0.01)
    two = RedisRetryBudget(redis_client(url), prefix=prefix)
    try:
        for _ in range(2):
            await one.first_attempt("d", BUDGET, 6000.0)
        for _ in range(200):  # bounded wait for the background send
            if await two.take_retry("d", BUDGET, 6000.0) is None:
                break
            await _pause()
        else:
            raise AssertionError("first attempts were never sent")
    finally:
        await one.close()
        await two.close()

    guard = shared_state()
    broken = RedisRetryBudget(
        redis_client("redis://127.0.0.1:1/0"), prefix=prefix, flush_interval=0.01
    )
    budget = FailSafeRetryBudget(broken, guard)
    try:
        await budget.first_attempt("d", BUDGET, 6000.0)
        for _ in range(500):
            if guard.degraded:
                break
            await _pause()
        assert guard.status() == {"degraded": True, "failures": 1}
        # Degraded: counted locally (always), so this replica's budget still has them.
        await budget.first_attempt("d", BUDGET, 6000.0)
        await budget.first_attempt("d", BUDGET, 6000.0)
        assert await budget.take_retry("d", BUDGET, 6000.0) is None
    finally:
        await budget.close()

    errors: list[Exception] = []
    at_once = RedisRetryBudget(
        redis_client("redis://127.0.0.1:1/0"),
        prefix=prefix,
        flush_interval=0,
        on_error=errors.append,
    )
    try:
        await at_once.first_attempt("d", BUDGET, 6000.0)  # sent at once: fails, never raises
        assert len(errors) == 1
    finally:
        await at_once.close()


async def _pause() -> None:
    await asyncio.sleep(0.01)
