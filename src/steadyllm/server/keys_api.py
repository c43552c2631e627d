"""Admin routes for virtual keys and limits: ``/api/keys``, ``/api/limits/status``,
and ``/health/limits`` (unguarded, for probes).

The secret of a key is in the answer to ``POST /api/keys`` and nowhere else.
``DELETE /api/keys/{id}`` revokes: the key stays listed (``include_revoked=true``) so
its usage stays attributable, and it gets 401 from then on.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from steadyllm.errors import InvalidRequest
from steadyllm.gateway import Gateway

__all__ = ["KeysApi"]


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"We could not parse the JSON body of your request: {exc}.") from None


class KeysApi:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/keys", self.create),
            web.get("/api/keys", self.list),
            web.get("/api/keys/{key_id}", self.get),
            web.patch("/api/keys/{key_id}", self.update),
            web.delete("/api/keys/{key_id}", self.revoke),
            web.get("/api/limits/status", self.status),
            web.get("/health/limits", self.health),
        ]

    async def create(self, request: web.Request) -> web.Response:
        key, secret = await self.gateway.access.admin.create(await _body(request))
        return _json({**key.public(), "key": secret}, status=201)

    async def list(self, request: web.Request) -> web.Response:
        include = request.query.get("include_revoked", "false").lower() in ("1", "true", "yes")
        keys = await self.gateway.access.admin.list(
            tenant=request.query.get("tenant"), include_revoked=include
        )
        return _json({"object": "list", "data": [key.public() for key in keys]})

    async def get(self, request: web.Request) -> web.Response:
        key = await self.gateway.access.admin.get(request.match_info["key_id"])
        return _json(key.public())

    async def update(self, request: web.Request) -> web.Response:
        key_id = request.match_info["key_id"]
        key = await self.gateway.access.admin.update(key_id, await _body(request))
        return _json(key.public())

    async def revoke(self, request: web.Request) -> web.Response:
        key = await self.gateway.access.admin.revoke(request.match_info["key_id"])
        return _json(key.public())

    async def status(self, request: web.Request) -> web.Response:
        return _json(self.gateway.access.status())

    async def health(self, request: web.Request) -> web.Response:
        """503 only when limits are failing closed; degraded-but-open answers 200."""
        limits = self.gateway.access.limiter.status()
        failing_closed = limits["degraded"] and limits["on_counter_failure"] == "closed"
        body = {
            "status": "unavailable"
            if failing_closed
            else ("degraded" if limits["degraded"] else "ok"),
            "backend": limits["backend"],
            "degraded": limits["degraded"],
            "on_counter_failure": limits["on_counter_failure"],
        }
        return _json(body, status=503 if failing_closed else 200)
