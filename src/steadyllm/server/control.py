"""The control plane: the gateway's own records (health probes: ``health_api``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import orjson
from aiohttp import web

from steadyllm.errors import InvalidRequest
from steadyllm.gateway import Gateway

__all__ = ["ControlPlane"]


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _float_param(request: web.Request, name: str) -> float | None:
    value = request.query.get(name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise InvalidRequest(f"'{name}' must be a number (epoch seconds).", param=name) from None


class ControlPlane:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/calls", self.calls),
        ]

    async def calls(self, request: web.Request) -> web.Response:
        """Call records, oldest first: ``since``/``until`` (epoch s), ``request_id``, ``limit``."""
        limit_text = request.query.get("limit", "100")
        if not limit_text.isdigit() or not 0 < int(limit_text) <= 10_000:
            raise InvalidRequest("'limit' must be an integer from 1 to 10000.", param="limit")
        if request.query.get("flush") == "true":
            await self.gateway.records.flush()
        records = await self.gateway.stores.records.list_calls(
            since=_float_param(request, "since"),
            until=_float_param(request, "until"),
            tenant=request.query.get("tenant"),
            request_id=request.query.get("request_id"),
            limit=int(limit_text),
        )
        return _json({"object": "list", "data": [asdict(r) for r in records]})
