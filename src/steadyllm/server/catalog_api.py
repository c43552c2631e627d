"""Control-plane routes of local inference: hardware, the model catalog, local models.

GET /api/hardware                 this machine's profile and tier
GET /api/catalog                  every catalog model, with its fit here (?tier=, ?kind=)
GET /api/catalog/recommend        models to run (?tags=chat,code&min_quality_score=
                                  &context=&quantization=&min_tokens_per_second=
                                  &kind=&tier=&limit=)
GET /api/catalog/{id}             one model's fit (?quantization=&context=&tier=)
GET /api/local/status             in-process models (loads, queue, tokens/s) and the
                                  health and model lists of local servers (?probe=false)
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import orjson
from aiohttp import web

from steadyllm.errors import InvalidRequest
from steadyllm.gateway import Gateway
from steadyllm.local.recommend import Advisor, parse_tier
from steadyllm.local.servers import is_local_address, probe_server
from steadyllm.policy.catalog_fit import Constraints

__all__ = ["CatalogApi"]

_MAX_LIMIT = 100
_MAX_NUMBER = 2**31 - 1  # a context length, a score, tokens per second: far below this


def _json(body: Any) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def _number(request: web.Request, name: str, *, integer: bool = False) -> Any:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    try:
        number = int(value) if integer else float(value)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise InvalidRequest(f"'{name}' must be {kind}.", param=name) from None
    if number < 0 or (integer and number == 0 and name != "min_quality_score"):
        raise InvalidRequest(f"'{name}' must be positive.", param=name)
    if not math.isfinite(number) or number > _MAX_NUMBER:  # echoed back: orjson stops at 2^64
        raise InvalidRequest(f"'{name}' is out of range.", param=name)
    return number


def _kind(request: web.Request) -> str | None:
    kind = request.query.get("kind")
    if kind not in (None, "", "chat", "embeddings"):
        raise InvalidRequest("'kind' must be 'chat' or 'embeddings'.", param="kind")
    return kind or None


class CatalogApi:
    def __init__(self, gateway: Gateway, advisor: Advisor | None = None) -> None:
        self.gateway = gateway
        self.advisor = advisor if advisor is not None else Advisor(gateway.settings.local)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/hardware", self.hardware),
            web.get("/api/catalog", self.catalog),
            web.get("/api/catalog/recommend", self.recommend),
            web.get("/api/catalog/{model}", self.model),
            web.get("/api/local/status", self.status),
        ]

    async def hardware(self, request: web.Request) -> web.Response:
        profile = await self.advisor.profile(parse_tier(request.query.get("tier")))
        return _json(self.advisor.hardware(profile))

    async def catalog(self, request: web.Request) -> web.Response:
        profile = await self.advisor.profile(parse_tier(request.query.get("tier")))
        return _json(self.advisor.listing(profile, kind=_kind(request)))

    async def recommend(self, request: web.Request) -> web.Response:
        profile = await self.advisor.profile(parse_tier(request.query.get("tier")))
        tags = frozenset(t.strip() for t in request.query.get("tags", "").split(",") if t.strip())
        limit = _number(request, "limit", integer=True) or 5
        if limit > _MAX_LIMIT:
            raise InvalidRequest(f"'limit' must be at most {_MAX_LIMIT}.", param="limit")
        constraints = Constraints(
            kind=_kind(request) or "chat",
            required_tags=tags,
            min_quality_score=_number(request, "min_quality_score") or 0.0,
            context=_number(request, "context", integer=True),
            quantization=request.query.get("quantization") or None,
            min_tokens_per_second=_number(request, "min_tokens_per_second"),
            limit=limit,
        )
        return _json(self.advisor.recommend(profile, constraints))

    async def model(self, request: web.Request) -> web.Response:
        profile = await self.advisor.profile(parse_tier(request.query.get("tier")))
        quantization = request.query.get("quantization") or None
        return _json(
            self.advisor.check(
                profile,
                request.match_info["model"],
                quantization=quantization,
                context=_number(request, "context", integer=True),
            )
        )

    async def status(self, request: web.Request) -> web.Response:
        """Local models in this process, and local servers behind the openai provider."""
        in_process = []
        servers: list[tuple[str, str, str | None]] = []
        routes = self.gateway.router.routes
        for model in self.gateway.settings.models:
            route = routes.get(model.name)
            if route is None:
                continue
            for settings, deployment in zip(model.deployments, route.deployments, strict=True):
                snapshot = getattr(deployment.provider, "telemetry_snapshot", None)
                if callable(snapshot):
                    in_process.append({"deployment": deployment.name, **snapshot()})
                elif (
                    settings.provider == "openai"
                    and settings.api_base
                    and is_local_address(settings.api_base)
                ):
                    key = settings.api_key.get_secret_value() if settings.api_key else None
                    servers.append((deployment.name, settings.api_base, key))
        probed: list[dict[str, Any]] = []
        if request.query.get("probe") != "false" and servers:
            healths = await asyncio.gather(
                *(probe_server(base, api_key=key) for _, base, key in servers)
            )
            probed = [
                {"deployment": name, **health.to_dict()}
                for (name, _, _), health in zip(servers, healths, strict=True)
            ]
        else:
            probed = [{"deployment": name, "api_base": base} for name, base, _ in servers]
        return _json({"in_process": in_process, "servers": probed})
