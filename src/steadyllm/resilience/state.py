"""Where breaker state lives: in this process, or in Redis for every replica.

A :class:`BreakerStore` applies a pure transition (``steadyllm.policy.breaker``)
atomically. In memory nothing can interleave (no await between read and write). In
Redis the state is read, the transition computed here, and written back only if the
version is unchanged (``lua/breaker_cas.lua``); on a conflict the transition runs
again on the fresh state. Reads that change nothing (a closed breaker admitting a
request) write nothing.

With ``reuse_for`` (the gateway uses :data:`REUSE_FOR`, 0.2 s), :meth:`RedisBreakerStore.update`
starts from the state this replica last read or wrote, when that is at most ``reuse_for``
seconds old, instead of reading it again. :meth:`~RedisBreakerStore.read` always asks Redis
(the ``fallback`` stage reads each candidate's breaker before its attempt), so a closed
breaker costs one round trip per request, not three: the ``breaker`` stage's admission and
its result reuse that read. A write still goes through the compare-and-set, so a reused
state that another replica changed meanwhile is read again, never written over. What a
reused state can miss, for at most ``reuse_for``: that another replica opened the breaker
(an admission lets one more call through, as the same race allowed before) or counted
failures that this replica's success would have reset.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from importlib import resources
from typing import Any, Protocol, TypeVar

import orjson

from steadyllm.policy.breaker import BreakerState

__all__ = [
    "REUSE_FOR",
    "BreakerStore",
    "MemoryBreakerStore",
    "RedisBreakerStore",
    "Transition",
]

log = logging.getLogger("steadyllm.resilience")

_R = TypeVar("_R")
Transition = Callable[[BreakerState], tuple[_R, BreakerState]]

_CAS_TRIES = 64  # each conflict means another writer succeeded, so this bounds a burst
_STATE_TTL_MS = 24 * 3600 * 1000  # an untouched breaker is forgotten (closed) after a day
REUSE_FOR = 0.2  # seconds: how old a read may be for the gateway's updates to start from it
_MAX_RECENT = 10_000


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
    """Breaker states shared by every replica, as Redis hashes ``{prefix}breaker:{name}``.

    ``reuse_for`` > 0: :meth:`update` starts from this replica's last read or write of the
    breaker when it is at most that many seconds old (see the module's docstring).
    """

    def __init__(
        self,
        client: Any,
        *,
        prefix: str,
        owns_client: bool = True,
        reuse_for: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._owns_client = owns_client
        self._prefix = prefix + "breaker:"
        script = resources.files("steadyllm.resilience").joinpath("lua/breaker_cas.lua")
        self._cas = client.register_script(script.read_text(encoding="utf-8"))
        self._reuse_for = reuse_for
        self._monotonic = monotonic
        # name -> (state, version, when the read or write that saw it was sent)
        self._recent: dict[str, tuple[BreakerState, bytes, float]] = {}

    def _remember(self, name: str, state: BreakerState, version: bytes, sent: float) -> None:
        if self._reuse_for <= 0:
            return
        known = self._recent.get(name)
        if known is not None:
            if known[2] > sent:  # a later read or write already answered: keep it
                return
        elif len(self._recent) >= _MAX_RECENT:
            self._recent.pop(next(iter(self._recent)))
        self._recent[name] = (state, version, sent)

    def _reusable(self, name: str) -> tuple[BreakerState, bytes] | None:
        known = self._recent.get(name)
        if known is None or self._monotonic() - known[2] > self._reuse_for:
            return None
        return known[0], known[1]

    async def _load(self, name: str) -> tuple[BreakerState, bytes]:
        sent = self._monotonic()
        raw, version = await self._client.hmget(self._prefix + name, ["state", "version"])
        state, version = _decode(raw), version or b"0"
        self._remember(name, state, version, sent)
        return state, version

    async def read(self, name: str) -> BreakerState:
        return (await self._load(name))[0]

    async def update(
        self, name: str, transition: Callable[[BreakerState], tuple[_R, BreakerState]]
    ) -> tuple[_R, BreakerState, BreakerState]:
        key = self._prefix + name
        reused = self._reusable(name)
        for _ in range(_CAS_TRIES):
            if reused is not None:
                (before, version), reused = reused, None
            else:
                before, version = await self._load(name)
            result, after = transition(before)
            if after == before:
                return result, before, after
            sent = self._monotonic()
            written = await self._cas(keys=[key], args=[version, _encode(after), _STATE_TTL_MS])
            if written:
                self._remember(name, after, str(int(version) + 1).encode(), sent)
                return result, before, after
            self._recent.pop(name, None)  # another replica wrote first: read it afresh
        # Heavy contention: act on our own view this once rather than stall the request.
        log.warning("breaker %s: state kept changing under us; not written this time", name)
        return result, before, after

    async def close(self) -> None:
        self._recent.clear()
        if self._owns_client:
            await self._client.aclose()
