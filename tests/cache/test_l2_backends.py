"""The cache over every L2 backend: shared entries, hit counts, stale retention, clears."""

from __future__ import annotations

import time

from steadyllm.policy.cache_key import request_key
from steadyllm.stores.base import CacheStore
from tests.cache.helpers import Clock, Rig


def scope_of(rig: Rig, question: str) -> str:
    return request_key(rig.call(question).body, tenant="default", variant=None).scope


async def test_entries_are_shared_through_l2(cache_store: CacheStore) -> None:
    clock = Clock(time.time())  # Redis expires keys by the wall clock
    async with Rig(store=cache_store, clock=clock, serve_stale=True, ttl=60) as first:
        await first.ask("How much is a deep clean?")
        await first.ask("How much is a deep clean?")
        await first.cache.flush()
    async with Rig(store=cache_store, clock=clock, serve_stale=True, ttl=60) as second:
        call, _, text = await second.ask("How much is a deep clean?")
        assert call.notes["cache"] == "hit"
        assert text == "answer 1 to How much is a deep clean?"
        assert second.upstream.calls == 0
        await second.cache.flush()
        (entry,) = await cache_store.scan(
            "default", scope_of(second, "How much is a deep clean?"), now=clock.now, limit=5
        )
        assert entry.hit_count == 2  # one L1 hit reported by the first, one L2 hit
        assert entry.cost_usd == second.upstream.cost
        # kept past its TTL for the stale window (stale_max_age, one hour by default)
        assert entry.expires_at == entry.created_at + 60 + 3600


async def test_clear_reaches_l2(cache_store: CacheStore) -> None:
    clock = Clock(time.time())
    async with Rig(store=cache_store, clock=clock, l1_max_entries=0) as rig:
        await rig.ask("A", variant="baseline")
        await rig.ask("B", variant="candidate")
        await rig.cache.flush()
        assert await rig.cache.clear(variant="baseline") == 1
        assert (await rig.ask("A", variant="baseline"))[0].notes["cache"] == "miss"
        assert (await rig.ask("B", variant="candidate"))[0].notes["cache"] == "hit"
        await rig.cache.flush()
        assert await rig.cache.clear() == 2
