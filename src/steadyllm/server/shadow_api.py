"""``/api/reliability/shadow/*``: the reliability plan's shadow deployment API."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from steadyllm.errors import InvalidRequest
from steadyllm.gateway import Gateway

__all__ = ["ShadowApi"]

_PREFIX = "/api/reliability/shadow"


def _json(body: Any) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The body is not valid JSON: {exc}.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    return body


class ShadowApi:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(f"{_PREFIX}/start", self.start),
            web.post(f"{_PREFIX}/stop", self.stop),
            web.get(f"{_PREFIX}/status", self.status),
            web.get(f"{_PREFIX}/analysis", self.analysis),
            web.get(f"{_PREFIX}/promotion-check", self.promotion_check),
            web.post(f"{_PREFIX}/promote", self.promote),
            web.post(f"{_PREFIX}/rollback", self.rollback),
            web.get(f"{_PREFIX}/history", self.history),
            web.get("/api/variants", self.variants),
        ]

    async def start(self, request: web.Request) -> web.Response:
        """``shadowVariant``, ``primaryVariant``, ``trafficPercent`` (10),
        ``targetSamples`` (100), ``autoPromote`` (false), ``routes`` (optional)."""
        body = await _body(request)
        book = self.gateway.variants.book
        shadow, primary = body.get("shadowVariant"), body.get("primaryVariant")
        for name, value in (("shadowVariant", shadow), ("primaryVariant", primary)):
            if not isinstance(value, str) or value not in book:
                raise InvalidRequest(f"'{name}' must name a configured variant.", param=name)
        assert isinstance(shadow, str)
        assert isinstance(primary, str)
        percent = body.get("trafficPercent", 10)
        target = body.get("targetSamples", 100)
        if not isinstance(percent, int | float) or isinstance(percent, bool):
            raise InvalidRequest("'trafficPercent' must be a number.", param="trafficPercent")
        if not isinstance(target, int) or isinstance(target, bool):
            raise InvalidRequest("'targetSamples' must be an integer.", param="targetSamples")
        routes = body.get("routes")
        if routes is not None and (
            not isinstance(routes, list) or not all(isinstance(r, str) for r in routes)
        ):
            raise InvalidRequest("'routes' must be a list of model names.", param="routes")
        status = await self.gateway.shadow.start(
            shadow,
            primary,
            traffic_percent=float(percent),
            target_samples=target,
            auto_promote=bool(body.get("autoPromote", False)),
            routes=tuple(routes) if routes is not None else None,
        )
        return _json(status)

    async def stop(self, request: web.Request) -> web.Response:
        return _json(await self.gateway.shadow.stop())

    async def status(self, request: web.Request) -> web.Response:
        return _json(await self.gateway.shadow.status())

    async def analysis(self, request: web.Request) -> web.Response:
        return _json(await self.gateway.shadow.analysis())

    async def promotion_check(self, request: web.Request) -> web.Response:
        return _json(await self.gateway.shadow.promotion_check())

    async def promote(self, request: web.Request) -> web.Response:
        return _json(await self.gateway.shadow.promote())

    async def rollback(self, request: web.Request) -> web.Response:
        return _json(await self.gateway.shadow.rollback())

    async def history(self, request: web.Request) -> web.Response:
        return _json({"history": await self.gateway.shadow.history()})

    async def variants(self, request: web.Request) -> web.Response:
        """The configured variants and the live one per route."""
        variants = self.gateway.variants
        return _json(
            {
                "variants": sorted(variants.book.definitions),
                "live": await variants.live.all(),
            }
        )
