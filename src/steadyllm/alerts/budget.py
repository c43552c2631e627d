"""Budget alerts: a user or the system over its daily budget, an hourly cost spike.

The request path only notes what happened (``budget_exceeded``, ``spent``: no I/O);
one background task deduplicates, logs, counts and POSTs each alert as JSON to every
configured webhook. An event alerts once per period (a user's budget once per day,
a spike once per hour) across replicas: the first replica to count the event in the
shared counters sends it. The queue is bounded; past it an alert is dropped and
counted.

Hourly cost for spikes is kept only when webhooks are configured; it is added up
locally and flushed to the shared counters every ``_FLUSH_SECONDS``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
import orjson

from steadyllm.keys.settings import AlertSettings
from steadyllm.limits.rules import Rule
from steadyllm.policy.rate_window import day_period, hour_period
from steadyllm.policy.spend_spike import is_spike, usual_level
from steadyllm.stores.base import CounterStore

__all__ = ["Alert", "BudgetAlerts"]

log = logging.getLogger("steadyllm.alerts")

_FLUSH_SECONDS = 5.0
_HOUR = 3600.0
_LOCAL_DEDUP = 10_000  # events remembered locally (the shared counters hold the rest)


@dataclass(frozen=True, slots=True)
class Alert:
    event: str  # user_budget_exceeded | system_budget_exceeded | cost_spike
    subject: str  # the user (tenant/user), "global", or the hour
    period: str  # the day (YYYYMMDD) or hour (YYYYMMDDHH) it is about
    amount_usd: float | None  # spend so far, when known
    threshold_usd: float
    at: float

    @property
    def dedup_key(self) -> str:
        return f"alert:{self.event}:{self.subject}:{self.period}"


class BudgetAlerts:
    def __init__(
        self,
        settings: AlertSettings,
        counters: CounterStore,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,  # between delivery attempts
    ) -> None:
        self._settings = settings
        self._sleep = sleep
        self._counters = counters
        self._clock = clock
        # Bounded by _raise (queue_size); unbounded here so stop's None always fits.
        self._queue: asyncio.Queue[Alert | None] = asyncio.Queue()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._track_spend = bool(settings.webhooks)
        self._pending_spend = 0.0
        self._baseline: tuple[str, list[float]] | None = None  # (hour, the hours before)
        self.raised: Counter[str] = Counter()  # by event: bounded by the three events
        self.sent = 0
        self.failed = 0
        self.dropped = 0

    def status(self) -> dict[str, Any]:
        return {
            "webhooks": len(self._settings.webhooks),
            "raised": dict(self.raised),
            "sent": self.sent,
            "failed": self.failed,
            "dropped": self.dropped,
            "queued": self._queue.qsize(),
        }

    # --- the request path: note, never wait ---------------------------------------------

    def budget_exceeded(self, rule: Rule, spend: float | None) -> None:
        """``rule`` (a daily budget) refused a call, or a settle took it to its limit."""
        day, _ = day_period(self._clock())
        if rule.scope == "global":
            self._raise(
                Alert("system_budget_exceeded", "global", day, spend, rule.limit, self._clock())
            )
            return
        # The key is "usd:<subject>:<day>"; the subject is the user it belongs to.
        subject = rule.key.split(":", 1)[1].rsplit(":", 1)[0]
        self._raise(Alert("user_budget_exceeded", subject, day, spend, rule.limit, self._clock()))

    def spent(self, cost: float) -> None:
        if self._track_spend:
            self._pending_spend += cost

    def _raise(self, alert: Alert) -> None:
        if alert.dedup_key in self._seen:
            return
        self._seen[alert.dedup_key] = None
        if len(self._seen) > _LOCAL_DEDUP:
            self._seen.popitem(last=False)
        if self._queue.qsize() >= self._settings.queue_size:
            self.dropped += 1
            log.error("alert queue full (%d): dropped %s", self._settings.queue_size, alert)
            return
        self._queue.put_nowait(alert)

    # --- the background task --------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="steadyllm-budget-alerts")

    async def stop(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (up to ``timeout`` seconds), then stop."""
        if self._task is not None:
            self._queue.put_nowait(None)  # after everything queued before it
            try:
                await asyncio.wait_for(self._task, timeout)
            except TimeoutError:
                log.error("stopped with %d alerts undelivered", self._queue.qsize())
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        while True:
            try:
                alert = await asyncio.wait_for(self._queue.get(), _FLUSH_SECONDS)
            except TimeoutError:
                await self._flush_spend()
                continue
            if alert is None:
                await self._flush_spend()
                while not self._queue.empty():  # a spike found by that last flush
                    last = self._queue.get_nowait()
                    if last is not None:
                        await self._handle(last)
                return
            await self._handle(alert)

    async def _flush_spend(self) -> None:
        amount, self._pending_spend = self._pending_spend, 0.0
        if amount <= 0:
            return
        now = self._clock()
        hour = hour_period(now)
        try:
            total = await self._counters.incr(f"spend:hour:{hour}", amount, ttl=8 * 24 * _HOUR)
            previous = await self._previous_hours(hour, now)
        except Exception as exc:
            self._pending_spend += amount  # keep it for the next flush
            log.warning("cannot update hourly spend: %s: %s", type(exc).__name__, exc)
            return
        factor, floor = self._settings.spike_factor, self._settings.spike_min_usd
        if is_spike(total, previous, factor=factor, floor=floor):
            threshold = factor * usual_level(previous, floor)
            self._raise(Alert("cost_spike", "global", hour, total, threshold, now))

    async def _previous_hours(self, hour: str, now: float) -> list[float]:
        """The cost of each hour before ``hour``: read once per hour."""
        if self._baseline is not None and self._baseline[0] == hour:
            return self._baseline[1]
        hours = self._settings.spike_baseline_hours
        previous = [
            await self._counters.get(f"spend:hour:{hour_period(now, back)}")
            for back in range(1, hours + 1)
        ]
        self._baseline = (hour, previous)
        return previous

    async def _handle(self, alert: Alert) -> None:
        ttl = 2 * _HOUR if alert.event == "cost_spike" else 2 * 86_400.0
        try:
            first = await self._counters.incr(alert.dedup_key, 1, ttl=ttl) == 1
        except Exception as exc:  # shared counters down: this replica's memory decides
            log.warning("alert dedup unavailable (%s); sending from this replica", exc)
            first = True
        if not first:
            return
        self.raised[alert.event] += 1
        log.warning(
            "budget alert %s: %s over %s (spend %s, threshold $%.2f)",
            alert.event,
            alert.subject,
            alert.period,
            "unknown" if alert.amount_usd is None else f"${alert.amount_usd:.4f}",
            alert.threshold_usd,
        )
        for url in self._settings.webhooks:
            await self._deliver(url, alert)

    async def _deliver(self, url: str, alert: Alert) -> None:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self._settings.timeout)
            self._session = aiohttp.ClientSession(timeout=timeout)
        body = orjson.dumps({"type": "steadyllm.budget_alert", **asdict(alert)})
        headers = {"content-type": "application/json"}
        problem = ""
        for attempt in range(self._settings.attempts):
            if attempt:
                await self._sleep(min(0.5 * 2 ** (attempt - 1), 5.0))
            try:
                async with self._session.post(url, data=body, headers=headers) as response:
                    if response.status < 300:
                        self.sent += 1
                        return
                    problem = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
        self.failed += 1
        log.error("alert %s not delivered to %s: %s", alert.event, url, problem)
