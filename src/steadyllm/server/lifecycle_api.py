"""Control-plane routes of the lifecycle, paths as in the lifecycle plan.

- ``POST /api/feedback``: a conversation's outcome;
- ``/api/lifecycle/versions/``: ``register``, ``activate``, ``rollback``, ``tag`` (POST),
  ``active``, ``history``, ``compare``, ``diff``, ``list`` (GET);
- ``/api/lifecycle/drift/``: ``detect`` (GET or POST), ``history``, ``metrics``;
- ``/api/lifecycle/retraining/``: ``check``, ``start``, ``finalize`` (POST),
  ``status``, ``history`` (GET);
- ``GET /api/lifecycle/status``: drift, retraining and versions at a glance.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from steadyllm.errors import InvalidRequest
from steadyllm.gateway import Gateway
from steadyllm.lifecycle.runtime import Lifecycle
from steadyllm.lifecycle.versions import compare_outcomes

__all__ = ["LifecycleApi"]

_PREFIX = "/api/lifecycle"
_MAX_LIMIT = 1000  # history entries in one answer


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The body must be JSON: {exc}.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    return body


def _text(source: Any, name: str) -> str:
    value = source.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"'{name}' is required (a non-empty string).", param=name)
    return value


_INT32_MAX = 2**31 - 1  # versions are INTEGER columns; larger values are not versions


def _int(source: Any, name: str, default: int | None = None, *, high: int = _INT32_MAX) -> int:
    """A positive integer up to ``high`` (a version number, a limit), else a 400."""
    value = source.get(name, default)
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        value = None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        number = 0
    if not 1 <= number <= high:
        raise InvalidRequest(f"'{name}' must be an integer from 1 to {high}.", param=name)
    return number


class LifecycleApi:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    @property
    def lifecycle(self) -> Lifecycle:
        return self.gateway.lifecycle

    def routes(self) -> list[web.RouteDef]:
        v, d, r = f"{_PREFIX}/versions", f"{_PREFIX}/drift", f"{_PREFIX}/retraining"
        return [
            web.post("/api/feedback", self.feedback),
            web.post(f"{v}/register", self.register),
            web.post(f"{v}/activate", self.activate),
            web.post(f"{v}/rollback", self.rollback),
            web.post(f"{v}/tag", self.tag),
            web.get(f"{v}/active", self.active),
            web.get(f"{v}/history", self.history),
            web.get(f"{v}/compare", self.compare),
            web.get(f"{v}/diff", self.diff),
            web.get(f"{v}/list", self.list),
            web.get(f"{d}/detect", self.detect),
            web.post(f"{d}/detect", self.detect),
            web.get(f"{d}/history", self.drift_history),
            web.get(f"{d}/metrics", self.drift_metrics),
            web.post(f"{r}/check", self.check),
            web.post(f"{r}/start", self.start),
            web.post(f"{r}/finalize", self.finalize),
            web.get(f"{r}/status", self.status_of_session),
            web.get(f"{r}/history", self.retraining_history),
            web.get(f"{_PREFIX}/status", self.status),
        ]

    # --- outcomes ------------------------------------------------------------------------

    async def feedback(self, request: web.Request) -> web.Response:
        body = await _body(request)
        if body.get("requestId") and not await self._has_call(str(body["requestId"])):
            await self.gateway.records.flush()  # the call may still be in the write batch
        outcome = await self.lifecycle.feedback.record(body)
        return _json(
            {
                "success": True,
                "id": outcome.id,
                "variant": outcome.variant,
                "version": outcome.version,
                "model": outcome.model,
                "costUsd": outcome.cost_usd,
                "latencyMs": outcome.latency_ms,
            },
            201,
        )

    async def _has_call(self, request_id: str) -> bool:
        records = self.gateway.stores.records
        return bool(await records.list_calls(request_id=request_id, limit=1))

    # --- versions ------------------------------------------------------------------------

    async def register(self, request: web.Request) -> web.Response:
        body = await _body(request)
        meta = body.get("metadata") or {}
        if not isinstance(meta, dict):
            raise InvalidRequest("'metadata' must be an object.", param="metadata")
        changes = meta.get("changes") or []
        if not isinstance(changes, list):
            raise InvalidRequest("'metadata.changes' must be a list.", param="metadata.changes")
        extra = {k: v for k, v in meta.items() if k not in ("description", "createdBy", "changes")}
        version = await self.lifecycle.versions.register(
            _text(body, "variant"),
            _text(body, "systemPrompt"),
            description=meta.get("description"),
            created_by=meta.get("createdBy"),
            changes=[str(c) for c in changes],
            metadata=extra,
            tags=body.get("tags") or [],
        )
        return _json({"success": True, "version": version.to_json()}, 201)

    async def activate(self, request: web.Request) -> web.Response:
        body = await _body(request)
        version = await self.lifecycle.versions.activate(
            _text(body, "variant"), _int(body, "version")
        )
        return _json({"success": True, "active": version.to_json()})

    async def rollback(self, request: web.Request) -> web.Response:
        body = await _body(request)
        left, restored = await self.lifecycle.versions.rollback(_text(body, "variant"))
        return _json(
            {
                "success": True,
                "from": left.version,
                "to": restored.version,
                "active": restored.to_json(),
            }
        )

    async def tag(self, request: web.Request) -> web.Response:
        body = await _body(request)
        version = await self.lifecycle.versions.tag(
            _text(body, "variant"), _int(body, "version"), _text(body, "tag")
        )
        return _json({"success": True, "version": version.to_json()})

    async def active(self, request: web.Request) -> web.Response:
        variant = _text(request.query, "variant")
        version = await self.lifecycle.versions.active(variant)
        return _json({"variant": variant, "active": None if version is None else version.to_json()})

    async def history(self, request: web.Request) -> web.Response:
        variant = _text(request.query, "variant")
        return _json(
            {"variant": variant, "history": await self.lifecycle.versions.history(variant)}
        )

    async def compare(self, request: web.Request) -> web.Response:
        variant = _text(request.query, "variant")
        wanted = request.query.get("versions")
        if wanted:
            numbers = [_int({"versions": part}, "versions") for part in wanted.split(",")]
        else:
            numbers = [v.version for v in await self.lifecycle.versions.versions(variant)]
        feedback = self.lifecycle.feedback
        by_version = {
            number: await feedback.outcomes(variant=variant, version=number) for number in numbers
        }
        return _json({"variant": variant, **compare_outcomes(by_version)})

    async def diff(self, request: web.Request) -> web.Response:
        query = request.query
        return _json(
            await self.lifecycle.versions.diff(
                _text(query, "variant"), _int(query, "from"), _int(query, "to")
            )
        )

    async def list(self, request: web.Request) -> web.Response:
        return _json({"variants": await self.lifecycle.versions.list()})

    # --- drift ---------------------------------------------------------------------------

    async def detect(self, request: web.Request) -> web.Response:
        detection = await self.lifecycle.drift.detect(_text(request.query, "variant"))
        return _json(detection.to_json())

    async def drift_history(self, request: web.Request) -> web.Response:
        limit = _int(request.query, "limit", 50, high=_MAX_LIMIT)
        found = await self.lifecycle.drift.history(request.query.get("variant"), limit=limit)
        return _json({"history": [d.to_json() for d in found]})

    async def drift_metrics(self, request: web.Request) -> web.Response:
        return _json(await self.lifecycle.drift.metrics(_text(request.query, "variant")))

    # --- retraining ----------------------------------------------------------------------

    async def check(self, request: web.Request) -> web.Response:
        body = await _body(request)
        return _json(await self.lifecycle.retraining.check(_text(body, "variant")))

    async def start(self, request: web.Request) -> web.Response:
        body = await _body(request)
        trigger = body.get("trigger") or {"type": "manual"}
        if not isinstance(trigger, dict):
            raise InvalidRequest("'trigger' must be an object.", param="trigger")
        session = await self.lifecycle.retraining.start(_text(body, "variant"), trigger=trigger)
        return _json({"success": True, "session": session.to_json()}, 201)

    async def finalize(self, request: web.Request) -> web.Response:
        body = await _body(request)
        session = await self.lifecycle.retraining.finalize(_text(body, "sessionId"))
        return _json({"success": True, "session": session.to_json()})

    async def status_of_session(self, request: web.Request) -> web.Response:
        retraining = self.lifecycle.retraining
        session_id = request.query.get("sessionId")
        if session_id:
            return _json({"session": (await retraining.get(session_id)).to_json()})
        latest = await retraining.history(request.query.get("variant"), limit=1)
        return _json({"session": latest[0].to_json() if latest else None})

    async def retraining_history(self, request: web.Request) -> web.Response:
        limit = _int(request.query, "limit", 50, high=_MAX_LIMIT)
        found = await self.lifecycle.retraining.history(request.query.get("variant"), limit=limit)
        return _json({"history": [s.to_json() for s in found]})

    async def status(self, request: web.Request) -> web.Response:
        return _json(await self.lifecycle.status())
