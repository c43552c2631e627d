"""``GET /api/reliability/metrics``: retry and circuit breaker figures.

Other ``/api/reliability/*`` routes live in their own modules.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from steadyllm.gateway import Gateway

__all__ = ["ReliabilityMetricsApi"]


class ReliabilityMetricsApi:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/reliability/metrics", self.metrics)]

    async def metrics(self, request: web.Request) -> web.Response:
        """``retryPolicy`` totals and ``circuitBreakers`` by deployment (this replica's
        counts; breaker state is shared when Redis is configured)."""
        body = await self.gateway.resilience.metrics()
        return web.Response(body=orjson.dumps(body), content_type="application/json")
