"""State behind small protocols; the backend is chosen by URL (see ``open_stores``).

Three kinds of state, each with a memory version and real ones:

- :class:`CounterStore`: counters and reservations shared by every replica
  (limits, budgets, retry budget). Memory, Redis.
- :class:`CacheStore`: cached answers. Memory, SQLite, PostgreSQL, Redis.
- :class:`RecordStore`: call records. Memory, SQLite, PostgreSQL.

Every method is atomic on its backend: a reservation never over-grants under
concurrency, whichever replica asks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "CacheEntry",
    "CacheStore",
    "CallRecord",
    "CounterStore",
    "RecordStore",
    "Reservation",
]


@dataclass(frozen=True, slots=True)
class Reservation:
    granted: bool
    total: float  # the counter after the call (unchanged when refused)


class CounterStore(Protocol):
    """Numeric counters with optional expiry, shared by every replica."""

    async def incr(self, key: str, amount: float = 1.0, *, ttl: float | None = None) -> float:
        """Add ``amount`` (may be negative) and return the new value.

        ``ttl`` (seconds) is set when the key is created and left alone after.
        """
        ...

    async def get(self, key: str) -> float:
        """The current value; 0 for a missing or expired key."""
        ...

    async def reserve(
        self, key: str, amount: float, limit: float, *, ttl: float | None = None
    ) -> Reservation:
        """Atomically add ``amount`` if the result stays at or under ``limit``."""
        ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class CacheEntry:
    """One cached answer; ``key`` is the SHA-256 of the canonical request."""

    key: str
    tenant: str
    scope: str  # hash of model, variant and answer-changing parameters (semantic lookups)
    model: str
    variant: str | None
    user_message: str
    response: dict[str, Any]  # the OpenAI response body
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    response_time_ms: float = 0.0
    created_at: float = 0.0
    expires_at: float = 0.0
    hit_count: int = 0
    last_accessed: float = 0.0
    streamed: bool = False


class CacheStore(Protocol):
    async def get(self, key: str, *, now: float) -> CacheEntry | None:
        """The live entry for ``key``, counting the hit; ``None`` if missing or expired."""
        ...

    async def put(self, entry: CacheEntry, *, max_entries: int | None = None) -> None:
        """Insert or replace; when over ``max_entries``, evict the least recently used 10%."""
        ...

    async def scan(self, tenant: str, scope: str, *, now: float, limit: int) -> list[CacheEntry]:
        """Live entries of one tenant and scope, most recently used first."""
        ...

    async def clear(
        self, *, variant: str | None = None, expired_before: float | None = None
    ) -> int:
        """Delete entries (all, one variant's, or those expired before a time); return count."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call, as the record stage saw it. ``id`` is unique; ``request_id`` may repeat."""

    id: str
    request_id: str
    created_at: float  # epoch seconds, when the request arrived
    kind: str  # chat | embeddings
    # The model group that served the call: what the client asked for, unless a variant or
    # query routing changed it (then the client's is in metadata["requested_model"]).
    model: str
    status: int  # HTTP status returned to the client
    tenant: str = "default"
    key_id: str | None = None
    user: str | None = None
    deployment: str | None = None
    provider_model: str | None = None
    variant: str | None = None
    error_type: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None  # None: the price is unknown (never silently $0)
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    overhead_ms: float = 0.0
    cache_status: str | None = None
    stream: bool = False
    stream_outcome: str | None = None  # complete | cut | client_gone
    attempts: int = 0
    fallback_path: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)


class RecordStore(Protocol):
    async def write_calls(self, records: Sequence[CallRecord]) -> None:
        """Write a batch in one transaction: all or nothing."""
        ...

    async def get_call(self, record_id: str) -> CallRecord | None: ...

    async def list_calls(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        tenant: str | None = None,
        request_id: str | None = None,
        limit: int = 1000,
    ) -> list[CallRecord]:
        """Records in ``[since, until)``, oldest first."""
        ...

    async def count_calls(self) -> int: ...

    async def close(self) -> None: ...
