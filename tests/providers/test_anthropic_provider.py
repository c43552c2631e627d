"""The anthropic provider against a fake Messages API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from steadyllm.call import Call, Deployment, Response
from steadyllm.config import DeploymentSettings, TimeoutSettings
from steadyllm.errors import InvalidRequest, UpstreamFailure
from steadyllm.providers.anthropic import AnthropicProvider
from tests.providers import FakeUpstream, cut, drop, event, free_port, sse

MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-up",
    "content": [{"type": "text", "text": "Hello"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 11, "output_tokens": 4},
}

START: dict[str, Any] = {
    "type": "message_start",
    "message": {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-up",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 11, "output_tokens": 1},
    },
}
TEXT_START: dict[str, Any] = {
    "type": "content_block_start",
    "index": 0,
    "content_block": {"type": "text", "text": ""},
}


def text(value: str) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": value},
    }


FINISH: list[dict[str, Any]] = [
    {"type": "content_block_stop", "index": 0},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 6},
    },
    {"type": "message_stop"},
]


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    fake = await FakeUpstream().start()
    yield fake
    await fake.close()


def make(
    api_base: str | None, headers: dict[str, str] | None = None, **timeout: float
) -> tuple[AnthropicProvider, Deployment]:
    settings = DeploymentSettings(
        provider="anthropic",
        model="claude-up",
        api_base=api_base,
        api_key="sk-ant",
        headers=headers or {},
        timeout=TimeoutSettings(**timeout),
    )
    provider = AnthropicProvider(settings)
    return provider, Deployment(
        name="d", model_group="m", upstream_model="claude-up", provider=provider, price=None
    )


@pytest.fixture
async def claude(upstream: FakeUpstream) -> AsyncIterator[tuple[AnthropicProvider, Deployment]]:
    provider, deployment = make(upstream.url, connect=1, read=0.3, total=3, first_token=0.3)
    yield provider, deployment
    await provider.aclose()


def chat_call(stream: bool = False) -> Call:
    body: dict[str, Any] = {
        "model": "m",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    }
    if stream:
        body["stream"] = True
    return Call(
        request_id="r1",
        kind="chat",
        body=body,
        headers={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
    )


async def failure(
    provider: AnthropicProvider, deployment: Deployment, call: Call
) -> UpstreamFailure:
    with pytest.raises(UpstreamFailure) as caught:
        await provider.chat(call, deployment)
    return caught.value


async def read_into(response: Response, received: list[dict[str, Any]]) -> None:
    assert response.chunks is not None
    async for item in response.chunks:
        received.append(item)


async def collect(response: Response) -> list[dict[str, Any]]:
    assert response.chunks is not None
    return [c async for c in response.chunks]


async def test_chat_translates_both_ways_and_sends_anthropic_headers(
    upstream: FakeUpstream, claude: tuple[AnthropicProvider, Deployment]
) -> None:
    async def answer(request: web.Request) -> web.StreamResponse:
        return web.json_response(MESSAGE)

    upstream.handler = answer
    provider, deployment = claude
    response = await provider.chat(chat_call(), deployment)

    [seen] = upstream.seen
    assert (seen.method, seen.path) == ("POST", "/v1/messages")
    assert seen.headers["x-api-key"] == "sk-ant"
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert seen.headers["traceparent"].startswith("00-0af7")
    assert seen.body == {
        "model": "claude-up",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "system": "be brief",
        "max_tokens": 4096,
    }
    assert response.body is not None
    assert response.body["choices"][0]["message"] == {"role": "assistant", "content": "Hello"}
    assert response.body["choices"][0]["finish_reason"] == "stop"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (11, 4)
    assert response.deployment == "d"


async def test_tool_use_comes_back_as_tool_calls(
    upstream: FakeUpstream, claude: tuple[AnthropicProvider, Deployment]
) -> None:
    async def answer(request: web.Request) -> web.StreamResponse:
        content = [
            {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo"}}
        ]
        return web.json_response({**MESSAGE, "content": content, "stop_reason": "tool_use"})

    upstream.handler = answer
    response = await claude[0].chat(chat_call(), claude[1])
    assert response.body is not None
    choice = response.body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["function"] == {
        "name": "weather",
        "arguments": '{"city":"Oslo"}',
    }


async def test_stream_becomes_openai_chunks_with_usage(
    upstream: FakeUpstream, claude: tuple[AnthropicProvider, Deployment]
) -> None:
    events = [START, {"type": "ping"}, TEXT_START, text("Hel"), text("lo"), *FINISH]

    async def stream(request: web.Request) -> web.StreamResponse:
        return await sse(request, [event(e) for e in events])

    upstream.handler = stream
    provider, deployment = claude
    response = await provider.chat(chat_call(stream=True), deployment)
    chunks = await collect(response)

    assert upstream.seen[0].body["stream"] is True
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert content == "Hello"
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "stop"
    assert chunks[-1]["choices"] == []
    assert (response.usage.input_tokens, response.usage.output_tokens) == (11, 6)
    assert response.outcome == "complete"


@pytest.mark.parametrize(
    ("status", "error_type", "retryable"),
    [
        (529, "overloaded_error", True),
        (500, "api_error", True),
        (429, "rate_limit_error", True),
        (400, "invalid_request_error", False),
        (401, "authentication_error", False),
    ],
)
async def test_anthropic_error_bodies_become_status_failures(
    upstream: FakeUpstream,
    claude: tuple[AnthropicProvider, Deployment],
    status: int,
    error_type: str,
    retryable: bool,
) -> None:
    async def refuse(request: web.Request) -> web.StreamResponse:
        body = {"type": "error", "error": {"type": error_type, "message": f"{error_type}!"}}
        return web.json_response(body, status=status, headers={"retry-after": "4"})

    upstream.handler = refuse
    error = await failure(*claude, chat_call())
    assert (error.kind, error.upstream_status, error.message) == (
        "status",
        status,
        f"{error_type}!",
    )
    assert error.retryable is retryable
    assert error.retry_after == 4.0
    assert len(upstream.seen) == 1  # the provider never retries


async def test_error_event_before_content_is_raised_from_chat(
    upstream: FakeUpstream, claude: tuple[AnthropicProvider, Deployment]
) -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}

    async def stream(request: web.Request) -> web.StreamResponse:
        return await sse(request, [event(START), event(overloaded)])

    upstream.handler = stream
    error = await failure(*claude, chat_call(stream=True))
    assert (error.kind, error.upstream_status, error.message) == ("status", 529, "Overloaded")
    assert error.retryable


@pytest.mark.parametrize("ending", ["clean", "dropped", "error-event"])
async def test_stream_cut_after_content_is_a_stream_cut(
    upstream: FakeUpstream, claude: tuple[AnthropicProvider, Deployment], ending: str
) -> None:
    blocks = [event(START), event(TEXT_START), event(text("one")), event(text("two"))]

    async def stream(request: web.Request) -> web.StreamResponse:
        if ending == "dropped":
            return await cut(request, blocks)
        if ending == "error-event":
            error = {"type": "error", "error": {"type": "api_error", "message": "boom"}}
            return await sse(request, [*blocks, event(error)])
        return await sse(request, blocks)

    upstream.handler = stream
    response = await claude[0].chat(chat_call(stream=True), claude[1])
    received: list[dict[str, Any]] = []
    with pytest.raises(UpstreamFailure) as caught:
        await read_into(response, received)
    assert [c["choices"][0]["delta"].get("content") for c in received] == ["", "one", "two"]
    assert caught.value.kind == "stream_cut"
    assert response.outcome == "cut"


async def test_no_first_token_in_time_is_a_timeout(upstream: FakeUpstream) -> None:
    async def stalled(request: web.Request) -> web.StreamResponse:
        return await sse(
            request, [event(START), event(TEXT_START), event(text("late"))], delay=0.25
        )

    upstream.handler = stalled
    provider, deployment = make(upstream.url, read=5, first_token=0.1)
    try:
        error = await failure(provider, deployment, chat_call(stream=True))
    finally:
        await provider.aclose()
    assert error.kind == "timeout"


@pytest.mark.parametrize("body", [b"garbage", b'{"type": "message"}', b'{"content": "not a list"}'])
async def test_unreadable_2xx_is_malformed(
    upstream: FakeUpstream, claude: tuple[AnthropicProvider, Deployment], body: bytes
) -> None:
    async def garbage(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, content_type="application/json")

    upstream.handler = garbage
    assert (await failure(*claude, chat_call())).kind == "malformed"


async def test_garbage_stream_event_is_malformed(
    upstream: FakeUpstream, claude: tuple[AnthropicProvider, Deployment]
) -> None:
    async def stream(request: web.Request) -> web.StreamResponse:
        return await sse(request, [b"event: message_start\ndata: {not json\n\n"])

    upstream.handler = stream
    assert (await failure(*claude, chat_call(stream=True))).kind == "malformed"


async def test_network_failures(upstream: FakeUpstream) -> None:
    refused, deployment = make(f"http://127.0.0.1:{free_port()}", connect=1)
    slow, slow_deployment = make(upstream.url, read=0.2)

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.headers.get("x-drop"):
            return await drop(request)
        await asyncio.sleep(2)
        return web.json_response(MESSAGE)

    upstream.handler = handler
    try:
        assert (await failure(refused, deployment, chat_call())).kind == "connect"
        assert (await failure(slow, slow_deployment, chat_call())).kind == "timeout"
    finally:
        await refused.aclose()
        await slow.aclose()
    dropping, dropping_deployment = make(upstream.url, headers={"x-drop": "1"})
    try:
        assert (await failure(dropping, dropping_deployment, chat_call())).kind == "reset"
    finally:
        await dropping.aclose()
    assert len(upstream.seen) == 2


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
async def test_api_base_with_or_without_version(upstream: FakeUpstream, suffix: str) -> None:
    async def models(request: web.Request) -> web.StreamResponse:
        return web.json_response({"data": [{"id": "claude-a", "type": "model"}], "has_more": False})

    upstream.handler = models
    provider, _ = make(upstream.url + suffix)
    try:
        assert await provider.list_models() == ["claude-a"]
    finally:
        await provider.aclose()
    assert upstream.seen[0].path == "/v1/models"
    assert upstream.seen[0].headers["x-api-key"] == "sk-ant"


async def test_embeddings_are_refused_clearly(
    claude: tuple[AnthropicProvider, Deployment],
) -> None:
    call = Call(request_id="r1", kind="embeddings", body={"model": "m", "input": "x"})
    with pytest.raises(InvalidRequest, match="embeddings"):
        await claude[0].embed(call, claude[1])


def test_default_api_base_is_anthropic() -> None:
    provider, _ = make(None)
    assert provider._messages_url == "https://api.anthropic.com/v1/messages"
