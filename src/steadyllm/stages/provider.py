"""The innermost handler: one attempt against ``call.deployment``."""

from __future__ import annotations

import time

from steadyllm.call import Call, Response
from steadyllm.errors import InternalError

__all__ = ["call_provider"]


async def call_provider(call: Call) -> Response:
    deployment = call.deployment
    if deployment is None:  # the route stage always sets one; this is a wiring bug
        raise InternalError("no deployment chosen for this call")
    call.attempts += 1
    call.fallback_path.append(deployment.name)
    started = time.perf_counter()
    try:
        if call.kind == "embeddings":
            response = await deployment.provider.embed(call, deployment)
        else:
            response = await deployment.provider.chat(call, deployment)
    finally:
        call.upstream_seconds += time.perf_counter() - started
    response.deployment = deployment.name
    return response
