"""Stage ``route``: choose the candidate deployments for the requested model."""

from __future__ import annotations

from steadyllm.call import Call, Response
from steadyllm.pipeline import Handler
from steadyllm.routing import Router

__all__ = ["RouteStage"]


class RouteStage:
    name = "route"

    def __init__(self, router: Router) -> None:
        self._router = router

    async def __call__(self, call: Call, call_next: Handler) -> Response:
        call.plan = self._router.plan(call)
        call.deployment = call.plan[0]
        return await call_next(call)
