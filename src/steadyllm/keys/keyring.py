"""Looking up the key a request presents, with a small cache in front of the store.

A replica trusts what it looked up for ``ttl`` seconds (``access.key_cache_seconds``):
a key revoked through another replica stops working here within that time; through
this one (the admin API calls ``forget``), at once. Unknown secrets are cached too, so
a client hammering with a wrong key costs one store lookup per ``ttl``. Concurrent
first lookups of one secret share a single store query. The cache is bounded (least
recently used entries go first).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable

from steadyllm.keys.secrets import hash_secret
from steadyllm.keys.store import ApiKey, KeyStore

__all__ = ["KeyRing"]


class KeyRing:
    def __init__(
        self,
        store: KeyStore,
        *,
        ttl: float = 5.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._cache: OrderedDict[str, tuple[ApiKey | None, float]] = OrderedDict()
        self._loading: dict[str, asyncio.Future[ApiKey | None]] = {}
        self.lookups = 0  # store queries made

    async def resolve(self, secret: str) -> ApiKey | None:
        """The key with this secret (revoked ones included), or ``None``."""
        digest = hash_secret(secret)
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > self._clock():
            self._cache.move_to_end(digest)
            return cached[0]
        pending = self._loading.get(digest)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[ApiKey | None] = asyncio.get_running_loop().create_future()
        self._loading[digest] = future
        try:
            self.lookups += 1
            key = await self.store.find(digest)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get it; nobody else must log it
            raise
        finally:
            del self._loading[digest]
        future.set_result(key)
        if self._ttl > 0:
            self._cache[digest] = (key, self._clock() + self._ttl)
            if len(self._cache) > self._max_entries:
                self._cache.popitem(last=False)
        return key

    def forget(self, key_hash: str | None = None) -> None:
        """Drop one key (by hash) or everything from the cache."""
        if key_hash is None:
            self._cache.clear()
        else:
            self._cache.pop(key_hash, None)
