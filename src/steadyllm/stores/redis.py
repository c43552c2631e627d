"""Counters and the shared cache (L2) in Redis, for several replicas.

Every change is one Lua script (``lua/*.lua``, beside this module), so a check and
the write it guards happen in one step on the server: reservations never over-grant
and a cache hit is counted exactly once, whichever replica asks. The cache's key
layout is described in ``lua/cache_common.lua``. All keys start with ``prefix``, so
several gateways (or test runs) can share one Redis.

Runs on one server, behind Sentinel, or on Redis Cluster (``redis_client`` builds
the client from any of their URLs): a counter is one key, and every cache key
carries the hash tag ``{cache}``, so the cache scripts touch one slot.
"""

from __future__ import annotations

import dataclasses
import time
from importlib import resources
from typing import Any, cast

import orjson

from steadyllm.stores.base import CacheEntry, Reservation
from steadyllm.stores.redis_client import RedisClient, redis_client

__all__ = ["DEFAULT_PREFIX", "RedisCacheStore", "RedisClient", "RedisCounterStore", "redis_client"]

DEFAULT_PREFIX = "steadyllm:"
# A put adds one entry and removes up to this many expired ones, so the indexes never
# fall behind the entries that Redis expires on its own.
_PRUNE_BATCH = 100
_CLEAR_BATCH = 500  # entries per clear step; one step blocks Redis for a few milliseconds


def _script(*names: str) -> str:
    folder = resources.files("steadyllm.stores").joinpath("lua")
    return "\n".join(folder.joinpath(f"{name}.lua").read_text(encoding="utf-8") for name in names)


def _ttl_ms(ttl: float | None) -> str:
    return "" if ttl is None else str(max(1, round(ttl * 1000)))


class RedisCounterStore:
    """Counters as Redis strings (``INCRBYFLOAT``), expiring with a millisecond TTL."""

    def __init__(self, client: RedisClient, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._client = client
        self._prefix = prefix + "counter:"
        self._incr = client.register_script(_script("counter_incr"))
        self._reserve = client.register_script(_script("counter_reserve"))

    async def incr(self, key: str, amount: float = 1.0, *, ttl: float | None = None) -> float:
        total = await self._incr(keys=[self._prefix + key], args=[repr(amount), _ttl_ms(ttl)])
        return float(total)

    async def get(self, key: str) -> float:
        value = await self._client.get(self._prefix + key)
        return 0.0 if value is None else float(value)

    async def reserve(
        self, key: str, amount: float, limit: float, *, ttl: float | None = None
    ) -> Reservation:
        granted, total = await self._reserve(
            keys=[self._prefix + key], args=[repr(amount), repr(limit), _ttl_ms(ttl)]
        )
        return Reservation(granted=bool(granted), total=float(total))

    async def close(self) -> None:
        await self._client.aclose()


class RedisCacheStore:
    """Cached answers as Redis hashes, indexed for scans, LRU eviction and clearing."""

    def __init__(self, client: RedisClient, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._client = client
        space = prefix + "{cache}:"  # the hash tag: the whole cache is in one slot
        self._entry = space + "entry:"
        self._indexes = [space + "lru", space + "expiry", space + "scope_of"]
        self._scope = space + "scope:"
        self._get = client.register_script(_script("cache_common", "cache_get"))
        self._put = client.register_script(_script("cache_common", "cache_put"))
        self._clear = client.register_script(_script("cache_common", "cache_clear"))

    def _scope_index(self, tenant: str, scope: str) -> str:
        # The tenant's length keeps ("a:b", "c") and ("a", "b:c") apart.
        return f"{self._scope}{len(tenant)}:{tenant}:{scope}"

    async def get(self, key: str, *, now: float) -> CacheEntry | None:
        found = await self._get(
            keys=[*self._indexes, self._entry + key], args=[self._entry, key, repr(now)]
        )
        if found is None:
            return None
        data, hit_count, last_accessed = found
        return _entry_from(data, hit_count, last_accessed)

    async def put(self, entry: CacheEntry, *, max_entries: int | None = None) -> None:
        # The hash dies at expires_at by the wall clock; a put that is already past it
        # still replaces the old entry, and the new one lives for a millisecond.
        ttl_ms = max(1, round((entry.expires_at - time.time()) * 1000))
        await self._put(
            keys=[
                *self._indexes,
                self._entry + entry.key,
                self._scope_index(entry.tenant, entry.scope),
            ],
            args=[
                self._entry,
                entry.key,
                _entry_data(entry),
                repr(entry.expires_at),
                entry.hit_count,
                repr(entry.last_accessed),
                ttl_ms,
                entry.variant or "",
                "0" if entry.variant is None else "1",
                repr(time.time()),
                "" if max_entries is None else max_entries,
                _PRUNE_BATCH,
            ],
        )

    async def scan(self, tenant: str, scope: str, *, now: float, limit: int) -> list[CacheEntry]:
        index = self._scope_index(tenant, scope)
        found: list[CacheEntry] = []
        page = max(limit, 32)
        start = 0
        # Most recently used first; members whose entry expired are skipped (the next
        # put prunes them), so read pages until ``limit`` live entries are found.
        while len(found) < limit:
            keys = cast(list[bytes], await self._client.zrevrange(index, start, start + page - 1))
            if not keys:
                break
            async with self._client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hmget(
                        self._entry + key.decode(),
                        ["data", "hit_count", "last_accessed", "expires_at"],
                    )
                rows = await pipe.execute()
            for data, hit_count, last_accessed, expires_at in rows:
                if data is not None and float(expires_at) > now:
                    found.append(_entry_from(data, hit_count, last_accessed))
            start += page
        return found[:limit]

    async def clear(
        self, *, variant: str | None = None, expired_before: float | None = None
    ) -> int:
        # Walk an index in steps, each one script call: Redis stays responsive while a
        # large cache is cleared. Entries written during the walk may survive it.
        if expired_before is None:
            index, max_score = "lru", "+inf"
        else:
            index, max_score = "expiry", f"({expired_before!r}"  # "(": strictly before
        deleted = offset = 0
        while True:
            removed, kept, seen = await self._clear(
                keys=self._indexes,
                args=[
                    self._entry,
                    index,
                    max_score,
                    offset,
                    _CLEAR_BATCH,
                    "0" if variant is None else "1",
                    variant or "",
                ],
            )
            deleted += int(removed)
            offset += int(kept)
            if int(seen) < _CLEAR_BATCH:
                return deleted

    async def close(self) -> None:
        await self._client.aclose()


def _entry_data(entry: CacheEntry) -> bytes:
    data = dataclasses.asdict(entry)
    # Kept in their own hash fields, where the scripts update them in place.
    del data["hit_count"], data["last_accessed"]
    return orjson.dumps(data)


def _entry_from(data: bytes, hit_count: Any, last_accessed: Any) -> CacheEntry:
    fields = orjson.loads(data)
    return CacheEntry(**fields, hit_count=int(hit_count), last_accessed=float(last_accessed))
