"""The web dashboard: ``/dashboard`` (a static page) and ``GET /api/dashboard`` (its data).

The page is plain HTML, CSS and JavaScript shipped in the package (no CDN: the
gateway may have no internet), with inline SVG charts; it polls
``/api/dashboard`` every few seconds. Both are admin-only when an admin key is
set: the edge guards ``/dashboard`` and ``/api/``; a browser signs in with HTTP
Basic auth (any user name, the admin key as password).
"""

from __future__ import annotations

import time
from importlib import resources
from typing import Any

import orjson
from aiohttp import web

from steadyllm.errors import NotFound
from steadyllm.gateway import Gateway
from steadyllm.telemetry.components import Sample
from steadyllm.telemetry.health import combine

__all__ = ["DashboardApi"]

_ASSETS = {
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
}
_SERIES_SECONDS = 3600
_STEP_SECONDS = 60
_BREAKER_STATES = {0: "closed", 1: "half-open", 2: "open"}
_DRIFT_SEVERITY = {0: "none", 1: "low", 2: "medium", 3: "high"}


def _asset(name: str) -> bytes:
    return resources.files("steadyllm.server").joinpath("static", name).read_bytes()


class DashboardApi:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self._page = _asset("dashboard.html")
        self._assets = {name: _asset(name) for name in _ASSETS}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/dashboard", self.page),
            web.get("/dashboard/static/{name}", self.asset),
            web.get("/api/dashboard", self.summary),
        ]

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self._page,
            content_type="text/html",
            charset="utf-8",
            headers={"cache-control": "no-store", "x-frame-options": "DENY"},
        )

    async def asset(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self._assets:
            raise NotFound(f"No dashboard asset {name!r}.")
        return web.Response(body=self._assets[name], content_type=_ASSETS[name], charset="utf-8")

    async def summary(self, request: web.Request) -> web.Response:
        return web.Response(
            body=orjson.dumps(dashboard_summary(self.gateway)), content_type="application/json"
        )


def dashboard_summary(gateway: Gateway) -> dict[str, Any]:
    """Everything the page shows, from memory only (no store query, no health probe)."""
    telemetry = gateway.telemetry
    now = telemetry.clock()
    stats = telemetry.stats
    samples = telemetry.samples()
    series = stats.series(now, _SERIES_SECONDS, _STEP_SECONDS)
    checks = telemetry.health.cached()
    score, status = combine(checks) if checks else (None, "unknown")
    objectives = [
        o.to_json()
        for o in telemetry.slo.evaluate(now)
        if o.window == min(telemetry.settings.slo.windows)
    ]
    return {
        "timestamp": now,
        "uptime": round(time.time() - gateway.started_at, 1),
        "inFlight": telemetry.in_flight,
        "last5m": stats.summary(now, 300).to_json(),
        "lastHour": stats.summary(now, 3600).to_json(),
        "costLastDay": round(stats.cost_last_day(now), 8),
        "series": {
            "step": _STEP_SECONDS,
            "points": [
                {
                    "t": point.end,
                    "requests": point.requests,
                    "failures": point.failures,
                    "p50": point.latency.quantile(0.5),
                    "p95": point.latency.quantile(0.95),
                    "p99": point.latency.quantile(0.99),
                    "cost": round(point.cost_usd, 8),
                    "cacheHitRate": point.cache_hit_rate,
                }
                for point in series
            ],
        },
        "models": [
            {"model": model, **stats.summary(now, 300, model).to_json()} for model in stats.models()
        ],
        "health": {
            "status": status,
            "score": score,
            "checks": [c.to_json() for c in checks],
        },
        "breakers": _breakers(samples),
        "shadow": _named(samples, "shadow_"),
        "experiments": _named(samples, "experiment"),
        "drift": _drift(samples),
        "alerts": [a.to_json() for a in telemetry.alerts.current()],
        "slo": {
            "objectives": objectives,
            "activeViolations": [v.to_json() for v in telemetry.slo.active()],
            "recentViolations": [v.to_json() for v in list(telemetry.slo.history)[-10:]],
        },
    }


def _breakers(samples: list[Sample]) -> list[dict[str, Any]] | None:
    rows = [s for s in samples if s.name == "breaker_state"]
    if not rows:
        return None  # no breaker stage: "not configured"
    return [
        {
            "deployment": s.label_map.get("deployment", ""),
            "state": _BREAKER_STATES.get(int(s.value), str(s.value)),
        }
        for s in rows
    ]


def _named(samples: list[Sample], prefix: str) -> list[dict[str, Any]] | None:
    rows = [s for s in samples if s.name.startswith(prefix)]
    if not rows:
        return None
    return [{"name": s.name, "labels": s.label_map, "value": s.value} for s in rows]


def _drift(samples: list[Sample]) -> list[dict[str, Any]] | None:
    rows = [s for s in samples if s.name.startswith("drift_")]
    if not rows:
        return None
    by_variant: dict[str, dict[str, Any]] = {}
    for s in rows:
        entry = by_variant.setdefault(s.label_map.get("variant", ""), {})
        if s.name == "drift_severity":
            entry["severity"] = _DRIFT_SEVERITY.get(int(s.value), str(s.value))
        elif s.name == "drift_detected":
            entry["detected"] = s.value > 0
        elif s.name == "drift_last_check_timestamp_seconds":
            entry["checkedAt"] = s.value
    return [{"variant": variant, **entry} for variant, entry in sorted(by_variant.items())]
