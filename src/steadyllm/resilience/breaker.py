"""Circuit breakers by name: what the ``breaker`` stage uses, and what library users can.

::

    registry = BreakerRegistry()                      # memory; or a RedisBreakerStore
    payments = registry.get("payments", BreakerPolicy(failure_threshold=3))

    @payments
    async def charge(order): ...                      # as a decorator

    async with payments:                              # as an async context manager
        await call_the_flaky_thing()

An open breaker raises :class:`CircuitOpen` (a 503 with ``Retry-After``) without
running the guarded code. Which exceptions count as failures is the breaker's
``is_failure`` (by default: upstream 5xx, timeouts, resets, malformed and invalid
answers, and any exception that is not a :class:`~steadyllm.errors.GatewayError`;
never the caller's own 4xx). A cancelled call frees its probe slot and counts as
nothing.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from steadyllm.errors import GatewayError, UpstreamFailure
from steadyllm.policy import breaker as transitions
from steadyllm.policy.breaker import Admission, BreakerPolicy, BreakerState
from steadyllm.resilience.errors import CircuitOpen
from steadyllm.resilience.state import BreakerStore, MemoryBreakerStore

__all__ = ["BreakerRegistry", "BreakerTotals", "CircuitBreaker", "CircuitOpen", "is_failure"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


def is_failure(exc: BaseException) -> bool:
    """The default failure predicate."""
    if isinstance(exc, UpstreamFailure):
        return transitions.counts_as_failure(exc.kind, exc.upstream_status)
    if isinstance(exc, GatewayError):
        return exc.http_status >= 500 and not isinstance(exc, CircuitOpen)
    return isinstance(exc, Exception)


@dataclass(slots=True)
class BreakerTotals:
    """What this process saw of one breaker (the state itself may be shared)."""

    requests: int = 0
    rejected: int = 0
    successes: int = 0
    failures: int = 0
    opens: int = 0
    closes: int = 0

    def count(self, before: BreakerState, after: BreakerState) -> None:
        if after.state == "open" and before.state != "open":
            self.opens += 1
        elif after.state == "closed" and before.state != "closed":
            self.closes += 1


class CircuitBreaker:
    """One named breaker. Safe to share between tasks; state lives in ``store``."""

    def __init__(
        self,
        name: str,
        policy: BreakerPolicy,
        store: BreakerStore,
        *,
        clock: Callable[[], float] = time.time,
        is_failure: Callable[[BaseException], bool] = is_failure,
    ) -> None:
        self.name = name
        self.policy = policy
        self.totals = BreakerTotals()
        self._store = store
        self._clock = clock
        self._is_failure = is_failure
        self._entered: ContextVar[tuple[Admission, ...]] = ContextVar(f"breaker:{name}", default=())

    # --- the three steps of one guarded call ----------------------------------------------

    async def admit(self) -> Admission:
        """Let one call through, or raise :class:`CircuitOpen`."""
        now = self._clock()
        policy = self.policy
        admission, before, after = await self._store.update(
            self.name, lambda state: transitions.admit(state, policy, now)
        )
        self.totals.count(before, after)
        if not admission.allowed:
            self.totals.rejected += 1
            raise CircuitOpen(self.name, admission.retry_after)
        self.totals.requests += 1
        return admission

    async def record(self, admission: Admission, *, failed: bool) -> None:
        now = self._clock()
        policy = self.policy
        _, before, after = await self._store.update(
            self.name,
            lambda state: (None, transitions.record(state, policy, now, admission, failed=failed)),
        )
        if failed:
            self.totals.failures += 1
        else:
            self.totals.successes += 1
        self.totals.count(before, after)

    async def release(self, admission: Admission) -> None:
        """The call ended with no verdict (cancelled, or not the upstream's doing)."""
        if admission.probe:
            await self._store.update(
                self.name, lambda state: (None, transitions.release(state, admission))
            )

    async def settle(self, admission: Admission, error: BaseException | None) -> None:
        """Record how the call ended: no error, a counted failure, or no verdict."""
        if error is None:
            await self.record(admission, failed=False)
        elif isinstance(error, Exception) and self._is_failure(error):
            await self.record(admission, failed=True)
        elif isinstance(error, Exception) and not isinstance(error, CircuitOpen):
            await self.record(admission, failed=False)  # the caller's own error: upstream is fine
        else:
            await self.release(admission)

    async def state(self) -> BreakerState:
        return await self._store.read(self.name)

    async def available(self) -> tuple[bool, float]:
        """Whether a call would be let through now (without taking a probe slot), and if
        not, in how many seconds one might be."""
        state = await self._store.read(self.name)
        admission, _ = transitions.admit(state, self.policy, self._clock())
        return admission.allowed, admission.retry_after

    # --- conveniences for library users --------------------------------------------------

    async def call(
        self, function: Callable[_P, Awaitable[_T]], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T:
        admission = await self.admit()
        try:
            result = await function(*args, **kwargs)
        except BaseException as exc:
            await self.settle(admission, exc)
            raise
        await self.settle(admission, None)
        return result

    def __call__(self, function: Callable[_P, Awaitable[_T]]) -> Callable[_P, Awaitable[_T]]:
        @functools.wraps(function)
        async def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _T:
            return await self.call(function, *args, **kwargs)

        return guarded

    async def __aenter__(self) -> CircuitBreaker:
        admission = await self.admit()
        self._entered.set((*self._entered.get(), admission))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        entered = self._entered.get()
        admission = entered[-1]
        self._entered.set(entered[:-1])
        await self.settle(admission, exc)


class BreakerRegistry:
    """Breakers by name, created on first use with the registry's defaults."""

    def __init__(
        self,
        store: BreakerStore | None = None,
        *,
        policy: BreakerPolicy | None = None,
        clock: Callable[[], float] = time.time,
        max_breakers: int = 10_000,
    ) -> None:
        self.store: BreakerStore = store if store is not None else MemoryBreakerStore()
        self.policy = policy or BreakerPolicy()
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}
        self._max = max_breakers

    def get(self, name: str, policy: BreakerPolicy | None = None, **options: Any) -> CircuitBreaker:
        """The breaker called ``name``; ``policy`` and ``options`` apply when it is created."""
        breaker = self._breakers.get(name)
        if breaker is None:
            if len(self._breakers) >= self._max:
                raise ValueError(f"too many circuit breakers (at most {self._max})")
            breaker = CircuitBreaker(
                name, policy or self.policy, self.store, clock=self._clock, **options
            )
            self._breakers[name] = breaker
        return breaker

    def __contains__(self, name: str) -> bool:
        return name in self._breakers

    def names(self) -> list[str]:
        return list(self._breakers)

    async def close(self) -> None:
        await self.store.close()
