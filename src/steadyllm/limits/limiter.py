"""The limiter: a call's rules taken before it runs and settled after, on the shared
store when there is one, and what to do when that store is unreachable.

With Redis down, ``on_counter_failure: open`` keeps answering with this process's
own counters (each replica then enforces the limits alone, so N replicas allow up to
N times them) and ``closed`` refuses calls with 503. Either way ``degraded`` is set
until Redis answers again (tried again after ``RETRY_INTERVAL`` seconds, by
:class:`~steadyllm.shared_state.SharedState`), and
``status()`` shows it for health checks and metrics.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from steadyllm.alerts.budget import BudgetAlerts
from steadyllm.errors import RateLimited, ServiceUnavailable
from steadyllm.keys.settings import AccessSettings
from steadyllm.limits.rules import Rule
from steadyllm.limits.store import Granted, LimitStore, MemoryLimitStore, Outcome, Settlement
from steadyllm.shared_state import RETRY_INTERVAL, SharedState

__all__ = ["Limiter", "Ticket"]

log = logging.getLogger("steadyllm.limits")

_LEASE_RETRY = 1.0  # Retry-After when every concurrency slot is taken

_UNITS = {
    "requests_per_minute": "requests per minute",
    "requests_per_hour": "requests per hour",
    "requests_per_day": "requests per day",
    "tokens_per_minute": "tokens per minute",
}
_SCOPES = {"key": "key", "user": "user", "anonymous": "caller", "global": "gateway"}
_CODES = {
    "tokens_per_minute": "token_limit_exceeded",
    "budget_per_day": "budget_exceeded",
    "max_concurrent": "concurrency_limit_exceeded",
}


@dataclass(slots=True)
class Ticket:
    """What one call took; handed back to ``settle`` when it ends."""

    rules: Sequence[Rule]
    granted: tuple[Granted, ...]
    member: str
    store: LimitStore
    settled: bool = False

    def headers(self) -> dict[str, str]:
        """``X-RateLimit-*`` for the request limit with the least room left."""
        best: tuple[Rule, Granted] | None = None
        for rule, grant in zip(self.rules, self.granted, strict=True):
            counts_requests = rule.kind == "sliding" and rule.name.startswith("requests_")
            if counts_requests and (best is None or grant.remaining < best[1].remaining):
                best = (rule, grant)
        if best is None:
            return {}
        rule, grant = best
        return {
            "x-ratelimit-limit": f"{rule.limit:g}",
            "x-ratelimit-remaining": str(max(0, math.floor(grant.remaining + 1e-9))),
            "x-ratelimit-reset": str(max(1, math.ceil(grant.reset_ms / 1000))),
        }


class Limiter:
    def __init__(
        self,
        settings: AccessSettings,
        shared: LimitStore | None,
        *,
        alerts: BudgetAlerts | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._shared = shared
        self._local = MemoryLimitStore(clock=clock)
        self._alerts = alerts
        self.backend = "memory" if shared is None else "redis"
        mode = settings.on_counter_failure
        self._state = SharedState(
            "limit store",
            when_down=f"failing {mode} ("
            + ("local limits per replica" if mode == "open" else "calls refused with 503")
            + ")",
            log=log,
            monotonic=monotonic,
        )
        self.settle_failures = 0
        self.granted = 0
        self.refusals: Counter[tuple[str, str]] = Counter()  # (rule name, scope): bounded

    @property
    def degraded(self) -> bool:
        """The shared store failed and has not answered since."""
        return self._state.degraded

    @property
    def counter_failures(self) -> int:
        return self._state.failures

    def status(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "degraded": self.degraded,
            "on_counter_failure": self._settings.on_counter_failure,
            "counter_failures": self.counter_failures,
            "settle_failures": self.settle_failures,
            "granted": self.granted,
            "refusals": [
                {"limit": name, "scope": scope, "count": count}
                for (name, scope), count in sorted(self.refusals.items())
            ],
        }

    # --- taking -----------------------------------------------------------------------

    async def acquire(self, rules: Sequence[Rule], member: str) -> Ticket:
        """Take ``rules`` for one call, or raise ``RateLimited`` (or ``ServiceUnavailable``
        when the shared store is down and the config says fail closed)."""
        store, outcome = await self._acquire(rules, member)
        if not outcome.granted:
            self._refuse(rules, outcome)
        self.granted += 1
        return Ticket(rules, outcome.rules, member, store)

    async def _acquire(self, rules: Sequence[Rule], member: str) -> tuple[LimitStore, Outcome]:
        shared = self._shared
        if shared is not None and not self._state.local_only():
            try:
                outcome = await shared.acquire(rules, member)
            except Exception as exc:
                self._state.failed(exc)
            else:
                self._state.answered()
                return shared, outcome
        if shared is not None and self._settings.on_counter_failure == "closed":
            raise ServiceUnavailable(
                "Limits cannot be checked right now (their store is unreachable).",
                retry_after=RETRY_INTERVAL,
                code="limits_unavailable",
            )
        return self._local, await self._local.acquire(rules, member)

    def _refuse(self, rules: Sequence[Rule], outcome: Outcome) -> None:
        rule = rules[outcome.refused]
        self.refusals[(rule.name, rule.scope)] += 1
        scope = _SCOPES.get(rule.scope, rule.scope)
        if rule.kind == "sliding":
            wait = (
                outcome.retry_after_ms / 1000 if outcome.retry_after_ms is not None else rule.window
            )
        elif rule.kind == "fixed":
            wait = rule.period_ends_in or rule.window
        else:
            wait = _LEASE_RETRY
        if rule.name == "budget_per_day":
            amount = f"{rule.limit:.2f}" if rule.limit >= 1 else f"{rule.limit:.6g}"
            message = (
                f"The daily budget of ${amount} for this {scope} is used up; "
                "it resets at 00:00 UTC."
            )
            if self._alerts is not None:
                self._alerts.budget_exceeded(rule, None)
        elif rule.name == "max_concurrent":
            message = f"Too many requests in flight (at most {rule.limit:g} at once)."
        elif outcome.retry_after_ms is None:
            message = (
                f"This request needs {rule.amount:g} {_UNITS[rule.name]}, more than the "
                f"{scope} limit of {rule.limit:g} allows at all."
            )
        else:
            message = (
                f"Rate limit reached for this {scope}: {rule.limit:g} "
                f"{_UNITS[rule.name]}. Try again in {max(1, math.ceil(wait))} s."
            )
        headers = {
            "x-ratelimit-limit": f"{rule.limit:g}",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(max(1, math.ceil(wait))),
        }
        raise RateLimited(
            message,
            retry_after=wait,
            code=_CODES.get(rule.name, "rate_limit_exceeded"),
            headers=headers,
        )

    # --- settling ---------------------------------------------------------------------

    async def settle(self, ticket: Ticket, *, tokens: int, cost: float) -> None:
        """Add what the call really used (``tokens``, ``cost`` in USD) in place of its
        estimate, and give its concurrency slot back. Never raises."""
        if ticket.settled:
            return
        ticket.settled = True
        settlements: list[Settlement] = []
        for rule, grant in zip(ticket.rules, ticket.granted, strict=True):
            if rule.settles == "tokens":
                delta = tokens - rule.amount
            elif rule.settles == "cost":
                delta = cost - rule.amount
            elif rule.settles == "release":
                delta = 0.0
            else:
                continue
            if rule.settles != "release" and delta == 0:
                continue
            settlements.append(Settlement(rule, grant.slot, delta))
        if self._alerts is not None and cost > 0:
            self._alerts.spent(cost)
        if not settlements:
            return
        try:
            totals = await ticket.store.settle(settlements, ticket.member)
        except Exception as exc:
            self.settle_failures += 1
            log.error(
                "settling limits of %s failed: %s: %s", ticket.member, type(exc).__name__, exc
            )
            return
        if self._alerts is None:
            return
        for item, total in zip(settlements, totals, strict=True):
            rule = item.rule
            if rule.name == "budget_per_day" and not total < rule.limit * (1 - 1e-9):
                self._alerts.budget_exceeded(rule, total)

    async def close(self) -> None:
        if self._shared is not None:
            await self._shared.close()
        await self._local.close()
