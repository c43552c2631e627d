"""Spans: one per request and one per stage, parented in stage order, GenAI attributes,
the client's traceparent continued and the attempt's context sent upstream."""

from __future__ import annotations

import itertools

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from steadyllm.errors import GatewayError
from steadyllm.gateway import Gateway
from steadyllm.sim.server import running_sim
from tests.telemetry.conftest import telemetry_config

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_PARENT = "00f067aa0ba902b7"
TRACING = {"telemetry": {"tracing": {"enabled": True, "exporter": "none"}}}


def _by_id(spans: tuple[ReadableSpan, ...]) -> dict[int, ReadableSpan]:
    return {span.context.span_id: span for span in spans}


async def test_every_stage_has_a_span_parented_in_order() -> None:
    async with running_sim() as sim:
        gateway = Gateway.from_config(telemetry_config(sim.base_url, **TRACING))
        exporter = InMemorySpanExporter()
        assert gateway.telemetry.tracing is not None
        gateway.telemetry.tracing.add_exporter(exporter)
        async with gateway:
            stage_names = [stage.name for stage in gateway._stages()]
            body = {
                "model": "fast",
                "messages": [{"role": "user", "content": "Book a clean on Friday"}],
                "max_tokens": 50,
                "temperature": 0.2,
            }
            traceparent = f"00-{CLIENT_TRACE}-{CLIENT_PARENT}-01"
            call = gateway.new_call("chat", body, headers={"traceparent": traceparent})
            response = await gateway.handle(call)
            assert response.body is not None
            recent = sim._state.stats.recent[-1]["headers"]  # what reached the upstream
        spans = exporter.get_finished_spans()

    names = [span.name for span in spans]
    expected = ["steadyllm.request", *(f"steadyllm.{n}" for n in stage_names), "steadyllm.provider"]
    assert sorted(names) == sorted(expected)
    by_name = {span.name: span for span in spans}
    # Each span's parent is the one just outside it; the request span continues the client's.
    for outer, inner in itertools.pairwise(expected):
        assert by_name[inner].parent is not None
        assert by_name[inner].parent.span_id == by_name[outer].context.span_id, inner
    request = by_name["steadyllm.request"]
    assert request.parent is not None
    assert request.parent.span_id == int(CLIENT_PARENT, 16)
    assert {span.context.trace_id for span in spans} == {int(CLIENT_TRACE, 16)}
    assert request.kind is SpanKind.SERVER

    attributes = request.attributes or {}
    usage = response.usage
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "fast"
    assert attributes["gen_ai.request.max_tokens"] == 50
    assert attributes["gen_ai.request.temperature"] == 0.2
    assert attributes["gen_ai.response.model"] == "sim-fast"
    assert attributes["gen_ai.system"] == "openai"
    assert attributes["gen_ai.usage.input_tokens"] == usage.input_tokens > 0
    assert attributes["gen_ai.usage.output_tokens"] == usage.output_tokens > 0
    assert attributes["steadyllm.request_id"] == call.request_id
    provider = by_name["steadyllm.provider"]
    assert provider.kind is SpanKind.CLIENT
    assert (provider.attributes or {})["gen_ai.request.model"] == "sim-fast"
    # The upstream got this attempt's context, not the client's parent.
    sent = recent["traceparent"]
    assert sent == f"00-{CLIENT_TRACE}-{provider.context.span_id:016x}-01"


async def test_failures_mark_spans_and_streams_end_the_request_span() -> None:
    async with running_sim() as sim:
        gateway = Gateway.from_config(telemetry_config(sim.base_url, **TRACING))
        exporter = InMemorySpanExporter()
        assert gateway.telemetry.tracing is not None
        gateway.telemetry.tracing.add_exporter(exporter)
        async with gateway:
            missing = gateway.new_call("chat", {"model": "nope", "messages": [
                {"role": "user", "content": "hi"}]})  # fmt: skip
            with pytest.raises(GatewayError) as raised:
                await gateway.handle(missing)
            assert raised.value.http_status == 404
            spans = _by_id(exporter.get_finished_spans())
            request = next(s for s in spans.values() if s.name == "steadyllm.request")
            assert (request.attributes or {})["error.type"] == "not_found_error"
            assert (request.attributes or {})["http.response.status_code"] == 404
            assert request.status.status_code is StatusCode.UNSET  # a client error
            exporter.clear()

            chunks = []
            async for chunk in gateway.chat_stream(
                [{"role": "user", "content": "Tell me a story"}],
                model="fast",
                stream_options={"include_usage": True},
            ):
                chunks.append(chunk)
                if len(chunks) == 1:  # mid-stream: the request span is still open
                    open_names = {s.name for s in exporter.get_finished_spans()}
                    assert "steadyllm.request" not in open_names
                    assert "steadyllm.provider" in open_names
            request = next(
                s for s in exporter.get_finished_spans() if s.name == "steadyllm.request"
            )
            attributes = request.attributes or {}
            assert attributes["steadyllm.stream_outcome"] == "complete"
            assert attributes["gen_ai.usage.output_tokens"] > 0


async def test_tracing_off_adds_no_wrapper() -> None:
    gateway = Gateway.from_config({"store": {"url": "memory://"}})
    async with gateway:
        assert gateway.telemetry.tracing is None
        assert gateway.telemetry.stage_wrapper is None
        handler = gateway._handler
        assert handler is not None
        assert handler.__qualname__ == "stage:record"
