"""Control-plane routes of the response cache, paths as in the reliability plan.

- ``POST /api/reliability/cache/clear``: every entry, or ``{"variant": "baseline"}``;
- ``POST /api/reliability/cache/clear-expired``: every entry that is no longer fresh;
- ``GET /api/reliability/cache/stats``: ``overall``, ``topQueries``, ``byVariant``
  (``?limit=`` top queries, default 10; ``?tenant=`` one tenant's entries).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from steadyllm.errors import InvalidRequest, ServiceUnavailable
from steadyllm.gateway import Gateway

__all__ = ["CacheApi"]


def _json(body: Any) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json")


class CacheApi:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/reliability/cache/clear", self.clear),
            web.post("/api/reliability/cache/clear-expired", self.clear_expired),
            web.get("/api/reliability/cache/stats", self.stats),
        ]

    async def clear(self, request: web.Request) -> web.Response:
        variant: str | None = None
        raw = await request.read()
        if raw.strip():
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise InvalidRequest(f"The body must be JSON: {exc}.") from None
            if not isinstance(body, dict) or set(body) - {"variant"}:
                raise InvalidRequest('The body must be {} or {"variant": "<name>"}.')
            variant = body.get("variant")
            if variant is not None and not isinstance(variant, str):
                raise InvalidRequest("'variant' must be a string.", param="variant")
        try:
            removed = await self.gateway.cache.clear(variant=variant)
        except Exception as exc:
            raise ServiceUnavailable(f"The cache store could not be cleared: {exc}") from exc
        return _json({"success": True, "cleared": removed, "variant": variant})

    async def clear_expired(self, request: web.Request) -> web.Response:
        try:
            removed = await self.gateway.cache.clear_expired()
        except Exception as exc:
            raise ServiceUnavailable(f"The cache store could not be cleared: {exc}") from exc
        return _json({"success": True, "cleared": removed})

    async def stats(self, request: web.Request) -> web.Response:
        text = request.query.get("limit", "10")
        if not text.isdigit() or not 0 < int(text) <= 1000:
            raise InvalidRequest("'limit' must be an integer from 1 to 1000.", param="limit")
        cache = self.gateway.cache
        snapshot = cache.stats.snapshot(
            now=cache.now(), limit=int(text), tenant=request.query.get("tenant")
        )
        return _json(snapshot)
