"""Backend-specific bounds: what the contract cannot see, memory that must not grow."""

from __future__ import annotations

import asyncio

from steadyllm.stores.memory import MemoryCacheStore, MemoryCounterStore, eviction_size
from steadyllm.stores.redis import RedisCacheStore, redis_client
from tests.services import REDIS_URL
from tests.stores.conftest import FakeClock
from tests.stores.values import make_entry


def test_eviction_size() -> None:
    assert eviction_size(10, 10) == 0
    assert eviction_size(11, 10) == 2  # back to 90% of the bound
    assert eviction_size(1001, 1000) == 101
    assert eviction_size(50, 10) == 41  # the bound shrank: still ends at 90%
    assert eviction_size(2, 1) == 2


async def test_memory_cache_has_a_ceiling_of_its_own(now: float) -> None:
    store = MemoryCacheStore(max_entries=10)
    for n in range(100):
        await store.put(make_entry(f"k{n}", now, last_accessed=now + n))  # no max_entries
    assert len(await store.scan("acme", "scope-1", now=now, limit=1000)) <= 10
    assert await store.get("k99", now=now) is not None


async def test_memory_counters_sweep_expired_keys() -> None:
    clock = FakeClock()
    store = MemoryCounterStore(clock=clock)
    for n in range(3000):
        await store.incr(f"window-{n}", ttl=1.0)
    clock.now += 2
    for n in range(1100):
        await store.incr(f"next-window-{n}", ttl=1.0)
    assert len(store._values) <= 1100


async def test_redis_cache_indexes_forget_expired_entries(redis_prefix: str, now: float) -> None:
    client = redis_client(REDIS_URL)
    store = RedisCacheStore(client, prefix=redis_prefix)
    for n in range(5):
        await store.put(make_entry(f"short-{n}", now, expires_at=now + 0.05))
    await asyncio.sleep(0.1)
    await store.put(make_entry("long", now))  # each put prunes what has expired
    assert await client.zrange(f"{redis_prefix}{{cache}}:lru", 0, -1) == [b"long"]
    assert await client.zrange(f"{redis_prefix}{{cache}}:expiry", 0, -1) == [b"long"]
    assert await client.hkeys(f"{redis_prefix}{{cache}}:scope_of") == [b"long"]
    assert await store.clear() == 1
    assert [key async for key in client.scan_iter(match=f"{redis_prefix}*")] == []
    await store.close()
