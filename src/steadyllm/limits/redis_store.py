"""Limit counters in Redis, shared by every replica: one Lua script per step.

``acquire.lua`` checks and takes all of a call's rules in one script, on Redis's
clock; ``settle.lua`` applies what the call really used. Keys start with the
configured prefix plus ``limit:``. Standalone Redis and Sentinel (the scripts name
bucket keys themselves, which Redis Cluster does not allow).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

from redis.asyncio import BlockingConnectionPool, Redis

from steadyllm.limits.rules import Rule
from steadyllm.limits.store import Granted, Outcome, Settlement

__all__ = ["RedisLimitStore", "limit_client"]


def limit_client(
    url: str, *, timeout: float, max_connections: int = 100, wait: float = 10.0
) -> Redis:
    """A client whose every command gives up after ``timeout`` seconds, so a Redis that
    hangs fails a limit check (open or closed, by config) instead of every request.

    Waiting up to ``wait`` seconds for a free pooled connection is not a failure: a
    burst of calls queues for connections rather than failing over to local limits.
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=wait,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )
    return Redis.from_pool(pool)


def _script(name: str) -> str:
    return resources.files("steadyllm.limits").joinpath("lua", f"{name}.lua").read_text("utf-8")


def _ms(seconds: float) -> str:
    return str(max(1, round(seconds * 1000)))


class RedisLimitStore:
    def __init__(self, client: Redis, *, prefix: str) -> None:
        self._client = client
        self._prefix = prefix + "limit:"
        self._acquire = client.register_script(_script("acquire"))
        self._settle = client.register_script(_script("settle"))

    async def acquire(self, rules: Sequence[Rule], member: str) -> Outcome:
        args: list[str] = [member]
        for rule in rules:
            args += [rule.kind, repr(float(rule.limit)), repr(float(rule.amount)), _ms(rule.window)]
        reply = await self._acquire(keys=[self._prefix + r.key for r in rules], args=args)
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
        args: list[str] = [member]
        for item in settlements:
            args += [item.rule.kind, str(item.slot), repr(float(item.delta))]
        keys = [self._prefix + item.rule.key for item in settlements]
        reply = await self._settle(keys=keys, args=args)
        return [float(value) for value in reply]

    async def close(self) -> None:
        await self._client.aclose()
