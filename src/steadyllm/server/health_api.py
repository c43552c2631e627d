"""Health probes and the reliability plan's health report.

``/health/live``: the process answers (never checks a dependency, so a slow
database cannot get the pod killed). ``/health/ready``: 503 while the gateway is
``unhealthy`` (a critical dependency down), 200 when healthy or degraded.
``/health/startup``: 200 once the gateway has started. The probes stay open when
an admin key is set; ``GET /api/reliability/health`` (admin) has the details.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from steadyllm.gateway import Gateway
from steadyllm.telemetry.health import HealthReport, iso

__all__ = ["HealthApi"]


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


class HealthApi:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/health/live", self.live),
            web.get("/health/ready", self.ready),
            web.get("/health/startup", self.startup),
            web.get("/api/reliability/health", self.reliability),
        ]

    async def live(self, request: web.Request) -> web.Response:
        return _json({"status": "alive", "timestamp": time.time()})

    async def startup(self, request: web.Request) -> web.Response:
        started = self.gateway.telemetry.started_at
        if started is None:
            return _json({"status": "starting"}, status=503)
        return _json({"status": "started", "startedAt": started})

    async def ready(self, request: web.Request) -> web.Response:
        report = await self.gateway.telemetry.health.report()
        body = {
            "status": "unready" if report.status == "unhealthy" else "ready",
            "health": report.status,
            "score": round(report.score, 4),
            "pendingRecords": self.gateway.records.pending,
            "failing": [c.name for c in report.checks if c.status != "healthy"],
        }
        return _json(body, status=503 if report.status == "unhealthy" else 200)

    async def reliability(self, request: web.Request) -> web.Response:
        fresh = request.query.get("fresh") == "true"
        report = await self.gateway.telemetry.health.report(fresh=fresh)
        return _json(health_body(self.gateway, report))


def health_body(gateway: Gateway, report: HealthReport) -> dict[str, Any]:
    """The reliability plan's shape: status, timestamp, uptime, memory, components."""
    process = report.process
    database = report.check("database")
    redis = report.check("redis")
    components: dict[str, Any] = {
        "database": _component(database, backend=gateway.settings.store.url.partition(":")[0]),
        "cache": _component(
            redis if redis is not None else database,
            backend="redis" if redis is not None else gateway.settings.store.url.partition(":")[0],
        ),
        "shadowDeployment": _shadow(gateway),
        "process": _component(report.check("process")),
    }
    if redis is not None:
        components["redis"] = _component(redis)
    providers = {
        c.name.removeprefix("provider:"): _component(c)
        for c in report.checks
        if c.name.startswith("provider:")
    }
    if providers:
        components["providers"] = providers
    return {
        "status": report.status,
        "score": round(report.score, 4),
        "timestamp": iso(report.checked_at),
        "uptime": round(time.time() - gateway.started_at, 3),
        "memory": process["memory"],
        "cpu": process["cpu"],
        "disk": process["disk"],
        "components": components,
        "checks": [c.to_json() for c in report.checks],
    }


def _component(check: Any, **extra: Any) -> dict[str, Any]:
    if check is None:
        return {"status": "unknown", **extra}
    body = check.to_json()
    del body["name"]
    return {**body, **extra}


def _shadow(gateway: Gateway) -> dict[str, Any]:
    samples = [s for s in gateway.telemetry.samples() if s.name.startswith("shadow_")]
    if not samples:
        return {"status": "not_configured"}
    active = [s.label_map for s in samples if s.name == "shadow_active" and s.value > 0]
    progress = [s.value for s in samples if s.name == "shadow_progress"]
    body: dict[str, Any] = {"status": "active" if active else "inactive"}
    if active:
        body["variants"] = active
    if progress:
        body["progress"] = max(progress)
    return body
