"""``GET /api/usage``: requests, tokens and cost over a date range, as JSON or CSV.

Query: ``start``, ``end`` (``YYYY-MM-DD``, UTC, inclusive; default the last 30 days),
``group_by`` (comma-separated: day, tenant, key, user, model, deployment, variant,
project_id, agent_type), a filter per dimension (``model=fast``), and
``format=json|csv`` (or ``Accept: text/csv``).
"""

from __future__ import annotations

import orjson
from aiohttp import web

from steadyllm.errors import InvalidRequest
from steadyllm.gateway import Gateway
from steadyllm.usage import parse_query, render_csv, render_json

__all__ = ["UsageApi"]


class UsageApi:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/usage", self.usage)]

    async def usage(self, request: web.Request) -> web.Response:
        query = parse_query(request.query)
        wanted = request.query.get("format")
        if wanted is None:
            wanted = "csv" if "text/csv" in request.headers.get("accept", "") else "json"
        if wanted not in ("json", "csv"):
            raise InvalidRequest("'format' must be json or csv.", param="format")
        if request.query.get("flush") == "true":
            await self.gateway.records.flush()
        rows = await self.gateway.access.usage.report(query)
        if wanted == "csv":
            return web.Response(
                text=render_csv(query, rows),
                content_type="text/csv",
                headers={"content-disposition": 'attachment; filename="usage.csv"'},
            )
        return web.Response(
            body=orjson.dumps(render_json(query, rows)), content_type="application/json"
        )
