"""``GET /api/slo`` (objectives, violations, trends) and ``GET /api/alerts``."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from steadyllm.gateway import Gateway

__all__ = ["SloApi"]


def _json(body: Any) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json")


class SloApi:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/slo", self.slo), web.get("/api/alerts", self.alerts)]

    async def slo(self, request: web.Request) -> web.Response:
        telemetry = self.gateway.telemetry
        report = telemetry.slo.report(telemetry.clock(), telemetry.health.process_stats())
        return _json(report)

    async def alerts(self, request: web.Request) -> web.Response:
        book = self.gateway.telemetry.alerts
        return _json(
            {
                "current": [alert.to_json() for alert in book.current()],
                "history": [alert.to_json() for alert in reversed(book.history)],
                "webhooks": len(self.gateway.telemetry.settings.alerts.webhooks),
            }
        )
