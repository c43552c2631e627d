"""The live variant of each route, shared by every replica.

Memory for one process; Redis (one hash, one ``HSET``) when ``store.redis_url`` is
set, so a promote or rollback switches every replica at once. Replicas read through
a short local cache so the hot path does not wait on Redis for every request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["LiveVariants", "MemoryLiveVariants", "RedisLiveVariants", "SharedHash"]


class LiveVariants(Protocol):
    async def get(self, route: str) -> str | None: ...

    async def set(self, route: str, variant: str) -> None: ...

    async def all(self) -> dict[str, str]: ...

    async def close(self) -> None: ...


class MemoryLiveVariants:
    def __init__(self, initial: dict[str, str] | None = None) -> None:
        self._live = dict(initial or {})

    async def get(self, route: str) -> str | None:
        return self._live.get(route)

    async def set(self, route: str, variant: str) -> None:
        self._live[route] = variant

    async def all(self) -> dict[str, str]:
        return dict(self._live)

    async def close(self) -> None:
        return None


class SharedHash:
    """One Redis hash read through a local copy at most ``ttl`` seconds old: what
    every replica shares (the live variants, the running shadow test)."""

    def __init__(
        self,
        client: Any,
        key: str,
        *,
        ttl: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.key = key
        self._ttl = ttl
        self._clock = clock
        self._cached: dict[str, str] = {}
        self._cached_at = float("-inf")

    async def read(self) -> dict[str, str]:
        """The hash as Redis has it now (and the local copy refreshed).

        The copy's age counts from when the read was sent, not when it came back: a
        change made while a slow read was on its way must not outlive ``ttl``. Of two
        reads that overlap, the one sent later wins.
        """
        sent = self._clock()
        raw = await self.client.hgetall(self.key)
        found = {_text(k): _text(v) for k, v in raw.items()}
        if sent >= self._cached_at:
            self._cached, self._cached_at = found, sent
        return dict(found)

    async def cached(self) -> dict[str, str]:
        """The local copy, re-read when older than ``ttl``; do not modify it."""
        if self._clock() - self._cached_at > self._ttl:
            await self.read()
        return self._cached

    async def set(self, field: str, value: str) -> None:
        await self.client.hset(self.key, field, value)
        self._cached[field] = value

    async def set_new(self, field: str, value: str) -> bool:
        """Set ``field`` only if no replica has; whether this call set it."""
        done = bool(await self.client.hsetnx(self.key, field, value))
        self._cached_at = float("-inf")
        return done

    async def delete(self, field: str) -> None:
        await self.client.hdel(self.key, field)
        self._cached.pop(field, None)


class RedisLiveVariants:
    """One Redis hash ``<prefix>variants:live``; initial values only fill missing routes."""

    def __init__(
        self,
        client: Any,
        prefix: str,
        initial: dict[str, str] | None = None,
        *,
        ttl: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._hash = SharedHash(client, f"{prefix}variants:live", ttl=ttl, clock=clock)
        self._initial = dict(initial or {})

    async def start(self) -> None:
        for route, variant in self._initial.items():
            await self._hash.set_new(route, variant)

    async def all(self) -> dict[str, str]:
        return await self._hash.read()

    async def get(self, route: str) -> str | None:
        return (await self._hash.cached()).get(route)

    async def set(self, route: str, variant: str) -> None:
        await self._hash.set(route, variant)

    async def close(self) -> None:
        await self._hash.client.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
