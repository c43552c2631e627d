"""Whether to use a shared store (Redis) now, or this process's own state.

Limits, breakers and the retry budget keep their state in Redis when it is
configured. When a command fails, the process goes on with its own in-memory state
(or, for limits with ``on_counter_failure: closed``, refuses calls) and tries Redis
again after ``retry_interval`` seconds; the first failure of an outage and the
recovery are logged once each, and :meth:`SharedState.status` shows the rest.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["RETRY_INTERVAL", "SharedState"]

_T = TypeVar("_T")
RETRY_INTERVAL = 1.0  # seconds between attempts to reach a failed shared store


class SharedState:
    """The health of one shared store, as the stores using it see it.

    ``what`` names the store in the log ("limit store"); ``when_down`` says what the
    process does meanwhile ("failing open: local limits per replica").
    """

    def __init__(
        self,
        what: str,
        *,
        when_down: str,
        log: logging.Logger,
        retry_interval: float = RETRY_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.degraded = False
        self.failures = 0
        self._what = what
        self._when_down = when_down
        self._log = log
        self._retry_interval = retry_interval
        self._retry_at = 0.0
        self._monotonic = monotonic

    def local_only(self) -> bool:
        """Whether the shared store failed less than an interval ago (so use local state)."""
        return self.degraded and self._monotonic() < self._retry_at

    def failed(self, exc: BaseException) -> None:
        """A command to the shared store failed (here, or in a background send)."""
        self.failures += 1
        self._retry_at = self._monotonic() + self._retry_interval
        if not self.degraded:
            self.degraded = True
            self._log.error(
                "%s unreachable (%s: %s): %s", self._what, type(exc).__name__, exc, self._when_down
            )

    def answered(self) -> None:
        """A command to the shared store succeeded."""
        if self.degraded:
            self.degraded = False
            self._log.warning("%s reachable again: state is shared across replicas", self._what)

    async def run(
        self, shared: Callable[[], Awaitable[_T]], local: Callable[[], Awaitable[_T]]
    ) -> _T:
        """``shared()``, or ``local()`` when it fails or failed less than an interval ago."""
        if self.local_only():
            return await local()
        try:
            result = await shared()
        except Exception as exc:  # any Redis error: connection, timeout, reply
            self.failed(exc)
            return await local()
        self.answered()
        return result

    def status(self) -> dict[str, Any]:
        return {"degraded": self.degraded, "failures": self.failures}
