"""The safety log: every check counted, every violation recorded, written behind.

The request path only touches memory: :meth:`SafetyLog.count` adds one to a
per-check counter, :meth:`SafetyLog.record` appends an event to a bounded queue
(full: the event is dropped and counted, never waited for). One background task
writes events and counter increments in batches; a failed batch is kept and retried
with backoff. With no violations the cost per request is a few dictionary
increments, and the writer wakes only when there is something to write.

Stores (:class:`SafetyLogStore`): :class:`MemorySafetyLog` here, ``SqlSafetyLog``
(SQLite, PostgreSQL) in :mod:`steadyllm.safety.sql`. Check counts are kept per
hour, so a summary can start at any hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from steadyllm.safety.settings import SafetyLogSettings

__all__ = [
    "CheckType",
    "MemorySafetyLog",
    "SafetyEvent",
    "SafetyLog",
    "SafetyLogStore",
    "SafetyMetrics",
    "SummaryRow",
    "hour_of",
]

log = logging.getLogger("steadyllm.safety")

CheckType = str  # "input" | "output" | "validation"
_HOUR = 3600.0
_MEMORY_EVENTS = 10_000
_MEMORY_CONVERSATIONS = 100_000
_MEMORY_HOURS = 90 * 24  # hours of check counts kept apart; older ones are folded
_EARLIER = float("-inf")  # the hour key of the folded counts


def hour_of(timestamp: float) -> float:
    """The start of the hour holding ``timestamp`` (epoch seconds)."""
    return timestamp - timestamp % _HOUR


@dataclass(frozen=True, slots=True)
class SafetyEvent:
    """One violation: what was checked, what was found, what the gateway did."""

    id: str
    created_at: float
    request_id: str
    check_type: CheckType
    violation_type: str  # prompt_injection, jailbreak, system_prompt_leak, schema_mismatch, ...
    action: str  # blocked, flagged, sanitized, redacted, repaired, reasked, rejected
    blocked: bool
    model: str = ""
    tenant: str = "default"
    conversation: str | None = None
    score: float | None = None
    message: str = ""  # the offending text (bounded, PII redacted unless configured)
    details: dict[str, Any] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "timestamp": self.created_at,
            "requestId": self.request_id,
            "conversationId": self.conversation,
            "tenant": self.tenant,
            "model": self.model,
            "checkType": self.check_type,
            "violationType": self.violation_type,
            "action": self.action,
            "blocked": self.blocked,
            "score": self.score,
            "message": self.message,
            "details": self.details,
        }


@dataclass(frozen=True, slots=True)
class SummaryRow:
    check_type: CheckType
    violation_type: str
    violations: int
    blocked: int
    affected_conversations: int


class SafetyLogStore(Protocol):
    async def write(
        self, events: Sequence[SafetyEvent], checks: Mapping[tuple[str, float], int]
    ) -> None:
        """Add ``events`` and the check counts (by check type and hour) in one transaction."""
        ...

    async def check_counts(self, *, since: float | None = None) -> dict[CheckType, int]: ...

    async def summary(self, *, since: float | None = None) -> list[SummaryRow]:
        """Violations grouped by check type and violation type."""
        ...

    async def recent(
        self, *, limit: int = 50, since: float | None = None, check_type: str | None = None
    ) -> list[SafetyEvent]:
        """The newest violations first."""
        ...

    async def close(self) -> None: ...


class MemorySafetyLog:
    """In-process store: bounded (the newest events, exact counts, capped conversation sets).

    Check counts are kept by hour for the last ``max_hours`` hours; older hours are
    folded into one total per check type, so the all-time counts stay exact and a
    ``since`` inside the last ``max_hours`` hours too.
    """

    def __init__(self, *, max_events: int = _MEMORY_EVENTS, max_hours: int = _MEMORY_HOURS) -> None:
        self._max_events = max_events
        self.max_hours = max_hours
        self._hours: set[float] = set()  # hours with counts of their own
        self._events: deque[SafetyEvent] = deque()
        self._ids: set[str] = set()
        self._checks: Counter[tuple[str, float]] = Counter()
        self._rows: dict[tuple[str, str], list[int]] = {}  # -> [violations, blocked]
        self._conversations: dict[tuple[str, str], set[str]] = {}

    async def write(
        self, events: Sequence[SafetyEvent], checks: Mapping[tuple[str, float], int]
    ) -> None:
        self._checks.update(checks)
        self._hours.update(hour for _, hour in checks)
        if len(self._hours) > self.max_hours:
            self._fold_old_hours()
        for event in events:
            if event.id in self._ids:
                continue  # a retried batch: already stored
            if len(self._events) >= self._max_events:
                self._ids.discard(self._events.popleft().id)
            self._events.append(event)
            self._ids.add(event.id)
            key = (event.check_type, event.violation_type)
            row = self._rows.setdefault(key, [0, 0])
            row[0] += 1
            row[1] += int(event.blocked)
            seen = self._conversations.setdefault(key, set())
            if event.conversation and len(seen) < _MEMORY_CONVERSATIONS:
                seen.add(event.conversation)

    @property
    def hours_held(self) -> int:
        """Hours with counts of their own (the folded total not included)."""
        return len(self._hours)

    def _fold_old_hours(self) -> None:
        cutoff = sorted(self._hours)[-self.max_hours]
        for key in [k for k in self._checks if k[1] != _EARLIER and k[1] < cutoff]:
            self._checks[(key[0], _EARLIER)] += self._checks.pop(key)
        self._hours = {hour for hour in self._hours if hour >= cutoff}

    async def check_counts(self, *, since: float | None = None) -> dict[CheckType, int]:
        totals: Counter[str] = Counter()
        start = hour_of(since) if since is not None else None
        for (check, hour), count in self._checks.items():
            if start is None or hour >= start:
                totals[check] += count
        return dict(totals)

    async def summary(self, *, since: float | None = None) -> list[SummaryRow]:
        if since is None:
            return [
                SummaryRow(c, v, row[0], row[1], len(self._conversations.get((c, v), ())))
                for (c, v), row in sorted(self._rows.items())
            ]
        rows: dict[tuple[str, str], list[Any]] = {}
        for event in self._events:
            if event.created_at < since:
                continue
            entry = rows.setdefault((event.check_type, event.violation_type), [0, 0, set()])
            entry[0] += 1
            entry[1] += int(event.blocked)
            if event.conversation:
                entry[2].add(event.conversation)
        return [SummaryRow(c, v, e[0], e[1], len(e[2])) for (c, v), e in sorted(rows.items())]

    async def recent(
        self, *, limit: int = 50, since: float | None = None, check_type: str | None = None
    ) -> list[SafetyEvent]:
        out = []
        for event in reversed(self._events):
            if since is not None and event.created_at < since:
                continue
            if check_type is not None and event.check_type != check_type:
                continue
            out.append(event)
            if len(out) >= limit:
                break
        return out

    async def close(self) -> None:
        return None


class SafetyMetrics:
    """In-process counters per check, for the API and for metrics exporters."""

    def __init__(self) -> None:
        self.checks: Counter[str] = Counter()
        self.violations: Counter[tuple[str, str]] = Counter()
        self.actions: Counter[tuple[str, str]] = Counter()
        self.dropped_events = 0
        self.failed_writes = 0

    def snapshot(self) -> dict[str, Any]:
        return {
            "checks": dict(self.checks),
            "violations": [
                {"checkType": c, "violationType": v, "count": n}
                for (c, v), n in sorted(self.violations.items())
            ],
            "actions": [
                {"checkType": c, "action": a, "count": n}
                for (c, a), n in sorted(self.actions.items())
            ],
            "droppedEvents": self.dropped_events,
            "failedWrites": self.failed_writes,
        }


class SafetyLog:
    """The write-behind front of a :class:`SafetyLogStore` (see the module docstring)."""

    def __init__(
        self,
        store: SafetyLogStore,
        settings: SafetyLogSettings,
        *,
        metrics: SafetyMetrics | None = None,
        clock: Any = time.time,
    ) -> None:
        self.store = store
        self._settings = settings
        self.metrics = metrics or SafetyMetrics()
        self._clock = clock
        self._events: deque[SafetyEvent] = deque()
        self._checks: Counter[tuple[str, float]] = Counter()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._lock = asyncio.Lock()

    # --- the request path: memory only -----------------------------------------------------

    def count(self, check_type: CheckType) -> None:
        self.metrics.checks[check_type] += 1
        if self._settings.enabled:
            self._checks[(check_type, hour_of(self._clock()))] += 1

    def record(self, event: SafetyEvent) -> None:
        self.metrics.violations[(event.check_type, event.violation_type)] += 1
        self.metrics.actions[(event.check_type, event.action)] += 1
        if not self._settings.enabled:
            return
        if len(self._events) >= self._settings.max_queue:
            self.metrics.dropped_events += 1
            dropped = self.metrics.dropped_events
            if dropped == 1 or dropped % 1000 == 0:  # loud, but no log storm under overload
                log.error(
                    "safety log queue full (%d): %d events dropped so far (latest %s)",
                    len(self._events),
                    dropped,
                    event.id,
                )
            return
        self._events.append(event)
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._events)

    # --- background ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None and self._settings.enabled:
            self._task = asyncio.create_task(self._run(), name="steadyllm-safety-log")

    async def stop(self, timeout: float = 10.0) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout)
            except TimeoutError:
                log.error("safety log stopped with %d events unwritten", len(self._events))
            self._task = None

    async def flush(self) -> None:
        """Write everything pending now (the API's ``flush=true`` and tests use it)."""
        while self._events or self._checks:
            if not await self._write_batch():
                raise RuntimeError("safety log store unavailable")

    async def _run(self) -> None:
        backoff = 0.0
        while True:
            if not self._events and not self._checks:
                if self._closing:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._settings.flush_interval)
                self._wake.clear()
                if not self._events and not self._closing:
                    # Counts alone wait for a full interval: a quiet gateway writes them
                    # at most once per interval, batched.
                    await self._idle_counts()
                continue
            if backoff:
                await asyncio.sleep(backoff)
            if await self._write_batch():
                backoff = 0.0
            else:
                backoff = min(max(backoff * 2, 0.2), 5.0)
                if self._closing and backoff >= 5.0:
                    log.error(
                        "safety log store unavailable at shutdown; %d events lost",
                        len(self._events),
                    )
                    return

    async def _idle_counts(self) -> None:
        if self._checks:
            await self._write_batch()

    async def _write_batch(self) -> bool:
        async with self._lock:
            size = min(len(self._events), self._settings.batch_size)
            batch = [self._events[i] for i in range(size)]
            checks = dict(self._checks)
            if not batch and not checks:
                return True
            self._checks.clear()
            try:
                await self.store.write(batch, checks)
            except Exception:
                self.metrics.failed_writes += 1
                self._checks.update(checks)  # counted again with the next batch
                log.exception("writing %d safety events failed; will retry", len(batch))
                return False
            for _ in batch:
                self._events.popleft()
            return True
