"""The live variant of each route, shared by every replica.

Memory for one process; Redis (one hash, one ``HSET``) when ``store.redis_url`` is
set, so a promote or rollback switches every replica at once. Replicas read through
a short local cache so the hot path does not wait on Redis for every request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["LiveVariants", "MemoryLiveVariants", "RedisLiveVariants"]


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
        self._client = client
        self._key = f"{prefix}variants:live"
        self._initial = dict(initial or {})
        self._ttl = ttl
        self._clock = clock
        self._cached: dict[str, str] = {}
        self._cached_at = float("-inf")

    async def start(self) -> None:
        for route, variant in self._initial.items():
            await self._client.hsetnx(self._key, route, variant)

    async def all(self) -> dict[str, str]:
        raw = await self._client.hgetall(self._key)
        self._cached = {_text(k): _text(v) for k, v in raw.items()}
        self._cached_at = self._clock()
        return dict(self._cached)

    async def get(self, route: str) -> str | None:
        if self._clock() - self._cached_at > self._ttl:
            await self.all()
        return self._cached.get(route)

    async def set(self, route: str, variant: str) -> None:
        await self._client.hset(self._key, route, variant)
        self._cached[route] = variant

    async def close(self) -> None:
        await self._client.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
