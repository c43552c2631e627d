"""The retry budget's counters: in this process, or in Redis for every replica.

Both count first attempts and retries per deployment in two time buckets and decide
with :func:`steadyllm.policy.retry_budget.refusal`; the Redis one does the check and
the count in one script (``lua/retry_budget.lua``), so replicas never over-grant.

First attempts are the busy path (one per request) and only ever widen the budget, so
the Redis one counts them here and sends them in one pipeline every ``flush_interval``
(default :data:`FLUSH_INTERVAL`, 0.1 s) rather than one round trip per request. A
replica's own unsent first attempts go with its next retry check (the same script), so
it sees all of its own; it sees another replica's at most ``flush_interval`` late, which
can only refuse a retry the exact count would have granted, never grant one more.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from importlib import resources
from typing import Any, Protocol

from steadyllm.policy.retry_budget import (
    BudgetPolicy,
    Refusal,
    refusal,
    sliding_count,
    window_position,
)

__all__ = ["FLUSH_INTERVAL", "MemoryRetryBudget", "RedisRetryBudget", "RetryBudgetStore"]

log = logging.getLogger("steadyllm.resilience")

FLUSH_INTERVAL = 0.1  # seconds a first attempt may wait before Redis counts it
_MAX_PENDING = 10_000  # (deployment, bucket) pairs waiting; more are sent at once


class RetryBudgetStore(Protocol):
    async def first_attempt(self, deployment: str, policy: BudgetPolicy, now: float) -> None:
        """Count a request's first attempt on ``deployment``."""
        ...

    async def take_retry(self, deployment: str, policy: BudgetPolicy, now: float) -> Refusal | None:
        """Count one retry if the budget allows it; else say which guard refused it."""
        ...

    async def close(self) -> None: ...


class _Buckets:
    __slots__ = ("current", "index", "previous")

    def __init__(self) -> None:
        self.index = 0
        self.previous = 0
        self.current = 0

    def roll(self, index: int) -> None:
        if index == self.index:
            return
        self.previous = self.current if index == self.index + 1 else 0
        self.current = 0
        self.index = index


class MemoryRetryBudget:
    """Exact for one process; bounded by the number of deployments asked about."""

    def __init__(self, *, max_deployments: int = 10_000) -> None:
        self._first: dict[str, _Buckets] = {}
        self._retries: dict[str, _Buckets] = {}
        self._max = max_deployments

    def _buckets(self, table: dict[str, _Buckets], deployment: str, index: int) -> _Buckets:
        buckets = table.get(deployment)
        if buckets is None:
            if len(table) >= self._max:
                table.pop(next(iter(table)))
            buckets = table[deployment] = _Buckets()
            buckets.index = index
        buckets.roll(index)
        return buckets

    async def first_attempt(self, deployment: str, policy: BudgetPolicy, now: float) -> None:
        index, _ = window_position(now, policy.window)
        self._buckets(self._first, deployment, index).current += 1

    async def take_retry(self, deployment: str, policy: BudgetPolicy, now: float) -> Refusal | None:
        index, elapsed = window_position(now, policy.window)
        first = self._buckets(self._first, deployment, index)
        retries = self._buckets(self._retries, deployment, index)
        refused = refusal(
            policy,
            retries=sliding_count(retries.previous, retries.current, elapsed),
            first_attempts=sliding_count(first.previous, first.current, elapsed),
        )
        if refused is None:
            retries.current += 1
        return refused

    async def close(self) -> None:
        self._first.clear()
        self._retries.clear()


class RedisRetryBudget:
    """Counters ``<prefix>budget:{<len>:<deployment>}:{first|retry}:<bucket>``, shared by
    replicas; the braces are a Redis Cluster hash tag (one deployment, one slot).

    First attempts wait here up to ``flush_interval`` seconds (0: sent at once) and go to
    Redis together; a failed send is passed to ``on_error`` (else logged) and its counts
    are dropped, so ``first_attempt`` never raises. ``take_retry`` raises on a Redis error.
    """

    def __init__(
        self,
        client: Any,
        *,
        prefix: str,
        owns_client: bool = True,
        flush_interval: float = FLUSH_INTERVAL,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self._client = client
        self._owns_client = owns_client
        self._prefix = prefix + "budget:"
        script = resources.files("steadyllm.resilience").joinpath("lua/retry_budget.lua")
        self._script = client.register_script(script.read_text(encoding="utf-8"))
        self._flush_interval = flush_interval
        self.on_error = on_error
        # (deployment, bucket index) -> [first attempts not yet sent, TTL in ms]
        self._pending: dict[tuple[str, int], list[int]] = {}
        self._flush_due = False
        self._flushers: set[asyncio.Task[None]] = set()

    def _base(self, deployment: str) -> str:
        # Hash tag: the four counters share one slot on Redis Cluster.
        return f"{self._prefix}{{{len(deployment)}:{deployment}}}:"

    async def first_attempt(self, deployment: str, policy: BudgetPolicy, now: float) -> None:
        index, _ = window_position(now, policy.window)
        waiting = self._pending.get((deployment, index))
        if waiting is None:
            ttl_ms = max(1, round(policy.window * 2 * 1000))
            self._pending[(deployment, index)] = [1, ttl_ms]
        else:
            waiting[0] += 1
        if self._flush_interval <= 0 or len(self._pending) >= _MAX_PENDING:
            await self._send()
        elif not self._flush_due:
            self._flush_due = True
            flusher = asyncio.get_running_loop().create_task(self._flush_later())
            self._flushers.add(flusher)
            flusher.add_done_callback(self._flushers.discard)

    async def _flush_later(self) -> None:
        try:
            await asyncio.sleep(self._flush_interval)
        finally:
            self._flush_due = False
        await self._send()

    async def _send(self) -> None:
        try:
            await self.flush()
        except Exception as exc:  # reported, never raised: the counts are an aid, not a must
            if self.on_error is not None:
                self.on_error(exc)
            else:
                log.warning("retry budget: first attempts not counted in Redis: %s", exc)

    async def flush(self) -> None:
        """Send the first attempts counted here to Redis now (one pipeline)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        pipe = self._client.pipeline(transaction=False)
        for (deployment, index), (count, ttl_ms) in pending.items():
            key = f"{self._base(deployment)}first:{index}"
            pipe.incrby(key, count)
            pipe.pexpire(key, ttl_ms)
        await pipe.execute()

    async def take_retry(self, deployment: str, policy: BudgetPolicy, now: float) -> Refusal | None:
        index, elapsed = window_position(now, policy.window)
        base = self._base(deployment)
        keys = [
            f"{base}first:{index - 1}",
            f"{base}first:{index}",
            f"{base}retry:{index - 1}",
            f"{base}retry:{index}",
        ]
        # This replica's own first attempts not sent yet go with the check.
        unsent = [self._pending.pop((deployment, i), [0, 0])[0] for i in (index - 1, index)]
        ttl_ms = max(1, round(policy.window * 2 * 1000))
        granted, reason = await self._script(
            keys=keys,
            args=[
                repr(elapsed),
                policy.max_retries_per_window,
                repr(policy.ratio),
                policy.min_retries,
                ttl_ms,
                *unsent,
            ],
        )
        if int(granted):
            return None
        text = reason.decode() if isinstance(reason, bytes) else str(reason)
        return "count" if text == "count" else "ratio"

    async def close(self) -> None:
        for flusher in list(self._flushers):
            flusher.cancel()
        self._flush_due = False
        try:
            await self.flush()
        except Exception as exc:  # closing: nothing more to do with them
            log.warning("retry budget: first attempts not counted in Redis: %s", exc)
        if self._owns_client:
            await self._client.aclose()
