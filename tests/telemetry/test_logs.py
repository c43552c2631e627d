"""One JSON line per request, no secrets, content only when configured."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from steadyllm.gateway import Gateway
from steadyllm.telemetry.logs import JsonFormatter, redact


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("steadyllm.requests")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield out
    finally:
        logger.removeHandler(handler)


def _entries(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def test_request_line_fields_without_content(lines: io.StringIO) -> None:
    config = {"store": {"url": "memory://"}, "telemetry": {"logs": {"requests": True}}}
    async with Gateway.from_config(config) as gateway:
        call = gateway.new_call(
            "chat",
            {"model": "fast", "messages": [{"role": "user", "content": "my secret plan"}]},
            headers={"authorization": "Bearer sk-live-abcdef123456"},
        )
        await gateway.handle(call)
    (entry,) = _entries(lines)
    assert entry["request_id"] == call.request_id
    assert entry["logger"] == "steadyllm.requests"
    assert entry["level"] == "info"
    for field in ("tenant", "model", "deployment", "input_tokens", "output_tokens",
                  "cost_usd", "latency_ms", "outcome"):  # fmt: skip
        assert field in entry
    assert entry["outcome"] == "ok"
    assert entry["model"] == "fast"
    text = lines.getvalue()
    assert "secret plan" not in text
    assert "sk-live" not in text
    assert "prompt" not in entry


async def test_content_when_configured_streams_included(lines: io.StringIO) -> None:
    logs = {"requests": True, "include_content": True}
    config = {"store": {"url": "memory://"}, "telemetry": {"logs": logs}}
    async with Gateway.from_config(config) as gateway:
        answer = await gateway.chat([{"role": "user", "content": "hello"}], model="fast")
        streamed = ""
        async for chunk in gateway.chat_stream(
            [{"role": "user", "content": "again"}], model="fast"
        ):
            for choice in chunk.get("choices") or ():
                streamed += (choice.get("delta") or {}).get("content") or ""
    plain, stream = _entries(lines)
    assert plain["prompt"] == [{"role": "user", "content": "hello"}]
    assert plain["answer"] == answer["choices"][0]["message"]["content"]
    assert stream["answer"] == streamed
    assert streamed


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Authorization: Bearer abc.def-123", "Authorization: Bearer [REDACTED]"),
        ('{"api_key": "sk-1234567890"}', '{"api_key": "[REDACTED]"}'),
        ("key sk-proj-ABCDEFGHIJ in a message", "key [REDACTED] in a message"),
        ("password=hunter2; next", "password=[REDACTED]; next"),
        ("authorization=tok123", "authorization=[REDACTED]"),
        ("nothing to hide", "nothing to hide"),
    ],
)
def test_redact(text: str, shown: str) -> None:
    assert redact(text) == shown
