"""Stage ``breaker``: one circuit breaker per deployment, closest to the upstream.

An open breaker raises :class:`~steadyllm.resilience.CircuitOpen` at once (no
upstream call). Otherwise the attempt's outcome is recorded: a plain answer when it
arrives, a stream when it ends (a cut counts as a failure; a client that leaves
counts as nothing). The stage also keeps the in-flight counts and latencies that
balancing and hedging read.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from steadyllm.call import Call, Response, close_stream
from steadyllm.errors import InternalError
from steadyllm.pipeline import Handler
from steadyllm.policy.breaker import Admission
from steadyllm.resilience.breaker import CircuitBreaker
from steadyllm.resilience.errors import CircuitOpen
from steadyllm.resilience.runtime import Resilience

__all__ = ["BreakerStage"]


class BreakerStage:
    name = "breaker"

    def __init__(self, resilience: Resilience) -> None:
        self._resilience = resilience

    async def __call__(self, call: Call, call_next: Handler) -> Response:
        deployment = call.deployment
        if deployment is None:
            raise InternalError("no deployment chosen for this call")
        resilience = self._resilience
        breaker = resilience.breaker(deployment)
        admission: Admission | None = None
        if breaker is not None:
            try:
                admission = await breaker.admit()
            except CircuitOpen:
                rejected = call.notes.setdefault("breaker_rejected", [])
                rejected.append(deployment.name)
                raise
        name = deployment.name
        load = resilience.load
        load.started(name)
        started = time.perf_counter()
        try:
            response = await call_next(call)
        except BaseException as exc:
            load.ended(name)
            if breaker is not None and admission is not None:
                await breaker.settle(admission, exc)
            raise
        if response.chunks is None:
            load.ended(name)
            load.observe(name, time.perf_counter() - started, resilience.clock())
            if breaker is not None and admission is not None:
                await breaker.settle(admission, None)
            return response
        first = response.first_token_at or time.perf_counter()
        load.observe(name, first - started, resilience.clock())
        response.chunks = self._watch(response.chunks, name, breaker, admission)
        return response

    async def _watch(
        self,
        chunks: AsyncIterator[dict[str, Any]],
        name: str,
        breaker: CircuitBreaker | None,
        admission: Admission | None,
    ) -> AsyncIterator[dict[str, Any]]:
        error: BaseException | None = None
        finished = False
        try:
            async for chunk in chunks:
                yield chunk
            finished = True
        except BaseException as exc:
            error = exc
            raise
        finally:
            await close_stream(chunks)
            self._resilience.load.ended(name)
            if breaker is not None and admission is not None:
                if finished:
                    await breaker.settle(admission, None)
                elif isinstance(error, Exception):
                    await breaker.settle(admission, error)
                else:  # the client went away: says nothing about the upstream
                    await breaker.release(admission)
