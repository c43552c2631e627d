"""The CacheStore contract, run against every backend (memory, SQLite, PostgreSQL, Redis)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from steadyllm.stores.base import CacheStore
from tests.stores.values import make_entry


async def test_missing_key_is_none(cache_store: CacheStore, now: float) -> None:
    assert await cache_store.get("absent", now=now) is None


async def test_put_then_get_round_trips_every_field(cache_store: CacheStore, now: float) -> None:
    entry = make_entry(
        "k1",
        now,
        variant="v2",
        input_tokens=12,
        output_tokens=34,
        cost_usd=0.00123,
        response_time_ms=456.5,
        created_at=now - 5.25,
        last_accessed=now - 1.5,
        streamed=True,
    )
    await cache_store.put(entry)
    found = await cache_store.get("k1", now=now + 1)
    assert found == dataclasses.replace(entry, hit_count=1, last_accessed=now + 1)


async def test_get_counts_hits(cache_store: CacheStore, now: float) -> None:
    await cache_store.put(make_entry("k1", now))
    for expected in (1, 2, 3):
        found = await cache_store.get("k1", now=now + expected)
        assert found is not None
        assert (found.hit_count, found.last_accessed) == (expected, now + expected)


async def test_concurrent_hits_are_all_counted(cache_store: CacheStore, now: float) -> None:
    await cache_store.put(make_entry("k1", now))
    found = await asyncio.gather(*(cache_store.get("k1", now=now + 1) for _ in range(40)))
    assert sorted(entry.hit_count for entry in found if entry is not None) == list(range(1, 41))


async def test_expired_entry_is_a_miss(cache_store: CacheStore, now: float) -> None:
    await cache_store.put(make_entry("k1", now, expires_at=now + 60))
    assert await cache_store.get("k1", now=now + 60) is None  # live strictly before expiry
    assert await cache_store.get("k1", now=now + 120) is None
    found = await cache_store.get("k1", now=now + 59.5)
    assert found is not None
    assert found.hit_count == 1  # the misses did not count


async def test_put_replaces_the_entry(cache_store: CacheStore, now: float) -> None:
    await cache_store.put(make_entry("k1", now, scope="old"))
    replacement = make_entry("k1", now, scope="new", response={"answer": 2}, model="smart")
    await cache_store.put(replacement)
    assert await cache_store.get("k1", now=now) == dataclasses.replace(replacement, hit_count=1)
    assert await cache_store.scan("acme", "old", now=now, limit=10) == []
    assert [e.key for e in await cache_store.scan("acme", "new", now=now, limit=10)] == ["k1"]


async def test_returned_response_is_a_copy(cache_store: CacheStore, now: float) -> None:
    entry = make_entry("k1", now)
    await cache_store.put(entry)
    entry.response["choices"] = []  # the caller's object changes after the put
    found = await cache_store.get("k1", now=now)
    assert found is not None
    assert found.response["choices"] != []
    found.response["id"] = "changed"
    again = await cache_store.get("k1", now=now)
    assert again is not None
    assert again.response["id"] == "chatcmpl-k1"


async def test_scan_keeps_to_tenant_and_scope(cache_store: CacheStore, now: float) -> None:
    await cache_store.put(make_entry("mine-1", now, last_accessed=now - 30))
    await cache_store.put(make_entry("mine-2", now, last_accessed=now - 10))
    await cache_store.put(make_entry("mine-3", now, last_accessed=now - 20))
    await cache_store.put(make_entry("expired", now, expires_at=now + 5, last_accessed=now))
    await cache_store.put(make_entry("other-scope", now, scope="scope-2"))
    await cache_store.put(make_entry("other-tenant", now, tenant="globex"))

    found = await cache_store.scan("acme", "scope-1", now=now + 10, limit=10)
    assert [e.key for e in found] == ["mine-2", "mine-3", "mine-1"]  # most recent first
    assert [e.hit_count for e in found] == [0, 0, 0]  # a scan is not a hit
    limited = await cache_store.scan("acme", "scope-1", now=now + 10, limit=2)
    assert [e.key for e in limited] == ["mine-2", "mine-3"]
    assert [e.key for e in await cache_store.scan("globex", "scope-1", now=now, limit=10)] == [
        "other-tenant"
    ]
    assert await cache_store.scan("nobody", "scope-1", now=now, limit=10) == []


async def test_a_hit_moves_the_entry_to_the_front(cache_store: CacheStore, now: float) -> None:
    await cache_store.put(make_entry("a", now, last_accessed=now - 20))
    await cache_store.put(make_entry("b", now, last_accessed=now - 10))
    await cache_store.get("a", now=now)
    found = await cache_store.scan("acme", "scope-1", now=now, limit=10)
    assert [e.key for e in found] == ["a", "b"]


async def test_least_recently_used_are_evicted(cache_store: CacheStore, now: float) -> None:
    for n in range(10):
        await cache_store.put(make_entry(f"k{n}", now, last_accessed=now + n), max_entries=10)
    await cache_store.get("k0", now=now + 100)  # k0 becomes the most recently used
    await cache_store.put(make_entry("k10", now, last_accessed=now + 50), max_entries=10)

    # 11 entries > 10: evict 11 - 10 + 10% of 10 = the 2 least recently used.
    survivors = await cache_store.scan("acme", "scope-1", now=now, limit=100)
    assert sorted(e.key for e in survivors) == sorted(
        ["k0", "k3", "k4", "k5", "k6", "k7", "k8", "k9", "k10"]
    )
    assert await cache_store.get("k1", now=now) is None
    assert await cache_store.get("k2", now=now) is None


async def test_eviction_is_across_tenants(cache_store: CacheStore, now: float) -> None:
    for n in range(5):
        tenant = "acme" if n % 2 else "globex"
        entry = make_entry(f"k{n}", now, tenant=tenant, last_accessed=now + n)
        await cache_store.put(entry, max_entries=4)
    assert await cache_store.get("k0", now=now) is None  # globex's oldest went first
    assert await cache_store.get("k4", now=now) is not None


async def test_no_bound_no_eviction(cache_store: CacheStore, now: float) -> None:
    for n in range(30):
        await cache_store.put(make_entry(f"k{n}", now, last_accessed=now + n))
    assert len(await cache_store.scan("acme", "scope-1", now=now, limit=100)) == 30


async def test_clear_everything(cache_store: CacheStore, now: float) -> None:
    for n in range(7):
        await cache_store.put(make_entry(f"k{n}", now, tenant=f"t{n % 2}", variant=f"v{n % 3}"))
    assert await cache_store.clear() == 7
    assert await cache_store.get("k0", now=now) is None
    assert await cache_store.clear() == 0


async def test_clear_one_variant(cache_store: CacheStore, now: float) -> None:
    await cache_store.put(make_entry("a1", now, variant="a"))
    await cache_store.put(make_entry("a2", now, variant="a", tenant="globex"))
    await cache_store.put(make_entry("b1", now, variant="b"))
    await cache_store.put(make_entry("none", now))
    assert await cache_store.clear(variant="a") == 2
    assert await cache_store.get("a1", now=now) is None
    assert await cache_store.get("a2", now=now) is None
    assert await cache_store.get("b1", now=now) is not None
    assert await cache_store.get("none", now=now) is not None


async def test_clear_expired_before(cache_store: CacheStore, now: float) -> None:
    await cache_store.put(make_entry("soon", now, expires_at=now + 10))
    await cache_store.put(make_entry("edge", now, expires_at=now + 20))
    await cache_store.put(make_entry("later", now, expires_at=now + 30))
    assert await cache_store.clear(expired_before=now + 20) == 1  # strictly before
    assert await cache_store.get("edge", now=now) is not None
    assert await cache_store.clear(expired_before=now + 25) == 1
    assert await cache_store.get("later", now=now) is not None


async def test_clear_variant_and_expired_together(cache_store: CacheStore, now: float) -> None:
    await cache_store.put(make_entry("a-old", now, variant="a", expires_at=now + 10))
    await cache_store.put(make_entry("a-new", now, variant="a", expires_at=now + 100))
    await cache_store.put(make_entry("b-old", now, variant="b", expires_at=now + 10))
    assert await cache_store.clear(variant="a", expired_before=now + 50) == 1
    assert await cache_store.get("a-new", now=now) is not None
    assert await cache_store.get("b-old", now=now) is not None


async def test_clear_in_many_steps(
    cache_store: CacheStore, now: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Redis clears in steps; small steps make kept and deleted entries interleave.
    monkeypatch.setattr("steadyllm.stores.redis._CLEAR_BATCH", 7)
    for n in range(40):
        entry = make_entry(
            f"k{n}", now, variant="odd" if n % 2 else "even", expires_at=now + 100 + n
        )
        await cache_store.put(entry)
    assert await cache_store.clear(variant="odd", expired_before=now + 130) == 15
    assert await cache_store.clear(variant="odd") == 5
    assert await cache_store.clear(expired_before=now + 110) == 5
    assert await cache_store.clear() == 15
