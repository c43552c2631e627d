"""Health: dependency checks, weighted into a score and a status.

Each check says ``healthy``, ``degraded`` or ``unhealthy`` and carries a weight and
whether it is critical. :func:`combine` (pure) turns them into a score (the
weighted share of health, a degraded check counting half) and a status: any
critical check unhealthy makes the gateway ``unhealthy``; otherwise a score of 1
is ``healthy``, at least 0.5 ``degraded``, below ``unhealthy``.

Checks: the record store (critical), Redis when ``store.redis_url`` is set
(not critical by default: limits and cache can run locally), the process
(memory and disk of the machine, via psutil), and, when
``telemetry.health.provider_checks`` is on, one minimal request per deployment
(``max_tokens: 1``; it costs tokens, hence opt-in and its own long interval).
Results are reused for ``cache_seconds``, so probes never hammer a dependency.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import psutil

from steadyllm.call import Call, Deployment
from steadyllm.telemetry.settings import HealthSettings

if TYPE_CHECKING:
    from steadyllm.gateway import Gateway

__all__ = ["CheckResult", "Health", "HealthReport", "Status", "combine"]

Status = Literal["healthy", "degraded", "unhealthy"]
_CREDIT: dict[Status, float] = {"healthy": 1.0, "degraded": 0.5, "unhealthy": 0.0}


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    status: Status
    critical: bool
    weight: float
    checked_at: float
    latency_ms: float | None = None
    detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "critical": self.critical,
            "weight": self.weight,
            "latencyMs": None if self.latency_ms is None else round(self.latency_ms, 3),
            "detail": self.detail,
            "checkedAt": self.checked_at,
        }


def combine(results: Sequence[CheckResult]) -> tuple[float, Status]:
    """The weighted score (0..1) and the overall status."""
    total = sum(r.weight for r in results)
    score = sum(r.weight * _CREDIT[r.status] for r in results) / total if total else 1.0
    if any(r.critical and r.status == "unhealthy" for r in results):
        return score, "unhealthy"
    if score >= 1.0 - 1e-9:
        return 1.0, "healthy"
    return score, "degraded" if score >= 0.5 else "unhealthy"


@dataclass(frozen=True, slots=True)
class HealthReport:
    status: Status
    score: float
    checks: tuple[CheckResult, ...]
    process: dict[str, Any]
    checked_at: float

    def check(self, name: str) -> CheckResult | None:
        for result in self.checks:
            if result.name == name:
                return result
        return None


Probe = Callable[[], Awaitable[tuple[Status, str | None]]]


class Health:
    """The gateway's dependency checks; ``report()`` runs what is due."""

    def __init__(self, settings: HealthSettings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._clock = clock
        self._gateway: Gateway | None = None
        self._results: dict[str, CheckResult] = {}
        self._lock = asyncio.Lock()
        self._process = psutil.Process(os.getpid())
        self._process.cpu_percent(None)  # the first reading only starts the interval

    def bind(self, gateway: Gateway) -> None:
        self._gateway = gateway

    async def report(self, *, fresh: bool = False) -> HealthReport:
        async with self._lock:
            now = self._clock()
            due = [
                (name, probe, critical, weight, interval)
                for name, probe, critical, weight, interval in self._checks()
                if fresh
                or name not in self._results
                or now - self._results[name].checked_at >= interval
            ]
            if due:
                results = await asyncio.gather(
                    *(
                        self._run(name, probe, critical, weight)
                        for name, probe, critical, weight, _ in due
                    )
                )
                for result in results:
                    self._results[result.name] = result
            names = {name for name, *_ in self._checks()}
            checks = tuple(self._results[name] for name in sorted(names))
            score, status = combine(checks)
            return HealthReport(status, score, checks, self.process_stats(), now)

    def cached(self) -> tuple[CheckResult, ...]:
        """The latest result of every check that has run (no new checks)."""
        names = {name for name, *_ in self._checks()}
        return tuple(self._results[name] for name in sorted(names) if name in self._results)

    def _checks(self) -> list[tuple[str, Probe, bool, float, float]]:
        s = self.settings
        gateway = self._gateway
        checks: list[tuple[str, Probe, bool, float, float]] = [
            ("process", self._check_process, False, s.process_weight, s.cache_seconds)
        ]
        if gateway is None:
            return checks
        checks.append(
            (
                "database",
                self._check_database,
                s.database_critical,
                s.database_weight,
                s.cache_seconds,
            )
        )
        redis_url = gateway.settings.store.redis_url
        if redis_url is not None:
            checks.append(
                (
                    "redis",
                    _redis_probe(redis_url, s.timeout),
                    s.redis_critical,
                    s.redis_weight,
                    s.cache_seconds,
                )
            )
        if s.provider_checks:
            for route in gateway.router.routes.values():
                for deployment in route.deployments:
                    checks.append(
                        (
                            f"provider:{deployment.name}",
                            _provider_probe(deployment, route.kind == "embeddings"),
                            s.provider_critical,
                            s.provider_weight,
                            s.provider_interval,
                        )
                    )
        return checks

    async def _run(self, name: str, probe: Probe, critical: bool, weight: float) -> CheckResult:
        timeout = (
            self.settings.provider_timeout
            if name.startswith("provider:")
            else self.settings.timeout
        )
        started = time.perf_counter()
        try:
            status, detail = await asyncio.wait_for(probe(), timeout)
        except TimeoutError:
            status, detail = "unhealthy", f"no answer within {timeout:g}s"
        except Exception as exc:
            status, detail = "unhealthy", f"{type(exc).__name__}: {exc}"[:300]
        latency = (time.perf_counter() - started) * 1000
        return CheckResult(name, status, critical, weight, self._clock(), latency, detail)

    async def _check_database(self) -> tuple[Status, str | None]:
        assert self._gateway is not None
        # An indexed lookup that finds nothing: proves the store answers, costs nothing.
        try:
            await self._gateway.stores.records.list_calls(request_id="steadyllm-health", limit=1)
        except Exception as exc:
            if not self._gateway.records.spool_usable:
                raise
            # Calls are still served and their records go to the disk spool: degraded,
            # so replicas stay ready (a whole fleet going unready at once would turn a
            # database outage into a gateway outage).
            return "degraded", f"{type(exc).__name__}: {exc}"[:200] + "; records spool to disk"
        return "healthy", None

    async def _check_process(self) -> tuple[Status, str | None]:
        stats = self.process_stats()
        problems = []
        if stats["memory"]["systemPercent"] > self.settings.max_memory_percent:
            problems.append(f"machine memory at {stats['memory']['systemPercent']:.0f}%")
        disk = stats["disk"]
        if disk is not None and disk["percent"] > self.settings.max_disk_percent:
            problems.append(f"disk {disk['path']} at {disk['percent']:.0f}%")
        return ("degraded", "; ".join(problems)) if problems else ("healthy", None)

    def process_stats(self) -> dict[str, Any]:
        """CPU, memory and disk of this process and machine (cheap /proc reads)."""
        process = self._process
        with process.oneshot():
            memory = process.memory_info()
            cpu = process.cpu_percent(None)
            threads = process.num_threads()
        try:
            usage = psutil.disk_usage(self.settings.disk_path)
            disk: dict[str, Any] | None = {
                "path": self.settings.disk_path,
                "percent": usage.percent,
                "free": usage.free,
                "total": usage.total,
            }
        except OSError:
            disk = None
        return {
            "cpu": {"percent": cpu, "threads": threads},
            "memory": {
                "rss": memory.rss,
                "vms": memory.vms,
                "percent": process.memory_percent(),
                "systemPercent": psutil.virtual_memory().percent,
            },
            "disk": disk,
        }


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


def _redis_probe(url: str, timeout: float) -> Probe:
    async def probe() -> tuple[Status, str | None]:
        from steadyllm.stores.redis import redis_client

        client = redis_client(url, max_connections=1, wait=timeout)
        try:
            await client.ping()
        finally:
            await client.aclose()
        return "healthy", None

    return probe


def _provider_probe(deployment: Deployment, embeddings: bool) -> Probe:
    async def probe() -> tuple[Status, str | None]:
        request_id = f"health_{uuid.uuid4().hex[:12]}"
        if embeddings:
            body: dict[str, Any] = {"model": deployment.model_group, "input": "ping"}
            call = Call(request_id=request_id, kind="embeddings", body=body)
            call.deployment = deployment
            await deployment.provider.embed(call, deployment)
        else:
            body = {
                "model": deployment.model_group,
                "messages": [{"role": "user", "content": "ping"}],
                "max_tokens": 1,
            }
            call = Call(request_id=request_id, kind="chat", body=body)
            call.deployment = deployment
            await deployment.provider.chat(call, deployment)
        return "healthy", None

    return probe
