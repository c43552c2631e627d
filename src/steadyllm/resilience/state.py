"""Where breaker state lives: in this process, or in Redis for every replica.

A :class:`BreakerStore` applies a pure transition (``steadyllm.policy.breaker``)
atomically. In memory nothing can interleave (no await between read and write). In
Redis the state is read, the transition computed here, and written back only if the
version is unchanged (``lua/breaker_cas.lua``); on a conflict the transition runs
again on the fresh state. Reads that change nothing (a closed breaker admitting a
request) write nothing, so the busy path costs one read.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from importlib import resources
from typing import Any, Protocol, TypeVar

import orjson

from steadyllm.policy.breaker import BreakerState

__all__ = ["BreakerStore", "MemoryBreakerStore", "RedisBreakerStore", "Transition"]

log = logging.getLogger("steadyllm.resilience")

_R = TypeVar("_R")
Transition = Callable[[BreakerState], tuple[_R, BreakerState]]

_CAS_TRIES = 64  # each conflict means another writer succeeded, so this bounds a burst
_STATE_TTL_MS = 24 * 3600 * 1000  # an untouched breaker is forgotten (closed) after a day


class BreakerStore(Protocol):
    async def read(self, name: str) -> BreakerState:
        """The breaker's state (a new closed one if never seen)."""
        ...

    async def update(
        self, name: str, transition: Callable[[BreakerState], tuple[_R, BreakerState]]
    ) -> tuple[_R, BreakerState, BreakerState]:
        """Apply ``transition`` atomically; return its result, the state before and after.

        ``transition`` must be pure: a shared store may run it more than once.
        """
        ...

    async def close(self) -> None: ...


class MemoryBreakerStore:
    """Breaker states of this process. ``max_entries`` bounds the map."""

    def __init__(self, *, max_entries: int = 10_000) -> None:
        self._states: dict[str, BreakerState] = {}
        self._max_entries = max_entries

    async def read(self, name: str) -> BreakerState:
        return self._states.get(name) or BreakerState()

    async def update(
        self, name: str, transition: Callable[[BreakerState], tuple[_R, BreakerState]]
    ) -> tuple[_R, BreakerState, BreakerState]:
        before = self._states.get(name) or BreakerState()
        result, after = transition(before)
        if after != before:
            if name not in self._states and len(self._states) >= self._max_entries:
                # Forget a closed breaker to make room; an open one is worth keeping.
                for other, state in self._states.items():
                    if state.state == "closed":
                        del self._states[other]
                        break
            self._states[name] = after
        return result, before, after

    async def close(self) -> None:
        self._states.clear()


def _encode(state: BreakerState) -> bytes:
    return orjson.dumps(dataclasses.astuple(state))


def _decode(raw: Any) -> BreakerState:
    if raw is None:
        return BreakerState()
    try:
        return BreakerState(*orjson.loads(raw))
    except (orjson.JSONDecodeError, TypeError):  # written by another version: start afresh
        return BreakerState()


class RedisBreakerStore:
    """Breaker states shared by every replica, as Redis hashes ``{prefix}breaker:{name}``."""

    def __init__(self, client: Any, *, prefix: str, owns_client: bool = True) -> None:
        self._client = client
        self._owns_client = owns_client
        self._prefix = prefix + "breaker:"
        script = resources.files("steadyllm.resilience").joinpath("lua/breaker_cas.lua")
        self._cas = client.register_script(script.read_text(encoding="utf-8"))

    async def _load(self, name: str) -> tuple[BreakerState, bytes]:
        raw, version = await self._client.hmget(self._prefix + name, ["state", "version"])
        return _decode(raw), version or b"0"

    async def read(self, name: str) -> BreakerState:
        return (await self._load(name))[0]

    async def update(
        self, name: str, transition: Callable[[BreakerState], tuple[_R, BreakerState]]
    ) -> tuple[_R, BreakerState, BreakerState]:
        key = self._prefix + name
        for _ in range(_CAS_TRIES):
            before, version = await self._load(name)
            result, after = transition(before)
            if after == before:
                return result, before, after
            written = await self._cas(keys=[key], args=[version, _encode(after), _STATE_TTL_MS])
            if written:
                return result, before, after
        # Heavy contention: act on our own view this once rather than stall the request.
        log.warning("breaker %s: state kept changing under us; not written this time", name)
        return result, before, after

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()
