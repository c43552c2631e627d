"""``/api/experiments``: register A/B experiments and read their results per arm."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from aiohttp import web

from steadyllm.errors import InvalidRequest, NotFound
from steadyllm.experiments.model import experiment_from_json
from steadyllm.experiments.results import collect, results
from steadyllm.gateway import Gateway

__all__ = ["ExperimentsApi"]

_RESULT_RECORDS = 100_000  # the most call records one results request reads


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


class ExperimentsApi:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/experiments", self.create),
            web.get("/api/experiments", self.list),
            web.get("/api/experiments/{id}/results", self.results),
            web.post("/api/experiments/{id}/stop", self.stop),
        ]

    async def create(self, request: web.Request) -> web.Response:
        """``name``, ``route``, ``arms`` ([{variant, weight}], the first is the control),
        ``subject`` (user | conversation), ``outcome`` (booked), ``alpha`` (0.05)."""
        try:
            data = orjson.loads(await request.read())
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest(f"The body is not valid JSON: {exc}.") from None
        experiment = experiment_from_json(
            data, id=f"exp_{uuid.uuid4().hex[:12]}", created_at=time.time()
        )
        variants = self.gateway.variants
        unknown = [a.variant for a in experiment.arms if a.variant not in variants.book]
        if unknown:
            raise InvalidRequest(f"Unknown variants: {', '.join(unknown)}.", param="arms")
        if experiment.route not in self.gateway.router.routes:
            raise InvalidRequest(f"Unknown route {experiment.route!r}.", param="route")
        if experiment.route in variants.experiments.running:
            raise InvalidRequest(
                f"Route {experiment.route!r} already has a running experiment.", param="route"
            )
        await variants.experiments.create(experiment)
        return _json(experiment.to_json(), status=201)

    async def list(self, request: web.Request) -> web.Response:
        items = await self.gateway.variants.experiments.store.list()
        return _json({"experiments": [e.to_json() for e in items]})

    async def stop(self, request: web.Request) -> web.Response:
        if not await self.gateway.variants.experiments.stop(request.match_info["id"]):
            raise NotFound("No such experiment.", code="experiment_not_found")
        return _json({"stopped": True})

    async def results(self, request: web.Request) -> web.Response:
        variants = self.gateway.variants
        experiment = await variants.experiments.store.get(request.match_info["id"])
        if experiment is None:
            raise NotFound("No such experiment.", code="experiment_not_found")
        records = await self.gateway.stores.records.list_calls(
            since=experiment.created_at, limit=_RESULT_RECORDS
        )
        arms = await collect(experiment, records, variants.outcomes)
        return _json(results(experiment, arms))
