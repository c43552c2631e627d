"""The running shadow test, shared by every replica.

Memory for one process. With ``store.redis_url`` set: one Redis hash
``<prefix>shadow:test`` (fields ``id`` and ``session``, the test's definition as
JSON) read through the same short local copy as the live variants
(:class:`~steadyllm.variants.live.SharedHash`), and one ``INCR`` counter of samples
per test, ``<prefix>shadow:samples:<id>``. Starting, stopping, promoting and ramping
are each a small Lua script (``stores/lua/shadow_*.lua``), so two replicas cannot both act on it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any, Protocol

import orjson

from steadyllm.shadow.session import ShadowSession
from steadyllm.variants.live import SharedHash

__all__ = ["MemoryShadowState", "RedisShadowState", "ShadowState"]

_SAMPLES_TTL = 30 * 86400  # seconds a finished test's sample counter is kept


class ShadowState(Protocol):
    async def current(self) -> ShadowSession | None:
        """The running test, from a local copy at most a second old."""
        ...

    async def fresh(self) -> ShadowSession | None:
        """The running test as every replica sees it now."""
        ...

    async def begin(self, session: ShadowSession) -> bool:
        """Start ``session`` unless a test runs; whether it started."""
        ...

    async def update(self, session: ShadowSession) -> bool: ...

    async def end(self, session_id: str) -> bool:
        """End the test if it is still ``session_id``; whether this call ended it."""
        ...

    async def add_sample(self, session_id: str) -> int: ...

    async def samples(self, session_id: str) -> int: ...


class MemoryShadowState:
    def __init__(self) -> None:
        self._session: ShadowSession | None = None
        self._samples: dict[str, int] = {}

    async def current(self) -> ShadowSession | None:
        return self._session

    async def fresh(self) -> ShadowSession | None:
        return self._session

    async def begin(self, session: ShadowSession) -> bool:
        if self._session is not None:
            return False
        self._session = session
        self._samples = {session.id: 0}  # one test's counter at a time: bounded
        return True

    async def update(self, session: ShadowSession) -> bool:
        if self._session is None or self._session.id != session.id:
            return False
        self._session = session
        return True

    async def end(self, session_id: str) -> bool:
        if self._session is None or self._session.id != session_id:
            return False
        self._session = None
        return True

    async def add_sample(self, session_id: str) -> int:
        count = self._samples.get(session_id, 0) + 1
        if session_id in self._samples:
            self._samples[session_id] = count
        return count

    async def samples(self, session_id: str) -> int:
        return self._samples.get(session_id, 0)


class RedisShadowState:
    def __init__(
        self,
        client: Any,
        prefix: str,
        *,
        ttl: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from steadyllm.stores.redis import _script

        self._client = client
        self._prefix = prefix
        self._hash = SharedHash(client, f"{prefix}shadow:test", ttl=ttl, clock=clock)
        self._end = client.register_script(_script("shadow_end"))
        self._update = client.register_script(_script("shadow_update"))
        self._begin = client.register_script(_script("shadow_begin"))

    def _samples_key(self, session_id: str) -> str:
        return f"{self._prefix}shadow:samples:{session_id}"

    async def current(self) -> ShadowSession | None:
        return _session(await self._hash.cached())

    async def fresh(self) -> ShadowSession | None:
        return _session(await self._hash.read())

    async def begin(self, session: ShadowSession) -> bool:
        done = await self._begin(keys=[self._hash.key], args=[session.id, _dump(session)])
        await self._hash.read()
        return bool(done)

    async def update(self, session: ShadowSession) -> bool:
        done = await self._update(keys=[self._hash.key], args=[session.id, _dump(session)])
        await self._hash.read()
        return bool(done)

    async def end(self, session_id: str) -> bool:
        done = await self._end(keys=[self._hash.key], args=[session_id])
        await self._hash.read()
        return bool(done)

    async def add_sample(self, session_id: str) -> int:
        key = self._samples_key(session_id)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, _SAMPLES_TTL)
            count, _ = await pipe.execute()
        return int(count)

    async def samples(self, session_id: str) -> int:
        raw = await self._client.get(self._samples_key(session_id))
        return int(raw) if raw is not None else 0


def _dump(session: ShadowSession) -> str:
    return orjson.dumps(dataclasses.asdict(session)).decode()


def _session(fields: dict[str, str]) -> ShadowSession | None:
    raw = fields.get("session")
    if raw is None or "id" not in fields:
        return None
    data = orjson.loads(raw)
    data["routes"] = tuple(data["routes"])
    return ShadowSession(**data)
