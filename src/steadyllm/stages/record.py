"""Stage ``record``: one call record per request, whatever happened.

Outermost stage: it sees the final response or error. Streams are recorded when
they end (completely, cut by the upstream, or abandoned by the client).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

from steadyllm.call import Call, Response, close_stream
from steadyllm.errors import GatewayError, UpstreamFailure
from steadyllm.pipeline import Handler
from steadyllm.policy.pricing import PriceBook
from steadyllm.recording import RecordWriter
from steadyllm.stores.base import CallRecord

__all__ = ["RecordObserver", "RecordStage", "build_record", "new_id"]

log = logging.getLogger("steadyllm.records")


def new_id() -> str:
    """A random 128-bit id shaped like ``uuid4().hex``, at a sixth of its cost.

    Ids must be unique, not secret: the ``random`` module's generator is seeded from
    the OS, reseeded in every forked worker, and needs no system call per id.
    """
    return f"{random.getrandbits(128):032x}"


def build_record(
    call: Call, *, status: int, response: Response | None, error: BaseException | None
) -> CallRecord:
    now = time.perf_counter()
    deployment = call.deployment
    usage = response.usage if response is not None else None
    ttft_ms = None
    if response is not None and response.first_token_at is not None:
        ttft_ms = (response.first_token_at - call.started) * 1000
    error_type = None
    if isinstance(error, UpstreamFailure):
        error_type = f"upstream_{error.kind}"
    elif isinstance(error, GatewayError):
        error_type = error.error_type
    elif error is not None:
        error_type = "internal_error"
    elif response is not None and response.outcome != "complete":
        error_type = f"stream_{response.outcome}"
    return CallRecord(
        id=new_id(),
        request_id=call.request_id,
        created_at=call.received_at,
        kind=call.kind,
        model=call.model,
        status=status,
        tenant=call.principal.tenant,
        key_id=call.principal.key_id,
        user=call.principal.user,
        deployment=deployment.name if deployment is not None else None,
        provider_model=deployment.upstream_model if deployment is not None else None,
        variant=call.variant,
        error_type=error_type,
        input_tokens=usage.input_tokens if usage else 0,
        output_tokens=usage.output_tokens if usage else 0,
        cost_usd=response.cost if response is not None else None,
        latency_ms=(now - call.started) * 1000,
        ttft_ms=ttft_ms,
        overhead_ms=max(0.0, (now - call.started - call.upstream_seconds) * 1000),
        cache_status=call.notes.get("cache"),
        stream=call.stream,
        stream_outcome=response.outcome if response is not None and call.stream else None,
        attempts=call.attempts,
        fallback_path=tuple(call.fallback_path),
        metadata=dict(call.metadata),
    )


class RecordObserver(Protocol):
    """Sees every call enter and its record leave (telemetry derives its metrics here)."""

    def begin(self, call: Call) -> None: ...

    def finish(self, call: Call, response: Response | None, record: CallRecord) -> None: ...

    def abandon(self, call: Call) -> None:
        """The call was cancelled before it had a record (the client went away)."""
        ...


class RecordStage:
    name = "record"

    def __init__(
        self,
        writer: RecordWriter,
        observer: RecordObserver | None = None,
        *,
        pricing: PriceBook | None = None,
    ) -> None:
        self._writer = writer
        self._observer = observer
        self._pricing = pricing  # the price decision (config, catalog, or counted unpriced)
        self._unpriced: set[str] = set()

    def _submit(self, call: Call, response: Response | None, record: CallRecord) -> None:
        self._writer.submit(record)
        if self._observer is not None:
            self._observer.finish(call, response, record)

    async def __call__(self, call: Call, call_next: Handler) -> Response:
        if self._observer is not None:
            self._observer.begin(call)
        try:
            response = await call_next(call)
        except GatewayError as exc:
            self._submit(
                call, None, build_record(call, status=exc.http_status, response=None, error=exc)
            )
            raise
        except Exception as exc:
            self._submit(call, None, build_record(call, status=500, response=None, error=exc))
            raise
        except BaseException:
            if self._observer is not None:
                self._observer.abandon(call)
            raise
        if response.chunks is None:
            self._price(call, response)
            self._submit(
                call, response, build_record(call, status=200, response=response, error=None)
            )
            return response
        response.chunks = self._watch(call, response, response.chunks)
        return response

    async def _watch(
        self, call: Call, response: Response, chunks: AsyncIterator[dict[str, Any]]
    ) -> AsyncIterator[dict[str, Any]]:
        error: BaseException | None = None
        try:
            async for chunk in chunks:
                yield chunk
        except UpstreamFailure as exc:
            error = exc
            response.outcome = "cut"
            raise
        except BaseException:
            if response.outcome == "complete":
                response.outcome = "client_gone"
            raise
        finally:
            self._price(call, response)
            self._submit(
                call, response, build_record(call, status=200, response=response, error=error)
            )
            await close_stream(chunks)

    def _price(self, call: Call, response: Response) -> None:
        if response.cost is not None:
            return
        deployment = call.deployment
        if self._pricing is not None:
            response.cost = self._pricing.charge(deployment, response.usage)
            return
        if deployment is None:
            return
        if deployment.price is None:
            if deployment.name not in self._unpriced:
                self._unpriced.add(deployment.name)
                log.warning(
                    "no price for deployment %s: its calls are recorded with no cost",
                    deployment.name,
                )
            return
        response.cost = deployment.price.cost(
            response.usage.input_tokens, response.usage.output_tokens
        )
