"""The retry budget's counters: in this process, or in Redis for every replica.

Both count first attempts and retries per deployment in two time buckets and decide
with :func:`steadyllm.policy.retry_budget.refusal`; the Redis one does the check and
the count in one script (``lua/retry_budget.lua``), so replicas never over-grant.
"""

from __future__ import annotations

from importlib import resources
from typing import Any, Protocol

from steadyllm.policy.retry_budget import (
    BudgetPolicy,
    Refusal,
    refusal,
    sliding_count,
    window_position,
)

__all__ = ["MemoryRetryBudget", "RedisRetryBudget", "RetryBudgetStore"]


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
    replicas; the braces are a Redis Cluster hash tag (one deployment, one slot)."""

    def __init__(self, client: Any, *, prefix: str, owns_client: bool = True) -> None:
        self._client = client
        self._owns_client = owns_client
        self._prefix = prefix + "budget:"
        script = resources.files("steadyllm.resilience").joinpath("lua/retry_budget.lua")
        self._script = client.register_script(script.read_text(encoding="utf-8"))

    async def _run(
        self, mode: str, deployment: str, policy: BudgetPolicy, now: float
    ) -> Refusal | None:
        index, elapsed = window_position(now, policy.window)
        # Hash tag: the four counters share one slot on Redis Cluster.
        base = f"{self._prefix}{{{len(deployment)}:{deployment}}}:"
        keys = [
            f"{base}first:{index - 1}",
            f"{base}first:{index}",
            f"{base}retry:{index - 1}",
            f"{base}retry:{index}",
        ]
        ttl_ms = max(1, round(policy.window * 2 * 1000))
        granted, reason = await self._script(
            keys=keys,
            args=[
                mode,
                repr(elapsed),
                policy.max_retries_per_window,
                repr(policy.ratio),
                policy.min_retries,
                ttl_ms,
            ],
        )
        if int(granted):
            return None
        text = reason.decode() if isinstance(reason, bytes) else str(reason)
        return "count" if text == "count" else "ratio"

    async def first_attempt(self, deployment: str, policy: BudgetPolicy, now: float) -> None:
        await self._run("first", deployment, policy, now)

    async def take_retry(self, deployment: str, policy: BudgetPolicy, now: float) -> Refusal | None:
        return await self._run("retry", deployment, policy, now)

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()
