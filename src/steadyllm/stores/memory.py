"""In-process stores: one event loop, no I/O, each method atomic by construction.

No method awaits between reading and writing, so on one event loop nothing can
interleave inside a reservation or an upsert. These stores are exact for a single
process (the embedded default's counters, ``memory://`` and the tests); state shared
by several replicas belongs in Redis or SQL.

Values go in and out as JSON round-trips (orjson): the stores hand back copies that a
caller may mutate freely, and they refuse what the SQL and Redis stores would refuse,
so a test against memory means the same as one against a server.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from steadyllm.stores.base import CacheEntry, CallRecord, Reservation

__all__ = [
    "MemoryCacheStore",
    "MemoryCounterStore",
    "MemoryRecordStore",
    "eviction_size",
    "exceeds_limit",
]

# Expired counters are swept once the map has grown this much since the last sweep,
# so keys that are never read again (old rate-limit windows) do not pile up.
_SWEEP_GROWTH = 1024
_MAX_RECORDS = 100_000  # call records the memory store keeps (newest)


def exceeds_limit(total: float, limit: float) -> bool:
    """Whether ``total`` is over ``limit``, forgiving float rounding.

    Dollar budgets add values like 0.1 + 0.2; without the tolerance a reservation that
    lands exactly on the limit would be refused. Redis sums in long double, so both
    backends use the same tolerance (``reserve.lua`` repeats it) to agree.
    """
    return total > limit + 1e-9 * max(1.0, abs(limit))


def eviction_size(count: int, max_entries: int) -> int:
    """How many least-recently-used entries to evict from ``count`` (0 if within bound).

    Evicting a tenth at once keeps eviction off the hot path of most puts; taking
    ``count - max_entries`` on top keeps the bound even after ``max_entries`` shrinks.
    """
    if count <= max_entries:
        return 0
    return count - max_entries + max(1, max_entries // 10)


def _copy_json(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


class MemoryCounterStore:
    """Counters in a dict; ``clock`` (monotonic seconds) decides TTL expiry."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._values: dict[str, tuple[float, float | None]] = {}  # key -> (value, expires)
        self._size_after_sweep = 0

    def _live(self, key: str, now: float) -> tuple[float, float | None] | None:
        item = self._values.get(key)
        if item is None:
            return None
        if item[1] is not None and item[1] <= now:
            del self._values[key]
            return None
        return item

    def _add(self, key: str, amount: float, ttl: float | None, now: float) -> float:
        item = self._live(key, now)
        if item is None:
            expires = None if ttl is None else now + ttl
            self._values[key] = (amount, expires)
            self._sweep(now)
            return amount
        total = item[0] + amount
        self._values[key] = (total, item[1])
        return total

    def _sweep(self, now: float) -> None:
        if len(self._values) - self._size_after_sweep < _SWEEP_GROWTH:
            return
        expired = [k for k, (_, exp) in self._values.items() if exp is not None and exp <= now]
        for key in expired:
            del self._values[key]
        self._size_after_sweep = len(self._values)

    async def incr(self, key: str, amount: float = 1.0, *, ttl: float | None = None) -> float:
        return self._add(key, amount, ttl, self._clock())

    async def get(self, key: str) -> float:
        item = self._live(key, self._clock())
        return 0.0 if item is None else item[0]

    async def reserve(
        self, key: str, amount: float, limit: float, *, ttl: float | None = None
    ) -> Reservation:
        now = self._clock()
        item = self._live(key, now)
        current = 0.0 if item is None else item[0]
        if exceeds_limit(current + amount, limit):
            return Reservation(granted=False, total=current)
        return Reservation(granted=True, total=self._add(key, amount, ttl, now))

    async def close(self) -> None:
        self._values.clear()


class MemoryCacheStore:
    """Cached answers in a dict, bounded by ``max_entries`` (the stricter bound wins).

    ``max_entries`` here is the store's own ceiling, applied even when ``put`` is given
    none, because an in-process cache must never grow without limit.
    """

    def __init__(self, *, max_entries: int | None = 100_000) -> None:
        self._max_entries = max_entries
        self._entries: dict[str, CacheEntry] = {}

    @staticmethod
    def _copy(entry: CacheEntry) -> CacheEntry:
        return dataclasses.replace(entry, response=_copy_json(entry.response))

    async def get(self, key: str, *, now: float) -> CacheEntry | None:
        entry = self._entries.get(key)
        if entry is None or entry.expires_at <= now:
            return None
        entry.hit_count += 1
        entry.last_accessed = now
        return self._copy(entry)

    async def put(self, entry: CacheEntry, *, max_entries: int | None = None) -> None:
        self._entries[entry.key] = self._copy(entry)
        bounds = [b for b in (max_entries, self._max_entries) if b is not None]
        if not bounds:
            return
        evict = eviction_size(len(self._entries), min(bounds))
        if evict:
            victims = heapq.nsmallest(
                evict, self._entries.values(), key=lambda e: (e.last_accessed, e.key)
            )
            for victim in victims:
                del self._entries[victim.key]

    async def scan(self, tenant: str, scope: str, *, now: float, limit: int) -> list[CacheEntry]:
        live = [
            e
            for e in self._entries.values()
            if e.tenant == tenant and e.scope == scope and e.expires_at > now
        ]
        newest = heapq.nlargest(limit, live, key=lambda e: (e.last_accessed, e.key))
        return [self._copy(e) for e in newest]

    async def clear(
        self, *, variant: str | None = None, expired_before: float | None = None
    ) -> int:
        doomed = [
            e.key
            for e in self._entries.values()
            if (variant is None or e.variant == variant)
            and (expired_before is None or e.expires_at < expired_before)
        ]
        for key in doomed:
            del self._entries[key]
        return len(doomed)

    async def close(self) -> None:
        self._entries.clear()


class MemoryRecordStore:
    """Call records in a dict keyed by id; keeps the newest ``max_records``.

    Meant for tests and short in-process runs, where reading back everything is the
    point. A long-running gateway records to SQLite or PostgreSQL instead; on this
    store the oldest records are dropped past ``max_records`` (counted in
    ``evicted``), so a gateway left running on ``memory://`` does not grow without end.
    """

    def __init__(self, *, max_records: int = _MAX_RECORDS) -> None:
        if max_records <= 0:
            raise ValueError("max_records must be positive")
        self._records: dict[str, CallRecord] = {}  # insertion order kept by dict
        self.max_records = max_records
        self.evicted = 0

    async def write_calls(self, records: Sequence[CallRecord]) -> None:
        # Check the whole batch before touching the store: all or nothing. A record
        # whose id is already stored is skipped, as in SQL, so a writer may safely
        # retry a batch whose first attempt it never heard back from.
        checked = [_checked_record(record) for record in records]
        for record in checked:
            self._records.setdefault(record.id, record)
        excess = len(self._records) - self.max_records
        if excess > 0:
            for key in list(itertools.islice(self._records, excess)):  # oldest first
                del self._records[key]
            self.evicted += excess

    async def get_call(self, record_id: str) -> CallRecord | None:
        return self._records.get(record_id)

    async def list_calls(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        tenant: str | None = None,
        request_id: str | None = None,
        limit: int = 1000,
    ) -> list[CallRecord]:
        matching = [
            r
            for r in self._records.values()
            if (since is None or r.created_at >= since)
            and (until is None or r.created_at < until)
            and (tenant is None or r.tenant == tenant)
            and (request_id is None or r.request_id == request_id)
        ]
        return heapq.nsmallest(limit, matching, key=lambda r: (r.created_at, r.id))

    async def count_calls(self) -> int:
        return len(self._records)

    async def close(self) -> None:
        """Nothing to release; the records stay readable until the store is dropped."""


_REQUIRED_TEXT = ("id", "request_id", "kind", "model", "tenant")


def _checked_record(record: CallRecord) -> CallRecord:
    """A private copy of ``record``, refusing what the SQL schema would refuse."""
    for name in _REQUIRED_TEXT:
        if not isinstance(getattr(record, name), str):
            raise TypeError(f"CallRecord.{name} must be a string, got {getattr(record, name)!r}")
    return dataclasses.replace(
        record,
        fallback_path=tuple(record.fallback_path),
        metadata=_copy_json(record.metadata),
    )
