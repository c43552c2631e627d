"""The telemetry hub: one :class:`Telemetry` per gateway, built with it.

It is the record stage's observer (``begin`` when a call enters, ``finish`` with
its call record), so every request metric derives from the record every call
already produces; it wraps
the pipeline with spans only when tracing is on; its background task evaluates
SLOs and alert rules every ``telemetry.alerts.interval`` seconds and sends
webhooks. Component state (breakers, cache, shadow, drift...) is pulled at scrape
time from ``sources`` (see :mod:`steadyllm.telemetry.components`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
from prometheus_client.core import CounterMetricFamily, Metric

from steadyllm.call import Call, Response
from steadyllm.config import ConfigError, Settings
from steadyllm.pipeline import Handler
from steadyllm.stores.base import CallRecord
from steadyllm.telemetry.alerts import AlertBook, conditions, webhook_payload
from steadyllm.telemetry.components import Sample, read_samples
from steadyllm.telemetry.health import Health, combine
from steadyllm.telemetry.logs import RequestLog, gather_answer, install_json_logs
from steadyllm.telemetry.metrics import (
    CACHE_HITS,
    GatewayMetrics,
    ScrapeCollector,
    component_families,
    gauge,
    is_failure,
)
from steadyllm.telemetry.settings import TelemetrySettings
from steadyllm.telemetry.slo import SloTracker
from steadyllm.telemetry.window import CallOutcome, RollingStats

if TYPE_CHECKING:
    from steadyllm.gateway import Gateway
    from steadyllm.telemetry.tracing import Tracing

__all__ = ["Telemetry"]

log = logging.getLogger("steadyllm.telemetry")

StageWrapper = Callable[[str, Handler], Handler]
_STATUS_CODE = {"healthy": 0, "degraded": 1, "unhealthy": 2}


class Telemetry:
    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        t = settings.telemetry
        self.settings = t
        self.clock = clock
        self.model_names = [model.name for model in settings.models]
        self.metrics = GatewayMetrics(self.model_names, max_variants=t.metrics.max_variants)
        self.stats = RollingStats()
        self.slo = SloTracker(t.slo, self.stats, self.model_names)
        self.alerts = AlertBook(repeat_interval=t.alerts.repeat_interval)
        self.health = Health(t.health, clock=clock)
        self.tracing: Tracing | None = _tracing(t) if t.tracing.enabled else None
        log_requests = t.logs.format == "json" if t.logs.requests is None else t.logs.requests
        self.request_log = (
            RequestLog(include_content=t.logs.include_content) if log_requests else None
        )
        self.in_flight = 0  # calls between the record stage's begin and finish
        self.metrics.in_flight.set_function(lambda: self.in_flight)
        self.sources: list[object] = []  # read at scrape time for telemetry_snapshot()
        self.started_at: float | None = None
        self.webhook_failures = 0
        self._writer: object = None
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self.metrics.add_collector(ScrapeCollector(self._scrape))

    # --- the record stage's observer ----------------------------------------------------

    def begin(self, call: Call) -> None:
        self.in_flight += 1

    def finish(self, call: Call, response: Response | None, record: CallRecord) -> None:
        self.in_flight -= 1
        self.metrics.observe(record)
        cache = record.cache_status
        self.stats.add(
            self.clock(),
            self.metrics.model_label(record.model),
            CallOutcome(
                failed=is_failure(record),
                latency_ms=record.latency_ms,
                ttft_ms=record.ttft_ms,
                rate_limited=record.error_type == "rate_limit_error",
                cache="hit" if cache in CACHE_HITS else "miss" if cache == "miss" else None,
                cost_usd=record.cost_usd or 0.0,
            ),
        )
        if self.request_log is not None:
            self.request_log.write(call, response, record)

    def abandon(self, call: Call) -> None:
        self.in_flight -= 1

    # --- the request path, wrapped once when it is folded --------------------------------

    @property
    def stage_wrapper(self) -> StageWrapper | None:
        """The per-stage span wrapper for ``fold``; ``None`` (no wrapping) without tracing."""
        return self.tracing.wrap_stage if self.tracing is not None else None

    def wrap_handler(self, handler: Handler) -> Handler:
        """The folded pipeline, inside the request span and content gathering if on."""
        if self.request_log is not None and self.settings.logs.include_content:
            inner = handler

            async def gathering(call: Call) -> Response:
                response = await inner(call)
                gather_answer(call, response)
                return response

            handler = gathering
        if self.tracing is not None:
            handler = self.tracing.wrap_request(handler)
        return handler

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self, gateway: Gateway, stages: Sequence[object]) -> None:
        stores = gateway.stores
        self._writer = gateway.records
        # Stages, stores and every component the gateway holds: those with a
        # telemetry_snapshot() method are read at scrape time.
        self.sources = [
            *stages,
            stores.counters,
            stores.cache,
            stores.records,
            *vars(gateway).values(),
        ]
        self.health.bind(gateway)
        if self.settings.logs.format == "json":
            install_json_logs()
        if self.settings.alerts.enabled and self._task is None:
            self._task = asyncio.create_task(self._run(), name="steadyllm-telemetry")
        self.started_at = self.clock()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self.tracing is not None:
            await asyncio.to_thread(self.tracing.shutdown)  # flushes spans over the network
        self.started_at = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.alerts.interval)
            try:
                await self.evaluate()
            except Exception:
                log.exception("evaluating SLOs and alerts failed")

    async def evaluate(self) -> None:
        """One round: SLO violations, alert states, and the webhooks that are due."""
        now = self.clock()
        self.slo.update(now, self.health.process_stats())
        if not self.settings.alerts.enabled:
            return
        holding = conditions(
            now, self.stats, self.stats.models(), self.samples(), self.settings.alerts
        )
        due = self.alerts.update(now, holding)
        if due and self.settings.alerts.webhooks:
            await self._send(webhook_payload(due))

    async def _send(self, payload: dict[str, Any]) -> None:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self.settings.alerts.webhook_timeout)
            self._session = aiohttp.ClientSession(timeout=timeout)
        for url in self.settings.alerts.webhooks:
            try:
                async with self._session.post(url, json=payload) as response:
                    if response.status >= 300:
                        raise RuntimeError(f"status {response.status}")
            except Exception as exc:
                self.webhook_failures += 1
                log.error("alert webhook %s failed: %s", url, exc)

    # --- reading ----------------------------------------------------------------------------

    def samples(self) -> list[Sample]:
        """Every component's ``telemetry_snapshot()`` now."""
        return read_samples(self.sources)

    def _scrape(self) -> Iterator[Metric]:
        now = self.clock()
        yield from component_families(self.samples())
        yield gauge(
            "cache_hit_ratio",
            "Cache hits over hits and misses in the last 5 minutes, by model.",
            (
                ({"model": model}, rate)
                for model in self.stats.models()
                if (rate := self.stats.summary(now, 300, model).cache_hit_rate) is not None
            ),
        )
        writer = self._writer
        if writer is not None:
            for name, help_text in (
                ("records_written", "Call records written to the store."),
                (
                    "records_dropped",
                    "Call records dropped: buffer full, disk spool off or unwritable.",
                ),
                ("records_rejected", "Call records the store refused, set aside and logged."),
            ):
                value = float(getattr(writer, name.removeprefix("records_"), 0))
                yield CounterMetricFamily(f"steadyllm_{name}", help_text, value=value)
            yield gauge(
                "records_pending",
                "Call records waiting to be written.",
                [({}, float(getattr(writer, "pending", 0)))],
            )
        checks = self.health.cached()
        if checks:
            score, status = combine(checks)
            yield gauge(
                "health_score", "Weighted health of the dependencies (0..1).", [({}, score)]
            )
            yield gauge(
                "health_status",
                "Overall health: 0 healthy, 1 degraded, 2 unhealthy.",
                [({}, float(_STATUS_CODE[status]))],
            )
            yield gauge(
                "dependency_healthy",
                "1 healthy, 0.5 degraded, 0 unhealthy, by health check.",
                (
                    ({"check": c.name}, {"healthy": 1.0, "degraded": 0.5}.get(c.status, 0.0))
                    for c in checks
                ),
            )
        yield gauge(
            "alerts_firing",
            "Alerts firing now, by rule.",
            (({"alertname": a.rule}, 1.0) for a in self.alerts.firing()),
        )
        yield gauge(
            "slo_violations_active",
            "SLO objectives violated now.",
            [({}, float(len(self.slo.active())))],
        )
        yield CounterMetricFamily(
            "steadyllm_alert_webhook_failures",
            "Alert webhook deliveries that failed.",
            value=float(self.webhook_failures),
        )


def _tracing(settings: TelemetrySettings) -> Tracing:
    try:
        from steadyllm.telemetry.tracing import Tracing
    except ImportError as exc:
        raise ConfigError(
            f"telemetry.tracing.enabled needs OpenTelemetry: pip install 'steadyllm[otel]' ({exc})"
        ) from None
    return Tracing(settings.tracing)
