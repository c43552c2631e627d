"""The response cache of one gateway: L1, L2, the semantic index, stats, upkeep.

Reads are on the request path: L1 (a dict lookup), then L2 (one store call), then
the semantic index. Writes are behind it: a new answer goes into L1 and the index
at once, and into L2 from a bounded queue drained by one background task, which
also tells L2 about L1 hits (so its ``hit_count`` and ``last_accessed`` stay true
for LRU eviction) and, every ``cleanup_interval``, deletes entries past their
retention. A store that fails never fails a request: a read becomes a miss, a
write is dropped, and both are counted in ``stats.store_errors``.

Freshness and retention: an entry answers for ``ttl`` seconds. With
``serve_stale`` it is kept ``stale_max_age`` seconds longer, to answer when no
deployment can (``x-steadyllm-cache: stale``). The store's ``expires_at`` is the
end of that retention, so the store drops an entry only when it is useless; the
fresh deadline is ``expires_at - retention``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from steadyllm.cache.embedding import (
    MINILM,
    EmbeddingCache,
    EmbeddingMatcher,
    Encoder,
    embeddings_available,
)
from steadyllm.cache.lru import LocalCache
from steadyllm.cache.replay import assemble
from steadyllm.cache.semantic_index import SemanticIndex
from steadyllm.cache.settings import CacheSettings
from steadyllm.cache.stats import CacheStats, EntryStats
from steadyllm.call import Call, Response, close_stream
from steadyllm.config import ConfigError
from steadyllm.lazy import Lazy
from steadyllm.policy.cache_key import RequestKey
from steadyllm.policy.cache_rules import CacheRule
from steadyllm.stores.base import CacheEntry, CacheStore

__all__ = ["Found", "ResponseCache"]

log = logging.getLogger("steadyllm.cache")

_MAX_PENDING_TOUCHES = 10_000
_TOUCH_INTERVAL = 1.0  # seconds between L1-hit reports to L2
_MAX_LOADED_SCOPES = 10_000
_MAX_PENDING_LOADS = 100
_STOP_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Found:
    entry: CacheEntry
    status: str  # "hit" | "semantic-hit" | "stale"
    fresh_until: float
    similarity: float | None = None


class ResponseCache:
    @staticmethod
    def check(settings: CacheSettings) -> None:
        """Refuse, before anything starts, a configuration this process cannot run."""
        if settings.semantic.matcher == "embedding" and not embeddings_available():
            raise ConfigError(
                "cache.semantic.matcher: embedding needs the embeddings extra: "
                "pip install torch==2.13.0, then pip install 'steadyllm[embeddings]'"
            )

    def __init__(
        self,
        settings: CacheSettings,
        store: CacheStore,
        *,
        clock: Callable[[], float] = time.time,
        encoder: Lazy[Encoder] | None = None,
    ) -> None:
        self.settings = settings
        self._store = store
        self._clock = clock
        self._default_rule = settings.rule_for("")
        self._rules = {name: settings.rule_for(name) for name in settings.models}
        self._retention = settings.retention
        self._l1 = LocalCache(settings.l1_max_entries, settings.l1_ttl)
        self.stats = CacheStats(settings.stats_max_entries)
        semantic = settings.semantic
        self.index: SemanticIndex | None = None
        self.matcher: EmbeddingMatcher | None = None
        if semantic.matcher != "off":
            self.index = SemanticIndex(
                matcher=semantic.matcher,
                threshold=semantic.resolved_threshold(),
                guard=semantic.guard,
                max_entries=semantic.max_entries,
            )
        if semantic.matcher == "embedding":
            if encoder is None:
                self.check(settings)
            self.matcher = EmbeddingMatcher(
                encoder or MINILM,
                EmbeddingCache(
                    ttl=semantic.embedding_cache_ttl,
                    max_entries=semantic.embedding_cache_max_entries,
                    clock=clock,
                ),
            )
        self._writes: deque[CacheEntry] = deque()
        self._store_failures = 0  # L2 failures in a row (logged once per outage)
        self._unpriced: dict[str, tuple[CacheEntry, Response]] = {}
        self._touches: dict[str, int] = {}
        self._pending_touches = 0
        self._loads: deque[tuple[str, str]] = deque()
        self._loaded: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._loading = False
        self._loads_idle: asyncio.Event | None = None
        self._closing = False
        self._drain_lock = asyncio.Lock()
        self._wake: asyncio.Event | None = None
        self._load_wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._preload: asyncio.Task[Encoder] | None = None

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        if self._tasks:
            return
        self._wake = asyncio.Event()
        self._load_wake = asyncio.Event()
        self._loads_idle = asyncio.Event()
        self._loads_idle.set()
        self._tasks = [
            asyncio.create_task(self._upkeep(), name="steadyllm-cache-upkeep"),
            asyncio.create_task(self._load_scopes(), name="steadyllm-cache-index-load"),
        ]
        if self.matcher is not None and not self.matcher.ready:
            self._preload = self.matcher.preload()

    async def stop(self) -> None:
        """Write what is queued for L2, then stop the background tasks."""
        self._closing = True
        for event in (self._wake, self._load_wake):
            if event is not None:
                event.set()
        with contextlib.suppress(Exception):
            await self.flush()
        # The loops end on their own once woken; a cancel is only the fallback, since
        # a store client may turn a cancel into an ordinary error.
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=_STOP_TIMEOUT)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=_STOP_TIMEOUT)
        if self._preload is not None:
            self._preload.cancel()
            await asyncio.wait([self._preload], timeout=_STOP_TIMEOUT)
        self._tasks = []
        self._preload = None

    async def flush(self) -> None:
        """Send every queued write and hit report to L2 now."""
        async with self._drain_lock:
            await self._drain()

    def now(self) -> float:
        return self._clock()

    # --- policy ------------------------------------------------------------------------

    def rule(self, model: str) -> CacheRule:
        return self._rules.get(model, self._default_rule)

    @property
    def serve_stale(self) -> bool:
        return self.settings.serve_stale

    def _fresh_until(self, entry: CacheEntry) -> float:
        return entry.expires_at - self._retention

    # --- reading -----------------------------------------------------------------------

    async def _from_l2(self, key: str, now: float) -> CacheEntry | None:
        try:
            entry = await self._store.get(key, now=now)
        except Exception:
            self._store_failed("read failed; answering as a miss")
            return None
        if self._store_failures:
            self._store_recovered()
        return entry

    def _store_failed(self, what: str) -> None:
        """Count an L2 failure; log the first of an outage (with its traceback) only,
        so a store that is down does not write a traceback per request."""
        self.stats.store_errors += 1
        self._store_failures += 1
        if self._store_failures == 1:
            log.warning(
                "cache store %s (further failures logged when it recovers)", what, exc_info=True
            )

    def _store_recovered(self) -> None:
        log.warning("cache store answering again after %d failures", self._store_failures)
        self._store_failures = 0

    async def _entry(self, key: str, tenant: str, scope: str | None, now: float) -> Found | None:
        """The entry under ``key`` (fresh or stale) from L1, else L2."""
        item = self._l1.get(key, now)
        if item is not None:
            local = item.entry
            if local.tenant != tenant or (scope is not None and local.scope != scope):
                return None
            if item.fresh(now):
                self._touch(key)
            return Found(local, "hit", item.fresh_until)
        entry = await self._from_l2(key, now)
        if entry is None or entry.tenant != tenant or (scope is not None and entry.scope != scope):
            return None
        fresh_until = self._fresh_until(entry)
        self._l1.put(entry, fresh_until, now)
        return Found(entry, "hit", fresh_until)

    async def lookup(self, request: RequestKey, *, tenant: str, semantic: bool) -> Found | None:
        """A fresh answer for ``request``: exact, else (when allowed) semantic."""
        now = self._clock()
        found = await self._entry(request.key, tenant, None, now)
        if found is not None and now < found.fresh_until:
            return found
        index = self.index
        if not semantic or index is None or not request.semantic or not request.user_message:
            return None
        vector = None
        if self.matcher is not None:
            if not self.matcher.ready:
                return None  # still loading: exact matches only until it is
            try:
                vector = await self.matcher.embed(request.user_message)
            except Exception:
                log.exception("embedding the query failed; exact matches only")
                return None
        if not index.has_scope(tenant, request.scope):
            self._schedule_load(tenant, request.scope)
        for match in index.search(
            tenant=tenant, scope=request.scope, text=request.user_message, now=now, vector=vector
        ):
            candidate = await self._entry(match.key, tenant, request.scope, now)
            if candidate is None or now >= candidate.fresh_until:
                index.remove(match.key)
                continue
            return Found(candidate.entry, "semantic-hit", candidate.fresh_until, match.similarity)
        return None

    async def stale(self, request: RequestKey, *, tenant: str) -> Found | None:
        """An expired entry still within ``stale_max_age``, to answer when nothing else can."""
        if not self.serve_stale:
            return None
        found = await self._entry(request.key, tenant, None, self._clock())
        if found is None:
            return None
        return Found(found.entry, "stale", found.fresh_until)

    def served(self, found: Found) -> None:
        """Count one answer given from the cache."""
        entry = found.entry
        self._price(entry.key)
        stats = EntryStats(
            tenant=entry.tenant,
            user_message=entry.user_message,
            variant=entry.variant,
            cost_usd=entry.cost_usd,
            response_time_ms=entry.response_time_ms,
            fresh_until=found.fresh_until,
        )
        self.stats.hit(found.status, entry.key, stats)

    def _touch(self, key: str) -> None:
        if self._pending_touches >= _MAX_PENDING_TOUCHES:
            self.stats.dropped_touches += 1
            return
        self._touches[key] = self._touches.get(key, 0) + 1
        self._pending_touches += 1

    # --- writing -----------------------------------------------------------------------

    def _price(self, key: str) -> None:
        """Take an entry's cost from its call, once the record stage has priced it.

        The record stage (outermost) prices every call after this stage returns;
        reading its figure keeps the entry's cost equal to the call record's.
        """
        pending = self._unpriced.pop(key, None)
        if pending is None:
            return
        entry, response = pending
        entry.cost_usd = response.cost or 0.0
        tracked = self.stats.entries.get(key)
        if tracked is not None:
            tracked.cost_usd = entry.cost_usd

    def keep(self, call: Call, request: RequestKey, ttl: float, response: Response) -> None:
        """Keep ``response`` for ``ttl`` seconds (a stream once it completes)."""
        if response.chunks is None:
            if response.body is not None:
                self._keep_body(call, request, ttl, response, response.body, streamed=False)
            return
        response.chunks = self._keep_stream(call, request, ttl, response, response.chunks)

    async def _keep_stream(
        self,
        call: Call,
        request: RequestKey,
        ttl: float,
        response: Response,
        chunks: AsyncIterator[dict[str, Any]],
    ) -> AsyncIterator[dict[str, Any]]:
        seen: list[dict[str, Any]] | None = []
        limit = self.settings.max_stream_chunks
        try:
            async for chunk in chunks:
                if seen is not None:
                    seen.append(chunk)
                    if len(seen) > limit:
                        seen = None  # too long to keep; still passed through
                yield chunk
        finally:
            await close_stream(chunks)
        # Only a stream that ran to its end gets here (a cut raises, a client that
        # leaves closes this generator).
        if seen and response.outcome == "complete":
            usage = response.usage.to_openai() if response.usage.total_tokens else None
            body = assemble(seen, usage)
            self._keep_body(call, request, ttl, response, body, streamed=True)

    def _keep_body(
        self,
        call: Call,
        request: RequestKey,
        ttl: float,
        response: Response,
        body: dict[str, Any],
        *,
        streamed: bool,
    ) -> None:
        choices = body.get("choices")
        if not isinstance(choices, list) or not choices or body.get("error") is not None:
            return
        if any(isinstance(c, dict) and c.get("finish_reason") == "content_filter" for c in choices):
            return  # a filtered answer is not one to repeat
        now = self._clock()
        fresh_until = now + ttl
        entry = CacheEntry(
            key=request.key,
            tenant=call.principal.tenant,
            scope=request.scope,
            model=call.model,
            variant=call.variant,
            user_message=request.user_message,
            response=body,
            input_tokens=response.usage.input_tokens,
            output_tokens=response.usage.output_tokens,
            cost_usd=response.cost or 0.0,
            response_time_ms=(time.perf_counter() - call.started) * 1000,
            created_at=now,
            expires_at=fresh_until + self._retention,
            hit_count=0,
            last_accessed=now,
            streamed=streamed,
        )
        self._l1.put(entry, fresh_until, now)
        self.stats.stored += 1
        self.stats.track(
            entry.key,
            EntryStats(
                tenant=entry.tenant,
                user_message=entry.user_message,
                variant=entry.variant,
                cost_usd=entry.cost_usd,
                response_time_ms=entry.response_time_ms,
                fresh_until=fresh_until,
            ),
        )
        # Embeddings are indexed by the upkeep task, which may have to wait for the model.
        if self.index is not None and self.matcher is None and request.semantic:
            self._index_entry(entry, fresh_until, None)
        if len(self._writes) >= self.settings.write_queue:
            self.stats.dropped_writes += 1
            if self.stats.dropped_writes % 1000 == 1:
                log.warning(
                    "cache write queue full (%d): %d writes not sent to L2 so far",
                    len(self._writes),
                    self.stats.dropped_writes,
                )
        else:
            self._writes.append(entry)
            if response.cost is None:
                self._unpriced[entry.key] = (entry, response)
        if self._wake is not None:
            self._wake.set()

    def _index_entry(self, entry: CacheEntry, fresh_until: float, vector: Any) -> None:
        assert self.index is not None
        self.index.add(
            tenant=entry.tenant,
            scope=entry.scope,
            variant=entry.variant,
            key=entry.key,
            text=entry.user_message,
            fresh_until=fresh_until,
            vector=vector,
        )

    # --- clearing ----------------------------------------------------------------------

    async def clear(self, *, variant: str | None = None) -> int:
        """Delete every entry (or one variant's) from L2, L1 and the index."""
        self._writes = deque(
            e for e in self._writes if variant is not None and e.variant != variant
        )
        queued = {e.key for e in self._writes}
        self._unpriced = {k: p for k, p in self._unpriced.items() if k in queued}
        removed = await self._store.clear(variant=variant)
        self._l1.clear(variant=variant)
        if self.index is not None:
            self.index.clear(variant=variant)
        self.stats.forget(variant=variant)
        return removed

    async def clear_expired(self) -> int:
        """Delete every entry that is no longer fresh (kept-for-stale ones too)."""
        now = self._clock()
        removed = await self._store.clear(expired_before=now + self._retention)
        self._l1.clear(fresh_before=now)
        if self.index is not None:
            self.index.clear(fresh_before=now)
        self.stats.forget(fresh_before=now)
        return removed

    # --- background --------------------------------------------------------------------

    async def _upkeep(self) -> None:
        assert self._wake is not None
        next_cleanup = self._clock() + self.settings.cleanup_interval
        while not self._closing:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_TOUCH_INTERVAL):
                    await self._wake.wait()
            self._wake.clear()
            try:
                async with self._drain_lock:
                    await self._drain()
                if self._clock() >= next_cleanup:
                    next_cleanup = self._clock() + self.settings.cleanup_interval
                    await self.purge_expired()
            except Exception:  # upkeep must outlive any one failure
                log.exception("cache upkeep failed; will try again")

    async def _drain(self) -> None:
        while self._writes:
            entry = self._writes.popleft()
            self._price(entry.key)
            if self.matcher is not None and self.index is not None and entry.user_message:
                try:
                    vector = await self.matcher.embed(entry.user_message)
                except Exception:
                    log.exception("embedding a cached query failed; it is matched exactly only")
                else:
                    self._index_entry(entry, self._fresh_until(entry), vector)
            try:
                await self._store.put(entry, max_entries=self.settings.max_entries)
            except Exception:
                self._store_failed("write failed; entry kept in L1 only")
            else:
                if self._store_failures:
                    self._store_recovered()
        touches, self._touches, self._pending_touches = self._touches, {}, 0
        now = self._clock()
        for key, count in touches.items():
            for _ in range(count):
                if await self._from_l2(key, now) is None:
                    break

    async def purge_expired(self) -> None:
        """Drop entries past their retention from L1, the index and L2 (run periodically)."""
        now = self._clock()
        self._l1.purge(now)
        if self.index is not None:
            self.index.purge(now)
        try:
            await self._store.clear(expired_before=now)
        except Exception:
            self.stats.store_errors += 1
            log.warning("purging expired cache entries failed", exc_info=True)

    def _schedule_load(self, tenant: str, scope: str) -> None:
        """Fill a scope's index from L2 (after a restart, or from other replicas)."""
        where = (tenant, scope)
        if (
            self.settings.semantic.load_limit == 0
            or where in self._loaded
            or len(self._loads) >= _MAX_PENDING_LOADS
        ):
            return
        self._loaded[where] = None
        while len(self._loaded) > _MAX_LOADED_SCOPES:
            self._loaded.popitem(last=False)
        self._loads.append(where)
        if self._load_wake is not None and self._loads_idle is not None:
            self._loads_idle.clear()
            self._load_wake.set()

    async def _load_scopes(self) -> None:
        assert self._load_wake is not None
        while not self._closing:
            await self._load_wake.wait()
            self._load_wake.clear()
            while self._loads and not self._closing:
                tenant, scope = self._loads.popleft()
                self._loading = True
                try:
                    await self._load_scope(tenant, scope)
                except Exception:
                    self.stats.store_errors += 1
                    log.warning("loading the semantic index from the store failed", exc_info=True)
                finally:
                    self._loading = False
            if not self._loads and self._loads_idle is not None:
                self._loads_idle.set()

    async def _load_scope(self, tenant: str, scope: str) -> None:
        assert self.index is not None
        now = self._clock()
        entries = await self._store.scan(
            tenant, scope, now=now, limit=self.settings.semantic.load_limit
        )
        entries = [e for e in entries if e.user_message and self._fresh_until(e) > now]
        vectors: list[Any] = [None] * len(entries)
        if self.matcher is not None and entries:
            vectors = await self.matcher.embed_many([e.user_message for e in entries])
        for entry, vector in zip(reversed(entries), reversed(vectors), strict=True):
            self._index_entry(entry, self._fresh_until(entry), vector)

    async def wait_idle(self) -> None:
        """Wait until queued writes and index loads are done (tests and warming use it)."""
        await self.flush()
        if self._loads_idle is not None:
            await self._loads_idle.wait()
        if self._preload is not None:
            with contextlib.suppress(Exception):
                await self._preload
