"""``GET /metrics``: the gateway's Prometheus metrics (text exposition format).

Admin-guarded at the edge when an admin key is set, unless
``telemetry.metrics.public`` is on: the metrics name models, deployments and costs,
which is why a scrape needs the key by default (Prometheus sends it with
``authorization: {credentials: <admin key>}`` in its scrape config).
"""

from __future__ import annotations

from aiohttp import web

from steadyllm.gateway import Gateway
from steadyllm.telemetry.metrics import CONTENT_TYPE

__all__ = ["MetricsApi"]


class MetricsApi:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/metrics", self.metrics)]

    async def metrics(self, request: web.Request) -> web.Response:
        body = self.gateway.telemetry.metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
