"""OpenTelemetry traces: one span per request, one per stage, GenAI attributes.

This module owns OpenTelemetry (the optional extra ``otel``). It is imported only
when ``telemetry.tracing.enabled`` is set; otherwise the pipeline is folded with
no wrapper at all, so tracing costs nothing per request.

Spans: ``steadyllm.request`` (kind SERVER, the child of the client's W3C
``traceparent`` when it sent one) covers the whole call, streams until their
last chunk; ``steadyllm.<stage>`` covers each stage until it returns, and
``steadyllm.provider`` (kind CLIENT) each upstream attempt. The provider span's
context goes upstream as ``traceparent``, so the upstream's spans hang under
the attempt that caused them. Attributes follow the OpenTelemetry GenAI
semantic conventions (``gen_ai.*``) plus ``steadyllm.*`` for the gateway's own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from steadyllm.call import Call, Response
from steadyllm.errors import GatewayError, UpstreamFailure
from steadyllm.pipeline import Handler
from steadyllm.telemetry.logs import close_chunks
from steadyllm.telemetry.settings import TracingSettings

__all__ = ["Tracing"]

_PROPAGATOR = TraceContextTextMapPropagator()
_REQUEST_PARAMS = {
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "seed": "gen_ai.request.seed",
}


class Tracing:
    """A tracer provider of this gateway's own (never the process-global one)."""

    def __init__(self, settings: TracingSettings) -> None:
        self.settings = settings
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": settings.service_name}),
            sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio)),
        )
        if settings.exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=settings.endpoint, headers=settings.headers)
            self.provider.add_span_processor(BatchSpanProcessor(exporter))
        elif settings.exporter == "console":
            self.provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        self.tracer = self.provider.get_tracer("steadyllm")

    def add_exporter(self, exporter: SpanExporter, *, batch: bool = False) -> None:
        """Send spans to one more exporter (tests use an in-memory one, unbatched)."""
        processor: SpanProcessor = (
            BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        )
        self.provider.add_span_processor(processor)

    def shutdown(self) -> None:
        self.provider.shutdown()  # flushes the batch processors

    # --- wrappers, applied once when the pipeline is folded ----------------------------

    def wrap_stage(self, name: str, handler: Handler) -> Handler:
        if name == "provider":
            return self._wrap_provider(handler)
        span_name = f"steadyllm.{name}"
        tracer = self.tracer

        async def traced(call: Call) -> Response:
            with tracer.start_as_current_span(
                span_name, record_exception=False, set_status_on_exception=False
            ) as span:
                try:
                    return await handler(call)
                except BaseException as exc:
                    _failed(span, exc)
                    raise

        return traced

    def _wrap_provider(self, handler: Handler) -> Handler:
        tracer = self.tracer

        async def traced(call: Call) -> Response:
            deployment = call.deployment
            attributes: dict[str, Any] = {
                "gen_ai.operation.name": _operation(call),
                "steadyllm.attempt": call.attempts + 1,
            }
            if deployment is not None:
                attributes["gen_ai.request.model"] = deployment.upstream_model
                attributes["gen_ai.system"] = deployment.provider.kind
                attributes["gen_ai.provider.name"] = deployment.provider.kind
                attributes["steadyllm.deployment"] = deployment.name
            with tracer.start_as_current_span(
                "steadyllm.provider",
                kind=SpanKind.CLIENT,
                attributes=attributes,
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                carrier: dict[str, str] = {}
                _PROPAGATOR.inject(carrier)
                if carrier:  # the upstream continues this attempt's trace
                    call.headers = _Overlay(carrier, _incoming(call.headers))
                try:
                    response = await handler(call)
                except BaseException as exc:
                    _failed(span, exc)
                    raise
                _answered(span, response, deployment.upstream_model if deployment else None)
                return response

        return traced

    def wrap_request(self, handler: Handler) -> Handler:
        tracer = self.tracer

        async def traced(call: Call) -> Response:
            parent = _PROPAGATOR.extract(call.headers)
            span = tracer.start_span(
                "steadyllm.request",
                context=parent,
                kind=SpanKind.SERVER,
                attributes=_request_attributes(call),
                record_exception=False,
                set_status_on_exception=False,
            )
            token = otel_context.attach(trace.set_span_in_context(span, parent))
            try:
                response = await handler(call)
            except BaseException as exc:
                _finish(span, call, None)
                _failed(span, exc, request=True)
                span.end()
                raise
            finally:
                otel_context.detach(token)
            if response.chunks is None:
                _finish(span, call, response)
                span.end()
                return response
            response.chunks = _watch(span, call, response, response.chunks)
            return response

        return traced


async def _watch(
    span: Span, call: Call, response: Response, chunks: AsyncIterator[dict[str, Any]]
) -> AsyncIterator[dict[str, Any]]:
    try:
        async for chunk in chunks:
            yield chunk
    except BaseException as exc:
        _failed(span, exc)  # the HTTP status was 200: the stream had started
        raise
    finally:
        await close_chunks(chunks)
        _finish(span, call, response)
        span.end()


class _Overlay(Mapping[str, str]):
    """The incoming headers with this attempt's ``traceparent`` in front (read-only)."""

    __slots__ = ("base", "front")

    def __init__(self, front: dict[str, str], base: Mapping[str, str]) -> None:
        self.front = front
        self.base = base

    def __getitem__(self, key: str) -> str:
        return self.front[key] if key in self.front else self.base[key]

    def __contains__(self, key: object) -> bool:
        return key in self.front or key in self.base

    def __iter__(self) -> Iterator[str]:
        yield from self.front
        yield from (key for key in self.base if key.lower() not in self.front)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _incoming(headers: Mapping[str, str]) -> Mapping[str, str]:
    return headers.base if isinstance(headers, _Overlay) else headers


def _operation(call: Call) -> str:
    return "embeddings" if call.kind == "embeddings" else "chat"


def _request_attributes(call: Call) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": _operation(call),
        "gen_ai.request.model": call.model,
        "steadyllm.request_id": call.request_id,
        "steadyllm.stream": call.stream,
    }
    for param, name in _REQUEST_PARAMS.items():
        value = call.body.get(param)
        if isinstance(value, int | float) and not isinstance(value, bool):
            attributes[name] = value
    return attributes


def _answered(span: Span, response: Response, upstream_model: str | None) -> None:
    body = response.body or {}
    model = body.get("model") or upstream_model
    if model:
        span.set_attribute("gen_ai.response.model", str(model))
    if body.get("id"):
        span.set_attribute("gen_ai.response.id", str(body["id"]))
    reasons = [
        str(choice["finish_reason"])
        for choice in body.get("choices") or ()
        if isinstance(choice, dict) and choice.get("finish_reason")
    ]
    if reasons:
        span.set_attribute("gen_ai.response.finish_reasons", reasons)
    if response.chunks is None:
        span.set_attribute("gen_ai.usage.input_tokens", response.usage.input_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", response.usage.output_tokens)


def _finish(span: Span, call: Call, response: Response | None) -> None:
    """The request span's attributes once the outcome is known."""
    deployment = call.deployment
    span.set_attribute("steadyllm.attempts", call.attempts)
    span.set_attribute("steadyllm.tenant", call.principal.tenant)
    if call.variant is not None:
        span.set_attribute("steadyllm.variant", call.variant)
    cache = call.notes.get("cache")
    if isinstance(cache, str):
        span.set_attribute("steadyllm.cache", cache)
    if deployment is not None:
        span.set_attribute("steadyllm.deployment", deployment.name)
        span.set_attribute("gen_ai.system", deployment.provider.kind)
        span.set_attribute("gen_ai.provider.name", deployment.provider.kind)
    if response is None:
        return
    _answered(span, response, deployment.upstream_model if deployment else None)
    span.set_attribute("gen_ai.usage.input_tokens", response.usage.input_tokens)
    span.set_attribute("gen_ai.usage.output_tokens", response.usage.output_tokens)
    if response.cost is not None:
        span.set_attribute("steadyllm.cost_usd", response.cost)
    if call.stream:
        span.set_attribute("steadyllm.stream_outcome", response.outcome)
    span.set_attribute("http.response.status_code", 200)


def _failed(span: Span, exc: BaseException, *, request: bool = False) -> None:
    if isinstance(exc, UpstreamFailure):
        error_type = f"upstream_{exc.kind}"
        status = exc.http_status
    elif isinstance(exc, GatewayError):
        error_type = exc.error_type
        status = exc.http_status
    elif isinstance(exc, Exception):
        error_type = type(exc).__name__
        status = 500
    else:  # cancelled, client gone: not the gateway's failure
        span.set_attribute("error.type", "cancelled")
        return
    span.set_attribute("error.type", error_type)
    if request:
        span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR, str(exc)[:200]))
        span.record_exception(exc)
