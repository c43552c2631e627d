"""Limit counters in Redis, shared by every replica: one Lua script per step.

``acquire.lua`` checks and takes all of a call's rules in one script, on Redis's
clock; ``settle.lua`` applies what the call really used. Keys start with the
configured prefix plus ``limit:``; each rule's counter is hash-tagged by itself,
``limit:{<rule key>}`` (a sliding window's buckets append ``:<bucket>`` after the
tag), so the buckets a script derives share their counter's slot.

On one server or behind Sentinel, one script checks and takes every rule of a call.
On Redis Cluster the counters of one call sit in different slots, so each rule is
taken by a script of its own, in order; when one refuses, the ones already taken are
given back (``settle`` with the negated amount). A call is still all or nothing and
nothing is over-granted; until the give-back lands, a concurrent call may see the
taken amount and be refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

from steadyllm.limits.rules import Rule
from steadyllm.limits.store import Granted, Outcome, Settlement
from steadyllm.stores.redis_client import RedisClient, is_cluster, redis_client

__all__ = ["RedisLimitStore", "limit_client"]


def limit_client(
    url: str, *, timeout: float, max_connections: int = 100, wait: float = 10.0
) -> RedisClient:
    """A client whose every command gives up after ``timeout`` seconds, so a Redis that
    hangs fails a limit check (open or closed, by config) instead of every request.

    Waiting up to ``wait`` seconds for a free pooled connection is not a failure: a
    burst of calls queues for connections rather than failing over to local limits.
    """
    return redis_client(url, max_connections=max_connections, wait=wait, timeout=timeout)


def _script(name: str) -> str:
    return resources.files("steadyllm.limits").joinpath("lua", f"{name}.lua").read_text("utf-8")


def _ms(seconds: float) -> str:
    return str(max(1, round(seconds * 1000)))


class RedisLimitStore:
    def __init__(self, client: RedisClient, *, prefix: str) -> None:
        self._client = client
        self._prefix = prefix + "limit:"
        self._apart = is_cluster(client)  # one script per rule (see the module's doc)
        self._acquire = client.register_script(_script("acquire"))
        self._settle = client.register_script(_script("settle"))

    def _key(self, rule: Rule) -> str:
        return f"{self._prefix}{{{rule.key}}}"

    async def acquire(self, rules: Sequence[Rule], member: str) -> Outcome:
        if not self._apart or len(rules) < 2:
            return await self._acquire_together(rules, member)
        taken: list[tuple[Rule, Granted]] = []
        for index, rule in enumerate(rules):
            outcome = await self._acquire_together([rule], member)
            if not outcome.granted:
                await self._give_back(taken, member)
                return Outcome(False, index, outcome.retry_after_ms)
            taken.append((rule, outcome.rules[0]))
        return Outcome(True, rules=tuple(granted for _, granted in taken))

    async def _give_back(self, taken: Sequence[tuple[Rule, Granted]], member: str) -> None:
        # A lease is released; a counter gets its amount taken off again.
        await self.settle([Settlement(r, g.slot, -float(r.amount)) for r, g in taken], member)

    async def _acquire_together(self, rules: Sequence[Rule], member: str) -> Outcome:
        args: list[str] = [member]
        for rule in rules:
            args += [rule.kind, repr(float(rule.limit)), repr(float(rule.amount)), _ms(rule.window)]
        reply = await self._acquire(keys=[self._key(rule) for rule in rules], args=args)
        if int(reply[0]) == 0:
            wait = int(reply[2])
            return Outcome(False, int(reply[1]), None if wait < 0 else wait)
        values = reply[3:]
        granted = tuple(
            Granted(int(values[i]), float(values[i + 1]), int(values[i + 2]))
            for i in range(0, len(values), 3)
        )
        return Outcome(True, rules=granted)

    async def settle(self, settlements: Sequence[Settlement], member: str) -> list[float]:
        if not settlements:
            return []
        if self._apart and len(settlements) > 1:
            totals = [await self.settle([item], member) for item in settlements]
            return [total for (total,) in totals]
        args: list[str] = [member]
        for item in settlements:
            args += [item.rule.kind, str(item.slot), repr(float(item.delta))]
        keys = [self._key(item.rule) for item in settlements]
        reply = await self._settle(keys=keys, args=args)
        return [float(value) for value in reply]

    async def close(self) -> None:
        await self._client.aclose()
