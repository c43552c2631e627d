"""``GET /openapi.json``: an OpenAPI 3.1 document of every route the gateway serves.

Written by hand from the handlers and their parsers (``openai_request``,
``translate/anthropic_inbound``, ``keys/admin``, ``experiments/model``, ...): the
query parameters each handler reads, the request bodies it accepts, and the error
shape of every refusal. ``tests/unit/test_openapi.py`` holds it to the app's router
(no route missing, none extra) and validates it; ``tests/resilience/test_fuzz_openapi.py``
fuzzes every operation from it with schemathesis. Open, like ``/health/*``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from aiohttp import web

from steadyllm import __version__
from steadyllm.gateway import Gateway
from steadyllm.server.openapi_schemas import (
    BOOL_TEXT,
    CHAT_REQUEST,
    EMBEDDINGS_REQUEST,
    ERROR,
    EXPERIMENT,
    FEEDBACK,
    KEY_CREATE,
    KEY_UPDATE,
    MESSAGES_REQUEST,
    NUM,
    OBJ,
    SHADOW_START,
    STR,
    STR1,
    TIERS,
    VARIANT_BODY,
    VERSION,
    VERSION_BODY,
    Schema,
    integer,
    obj,
)
from steadyllm.usage import DIMENSIONS

__all__ = ["OpenApiDoc", "openapi_spec"]


def _q(name: str, schema: Schema, required: bool = False, text: str = "") -> Schema:
    param: Schema = {"name": name, "in": "query", "required": required, "schema": schema}
    if text:
        param["description"] = text
    return param


def _path(name: str, text: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": STR1, "description": text}


def _content(schema: Schema, media: str = "application/json") -> Schema:
    return {media: {"schema": schema}}


def _op(
    summary: str,
    tag: str,
    *,
    params: Iterable[Schema] = (),
    body: Schema | None = None,
    body_required: bool = True,
    ok: int = 200,
    media: str = "application/json",
    open_route: bool = False,
    error: Schema = ERROR,
) -> Schema:
    responses: Schema = {
        str(ok): {
            "description": "Success.",
            "content": _content(OBJ if media.endswith("json") else STR, media),
        },
        "4XX": {"description": "Refused: the error names the problem.", "content": _content(error)},
        "5XX": {"description": "Gateway or upstream failure.", "content": _content(error)},
    }
    operation: Schema = {"summary": summary, "tags": [tag], "responses": responses}
    params = list(params)
    if params:
        operation["parameters"] = params
    if body is not None:
        operation["requestBody"] = {"required": body_required, "content": _content(body)}
    if open_route:
        operation["security"] = []
    return operation


# --- operations ----------------------------------------------------------------------------

_VARIANT_Q = _q("variant", STR1, required=True, text="the variant's name")
_LIMIT_50 = _q("limit", integer(1, 1000))
_FLUSH = _q("flush", BOOL_TEXT, text="true: write pending records first")
_TIER_Q = _q("tier", {"enum": TIERS}, text="judge fit for this hardware tier")
_KIND_Q = _q("kind", {"enum": ["chat", "embeddings"]})


def _paths() -> dict[str, Schema]:
    data, ctl, life = "data plane", "control plane", "lifecycle"
    vers, drift, retr = (
        "/api/lifecycle/versions",
        "/api/lifecycle/drift",
        "/api/lifecycle/retraining",
    )
    shadow = "/api/reliability/shadow"
    usage_filters = [_q(d, STR, text=f"only rows of this {d}") for d in DIMENSIONS if d != "day"]
    return {
        "/v1/chat/completions": {
            "post": _op("Chat completion (OpenAI)", data, body=CHAT_REQUEST, open_route=True)
        },
        "/v1/embeddings": {
            "post": _op("Embeddings (OpenAI)", data, body=EMBEDDINGS_REQUEST, open_route=True)
        },
        "/v1/messages": {
            "post": _op(
                "Messages (Anthropic), served by any deployment through translation",
                data,
                body=MESSAGES_REQUEST,
                open_route=True,
                error={"$ref": "#/components/schemas/AnthropicError"},
            )
        },
        "/v1/models": {"get": _op("The configured models", data, open_route=True)},
        "/v1/models/{model}": {
            "get": _op("One model", data, params=[_path("model", "a model name")], open_route=True)
        },
        "/openapi.json": {"get": _op("This document", "meta", open_route=True)},
        "/health/live": {"get": _op("Liveness", "health", open_route=True)},
        "/health/ready": {"get": _op("Readiness (503 while unhealthy)", "health", open_route=True)},
        "/health/startup": {"get": _op("Started (503 until then)", "health", open_route=True)},
        "/health/limits": {"get": _op("Limits backend health", "health", open_route=True)},
        "/metrics": {"get": _op("Prometheus metrics", ctl, media="text/plain")},
        "/dashboard": {"get": _op("The dashboard page", ctl, media="text/html")},
        "/dashboard/static/{name}": {
            "get": _op(
                "A dashboard asset", ctl, params=[_path("name", "asset file")], media="text/plain"
            )
        },
        "/api/dashboard": {"get": _op("The dashboard's data", ctl)},
        "/api/calls": {
            "get": _op(
                "Call records, oldest first",
                ctl,
                params=[
                    _q("limit", integer(1, 10000)),
                    _q("since", NUM, text="epoch seconds"),
                    _q("until", NUM, text="epoch seconds"),
                    _q("tenant", STR),
                    _q("request_id", STR),
                    _FLUSH,
                ],
            )
        },
        "/api/usage": {
            "get": _op(
                "Usage report (JSON or CSV)",
                ctl,
                params=[
                    _q("start", {"type": "string", "format": "date"}),
                    _q("end", {"type": "string", "format": "date"}),
                    _q("group_by", STR, text="comma-separated: day, tenant, key, user, ..."),
                    _q("format", {"enum": ["json", "csv"]}),
                    _FLUSH,
                    *usage_filters,
                ],
            )
        },
        "/api/keys": {
            "post": _op(
                "Create a key (the secret is shown once)",
                "keys",
                body=KEY_CREATE,
                ok=201,
                body_required=False,
            ),
            "get": _op(
                "List keys",
                "keys",
                params=[_q("tenant", STR), _q("include_revoked", BOOL_TEXT)],
            ),
        },
        "/api/keys/{key_id}": {
            "get": _op("One key", "keys", params=[_path("key_id", "key id")]),
            "patch": _op(
                "Change a key",
                "keys",
                params=[_path("key_id", "key id")],
                body=KEY_UPDATE,
                body_required=False,
            ),
            "delete": _op("Revoke a key", "keys", params=[_path("key_id", "key id")]),
        },
        "/api/limits/status": {"get": _op("Limits and counters", "keys")},
        "/api/slo": {"get": _op("SLO objectives, violations, trends", ctl)},
        "/api/alerts": {"get": _op("Current and past alerts", ctl)},
        "/api/hardware": {"get": _op("This machine's hardware profile", "local", params=[_TIER_Q])},
        "/api/catalog": {"get": _op("The model catalog", "local", params=[_TIER_Q, _KIND_Q])},
        "/api/catalog/recommend": {
            "get": _op(
                "Models to run here",
                "local",
                params=[
                    _TIER_Q,
                    _KIND_Q,
                    _q("tags", STR, text="comma-separated"),
                    _q("limit", integer(1, 100)),
                    _q("min_quality_score", {"type": "number", "minimum": 0}),
                    _q("context", integer(1)),
                    _q("quantization", STR),
                    _q("min_tokens_per_second", {"type": "number", "minimum": 0}),
                ],
            )
        },
        "/api/catalog/{model}": {
            "get": _op(
                "One catalog model's fit",
                "local",
                params=[
                    _path("model", "catalog id"),
                    _TIER_Q,
                    _q("quantization", STR),
                    _q("context", integer(1)),
                ],
            )
        },
        "/api/local/status": {
            "get": _op("Local models and servers", "local", params=[_q("probe", BOOL_TEXT)])
        },
        "/api/reliability/health": {
            "get": _op("Health report", "reliability", params=[_q("fresh", BOOL_TEXT)])
        },
        "/api/reliability/metrics": {"get": _op("Retry and breaker figures", "reliability")},
        "/api/reliability/runtime": {
            "get": _op("RSS, tasks and in-memory structure sizes", "reliability")
        },
        "/api/reliability/safety": {
            "get": _op(
                "Safety log summary",
                "reliability",
                params=[
                    _LIMIT_50,
                    _q("since", NUM),
                    _q("check_type", {"enum": ["input", "output", "validation"]}),
                    _FLUSH,
                ],
            )
        },
        "/api/reliability/cache/clear": {
            "post": _op(
                "Clear the response cache",
                "cache",
                body=obj({"variant": STR}, extra=False),
                body_required=False,
            )
        },
        "/api/reliability/cache/clear-expired": {"post": _op("Drop stale cache entries", "cache")},
        "/api/reliability/cache/stats": {
            "get": _op("Cache statistics", "cache", params=[_LIMIT_50, _q("tenant", STR)])
        },
        f"{shadow}/start": {"post": _op("Start a shadow run", "shadow", body=SHADOW_START)},
        f"{shadow}/stop": {"post": _op("Stop the shadow run", "shadow")},
        f"{shadow}/status": {"get": _op("Shadow run status", "shadow")},
        f"{shadow}/analysis": {"get": _op("Shadow comparison", "shadow")},
        f"{shadow}/promotion-check": {"get": _op("Would the shadow be promoted", "shadow")},
        f"{shadow}/promote": {"post": _op("Promote the shadow variant", "shadow")},
        f"{shadow}/rollback": {"post": _op("Roll back the last promotion", "shadow")},
        f"{shadow}/history": {"get": _op("Past shadow runs", "shadow")},
        "/api/variants": {"get": _op("Variants and the live one per route", "shadow")},
        "/api/experiments": {
            "post": _op("Start an A/B experiment", "experiments", body=EXPERIMENT, ok=201),
            "get": _op("List experiments", "experiments"),
        },
        "/api/experiments/{id}/results": {
            "get": _op(
                "An experiment's results", "experiments", params=[_path("id", "experiment id")]
            )
        },
        "/api/experiments/{id}/stop": {
            "post": _op("Stop an experiment", "experiments", params=[_path("id", "experiment id")])
        },
        "/api/feedback": {"post": _op("A conversation's outcome", life, body=FEEDBACK, ok=201)},
        f"{vers}/register": {
            "post": _op(
                "Register a prompt version",
                life,
                body=obj(
                    {
                        "variant": STR1,
                        "systemPrompt": STR1,
                        "tags": {"type": "array", "items": STR},
                        "metadata": obj(
                            {
                                "description": STR,
                                "createdBy": STR,
                                "changes": {"type": "array", "items": STR},
                            }
                        ),
                    },
                    ["variant", "systemPrompt"],
                ),
                ok=201,
            )
        },
        f"{vers}/activate": {"post": _op("Activate a version", life, body=VERSION_BODY)},
        f"{vers}/rollback": {"post": _op("Activate the previous version", life, body=VARIANT_BODY)},
        f"{vers}/tag": {
            "post": _op(
                "Tag a version",
                life,
                body=obj(
                    {"variant": STR1, "version": VERSION, "tag": STR1},
                    ["variant", "version", "tag"],
                ),
            )
        },
        f"{vers}/active": {"get": _op("The active version", life, params=[_VARIANT_Q])},
        f"{vers}/history": {"get": _op("Activation history", life, params=[_VARIANT_Q])},
        f"{vers}/compare": {
            "get": _op(
                "Outcomes by version",
                life,
                params=[_VARIANT_Q, _q("versions", STR, text="comma-separated integers")],
            )
        },
        f"{vers}/diff": {
            "get": _op(
                "Diff two versions",
                life,
                params=[_VARIANT_Q, _q("from", VERSION, True), _q("to", VERSION, True)],
            )
        },
        f"{vers}/list": {"get": _op("Variants with versions", life)},
        f"{drift}/detect": {
            "get": _op("Run drift detection", life, params=[_VARIANT_Q]),
            "post": _op("Run drift detection", life, params=[_VARIANT_Q]),
        },
        f"{drift}/history": {
            "get": _op("Past drift checks", life, params=[_q("variant", STR), _LIMIT_50])
        },
        f"{drift}/metrics": {"get": _op("Drift metrics", life, params=[_VARIANT_Q])},
        f"{retr}/check": {"post": _op("Should this variant retrain", life, body=VARIANT_BODY)},
        f"{retr}/start": {
            "post": _op(
                "Start a retraining session",
                life,
                body=obj({"variant": STR1, "trigger": OBJ}, ["variant"]),
                ok=201,
            )
        },
        f"{retr}/finalize": {
            "post": _op("Finalize a session", life, body=obj({"sessionId": STR1}, ["sessionId"]))
        },
        f"{retr}/status": {
            "get": _op(
                "A session, or the latest",
                life,
                params=[_q("sessionId", STR), _q("variant", STR)],
            )
        },
        f"{retr}/history": {
            "get": _op("Past sessions", life, params=[_q("variant", STR), _LIMIT_50])
        },
        "/api/lifecycle/status": {"get": _op("Drift, retraining and versions", life)},
    }


def openapi_spec(*, models: Iterable[str] = ()) -> dict[str, Any]:
    """The document; ``models`` (configured model names) become examples of ``model``."""
    names = list(models)
    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "steadyllm",
            "version": __version__,
            "description": (
                "An OpenAI- and Anthropic-compatible LLM gateway. Admin routes (/api/*, "
                "/dashboard, /metrics) need 'Authorization: Bearer <admin_key>' when an "
                'admin key is configured. Errors: {"error": {message, type, param, code}}; '
                "/v1/messages answers errors in Anthropic's shape."
            ),
        },
        "paths": _paths(),
        "security": [{"adminKey": []}],
        "components": {
            "securitySchemes": {
                "adminKey": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {
                "Error": obj(
                    {
                        "error": obj(
                            {
                                "message": STR,
                                "type": STR,
                                "param": {"type": ["string", "null"]},
                                "code": {"type": ["string", "null"]},
                            },
                            ["message", "type", "param", "code"],
                        )
                    },
                    ["error"],
                ),
                "AnthropicError": obj(
                    {
                        "type": {"const": "error"},
                        "error": obj({"type": STR, "message": STR}, ["type", "message"]),
                    },
                    ["type", "error"],
                ),
            },
        },
    }
    if names:
        for path in ("/v1/chat/completions", "/v1/embeddings", "/v1/messages"):
            body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
            body["schema"] = {**body["schema"]}
            body["schema"]["properties"] = {
                **body["schema"]["properties"],
                "model": {**STR1, "examples": names},
            }
    return spec


class OpenApiDoc:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self._body: bytes | None = None

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/openapi.json", self.document)]

    async def document(self, request: web.Request) -> web.Response:
        if self._body is None:
            names = [m.name for m in self.gateway.settings.models]
            self._body = orjson.dumps(openapi_spec(models=names))
        return web.Response(body=self._body, content_type="application/json")
