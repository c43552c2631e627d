"""Where limit counters live: the :class:`LimitStore` protocol and its memory version.

``acquire`` checks every rule of a call and, only if all pass, takes them all: one
atomic step, so a call refused by its hourly limit has not used up a minute's slot,
and no two callers can both take the last unit. ``settle`` adds what the call
really used (or gives a concurrency slot back). The Redis version
(``limits.redis_store``) runs the same decisions in one Lua script for all replicas.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from steadyllm.limits.rules import Rule
from steadyllm.policy.rate_window import (
    bucket_of,
    exceeds,
    reset_after_ms,
    retry_after_ms,
    weighted_count,
)

__all__ = ["Granted", "LimitStore", "MemoryLimitStore", "Outcome", "Settlement"]

_SWEEP_GROWTH = 1024  # sweep expired counters once the map has grown this much


@dataclass(frozen=True, slots=True)
class Granted:
    """One rule's state after a grant."""

    slot: int  # sliding: the bucket the amount went into (settle adjusts that one)
    remaining: float
    reset_ms: int  # sliding: until the bucket ends; otherwise 0


@dataclass(frozen=True, slots=True)
class Outcome:
    granted: bool
    refused: int = -1  # the index of the first rule that refused
    # sliding rules: how long until the amount fits; None when the store cannot say
    # (a budget waits for its period to end, a concurrency slot for a call to finish)
    retry_after_ms: int | None = None
    rules: tuple[Granted, ...] = ()


@dataclass(frozen=True, slots=True)
class Settlement:
    rule: Rule
    slot: int
    delta: float  # added to the counter; ignored for a lease, which is released


class LimitStore(Protocol):
    async def acquire(self, rules: Sequence[Rule], member: str) -> Outcome:
        """Take every rule's amount, or none of them. ``member`` names the call's
        concurrency slot."""
        ...

    async def settle(self, settlements: Sequence[Settlement], member: str) -> list[float]:
        """Apply each settlement; return each counter's new value (0 for a lease, and
        for a counter that has already expired, which is left alone)."""
        ...

    async def close(self) -> None: ...


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class MemoryLimitStore:
    """Counters in dicts, exact for one process; ``clock`` is epoch seconds."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._values: dict[str, tuple[float, int]] = {}  # key -> (value, expires at, ms)
        self._leases: dict[str, dict[str, int]] = {}  # key -> member -> expires at, ms
        self._size_after_sweep = 0

    def _value(self, key: str, now_ms: int) -> float:
        item = self._values.get(key)
        if item is None:
            return 0.0
        if item[1] <= now_ms:
            del self._values[key]
            return 0.0
        return item[0]

    def _add(self, key: str, amount: float, ttl_ms: int, now_ms: int, *, create: bool) -> float:
        item = self._values.get(key)
        if item is None or item[1] <= now_ms:
            if not create:
                return 0.0
            self._values[key] = (amount, now_ms + ttl_ms)
            self._sweep(now_ms)
            return amount
        total = item[0] + amount
        self._values[key] = (total, item[1])
        return total

    def _sweep(self, now_ms: int) -> None:
        size = len(self._values) + len(self._leases)
        if size - self._size_after_sweep < _SWEEP_GROWTH:
            return
        for key in [k for k, (_, expires) in self._values.items() if expires <= now_ms]:
            del self._values[key]
        for key in list(self._leases):  # leases whose calls never settled
            self._holders(key, now_ms)
        self._size_after_sweep = len(self._values) + len(self._leases)

    def _holders(self, key: str, now_ms: int) -> dict[str, int]:
        """The live leases on ``key``; a key left with none is forgotten (a user's
        concurrency key must not outlive the user's calls)."""
        held = self._leases.get(key)
        if held is None:
            return {}
        for member in [m for m, expires in held.items() if expires <= now_ms]:
            del held[member]
        if not held:
            del self._leases[key]
        return held

    def _lease(self, key: str, member: str, expires_ms: int, now_ms: int) -> None:
        held = self._leases.get(key)
        if held is not None:
            held[member] = expires_ms
            return
        self._leases[key] = {member: expires_ms}
        self._sweep(now_ms)

    def _release(self, key: str, member: str) -> None:
        held = self._leases.get(key)
        if held is not None:
            held.pop(member, None)
            if not held:
                del self._leases[key]

    async def acquire(self, rules: Sequence[Rule], member: str) -> Outcome:
        now_ms = int(self._clock() * 1000)
        granted: list[Granted] = []
        for index, rule in enumerate(rules):
            if rule.kind == "sliding":
                window_ms = _ms(rule.window)
                bucket = bucket_of(now_ms, window_ms)
                current = self._value(f"{rule.key}:{bucket}", now_ms)
                previous = self._value(f"{rule.key}:{bucket - 1}", now_ms)
                count = weighted_count(previous, current, now_ms, window_ms)
                if exceeds(count + rule.amount, rule.limit):
                    wait = retry_after_ms(
                        previous, current, rule.amount, rule.limit, now_ms, window_ms
                    )
                    return Outcome(False, index, wait)
                remaining = rule.limit - count - rule.amount
                granted.append(Granted(bucket, remaining, reset_after_ms(now_ms, window_ms)))
            elif rule.kind == "fixed":
                total = self._value(rule.key, now_ms)
                if exceeds(total + rule.amount, rule.limit):
                    return Outcome(False, index, None)
                granted.append(Granted(0, rule.limit - total - rule.amount, 0))
            else:
                held = self._holders(rule.key, now_ms)
                if exceeds(len(held) + rule.amount, rule.limit):
                    return Outcome(False, index, None)
                granted.append(Granted(0, rule.limit - len(held) - rule.amount, 0))
        for rule, grant in zip(rules, granted, strict=True):
            if rule.kind == "sliding":
                key = f"{rule.key}:{grant.slot}"
                self._add(key, rule.amount, 2 * _ms(rule.window), now_ms, create=True)
            elif rule.kind == "fixed":
                self._add(rule.key, rule.amount, _ms(rule.window), now_ms, create=True)
            else:
                self._lease(rule.key, member, now_ms + _ms(rule.window), now_ms)
        return Outcome(True, rules=tuple(granted))

    async def settle(self, settlements: Sequence[Settlement], member: str) -> list[float]:
        now_ms = int(self._clock() * 1000)
        totals: list[float] = []
        for item in settlements:
            rule = item.rule
            if rule.kind == "lease":
                self._release(rule.key, member)
                totals.append(0.0)
                continue
            key = f"{rule.key}:{item.slot}" if rule.kind == "sliding" else rule.key
            totals.append(self._add(key, item.delta, 0, now_ms, create=False))
        return totals

    async def close(self) -> None:
        self._values.clear()
        self._leases.clear()
