"""The openai provider against a fake upstream, and the HTTP plumbing it stands on."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web

from steadyllm.call import Call, Deployment, Response
from steadyllm.config import ConfigError, DeploymentSettings, TimeoutSettings
from steadyllm.errors import UpstreamFailure
from steadyllm.providers._http import SSEDecoder, retry_after, status_failure
from steadyllm.providers.openai import OpenAIProvider
from tests.providers import FakeUpstream, cut, data, drop, free_port, sse

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "up",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9},
}


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "up",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


USAGE_CHUNK = {
    "id": "c1",
    "object": "chat.completion.chunk",
    "choices": [],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
}


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    fake = await FakeUpstream().start()
    yield fake
    await fake.close()


def make(api_base: str, **timeout: float) -> tuple[OpenAIProvider, Deployment]:
    settings = DeploymentSettings(
        provider="openai",
        model="up",
        api_base=api_base,
        api_key="sk-test",
        headers={"x-extra": "1"},
        timeout=TimeoutSettings(**timeout),
    )
    provider = OpenAIProvider(settings)
    return provider, Deployment(
        name="d", model_group="m", upstream_model="up", provider=provider, price=None
    )


@pytest.fixture
async def openai(upstream: FakeUpstream) -> AsyncIterator[tuple[OpenAIProvider, Deployment]]:
    provider, deployment = make(
        f"{upstream.url}/v1/", connect=1, read=0.3, total=3, first_token=0.3
    )
    yield provider, deployment
    await provider.aclose()


def chat_call(stream: bool = False, **headers: str) -> Call:
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}
    if stream:
        body["stream"] = True
    return Call(request_id="r1", kind="chat", body=body, headers=headers)


async def collect(response: Response) -> list[dict[str, Any]]:
    assert response.chunks is not None
    return [c async for c in response.chunks]


async def read_into(response: Response, received: list[dict[str, Any]]) -> None:
    assert response.chunks is not None
    async for item in response.chunks:
        received.append(item)


async def failure(provider: OpenAIProvider, deployment: Deployment, call: Call) -> UpstreamFailure:
    with pytest.raises(UpstreamFailure) as caught:
        await provider.chat(call, deployment)
    return caught.value


# --- success ------------------------------------------------------------------------


async def test_chat_sends_the_upstream_request_and_reads_the_answer(
    upstream: FakeUpstream, openai: tuple[OpenAIProvider, Deployment]
) -> None:
    async def answer(request: web.Request) -> web.StreamResponse:
        return web.json_response(COMPLETION)

    upstream.handler = answer
    provider, deployment = openai
    call = chat_call(traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    response = await provider.chat(call, deployment)

    assert response.body == COMPLETION
    assert (response.usage.input_tokens, response.usage.output_tokens) == (7, 2)
    assert response.deployment == "d"
    [seen] = upstream.seen
    assert (seen.method, seen.path) == ("POST", "/v1/chat/completions")
    assert seen.body["model"] == "up"
    assert seen.headers["authorization"] == "Bearer sk-test"
    assert seen.headers["x-extra"] == "1"
    assert seen.headers["traceparent"] == call.headers["traceparent"]
    assert call.body["model"] == "m"  # reused by retries: never mutated


async def test_stream_asks_for_usage_and_yields_every_chunk(
    upstream: FakeUpstream, openai: tuple[OpenAIProvider, Deployment]
) -> None:
    body = b"".join(
        [
            b": keep-alive comment\n\n",
            data(chunk({"role": "assistant", "content": ""})),
            data(chunk({"content": "Hello"})),
            data(chunk({"content": " world"})),
            data(chunk({}, "stop")),
            data(USAGE_CHUNK),
            b"data: [DONE]\n\n",
        ]
    ).replace(b"\n", b"\r\n")
    # Blocks that split lines, and even \r\n pairs, anywhere.
    blocks = [body[i : i + 7] for i in range(0, len(body), 7)]

    async def stream(request: web.Request) -> web.StreamResponse:
        return await sse(request, blocks)

    upstream.handler = stream
    provider, deployment = openai
    response = await provider.chat(chat_call(stream=True), deployment)
    chunks = await collect(response)

    assert upstream.seen[0].body["stream_options"] == {"include_usage": True}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Hello world"
    assert chunks[-1]["usage"]["completion_tokens"] == 2
    assert (response.usage.input_tokens, response.usage.output_tokens) == (5, 2)
    assert response.outcome == "complete"
    assert response.first_token_at is not None


async def test_stream_keeps_the_clients_stream_options(
    upstream: FakeUpstream, openai: tuple[OpenAIProvider, Deployment]
) -> None:
    async def stream(request: web.Request) -> web.StreamResponse:
        return await sse(request, [data(chunk({"content": "x"}, "stop")), b"data: [DONE]\n\n"])

    upstream.handler = stream
    provider, deployment = openai
    call = chat_call(stream=True)
    call.body["stream_options"] = {"include_usage": False, "other": 1}
    await collect(await provider.chat(call, deployment))
    assert upstream.seen[0].body["stream_options"] == {"include_usage": True, "other": 1}
    assert call.body["stream_options"] == {"include_usage": False, "other": 1}


async def test_embed_and_list_models(
    upstream: FakeUpstream, openai: tuple[OpenAIProvider, Deployment]
) -> None:
    async def answer(request: web.Request) -> web.StreamResponse:
        if request.path == "/v1/models":
            return web.json_response({"object": "list", "data": [{"id": "a"}, {"id": "b"}]})
        return web.json_response(
            {
                "object": "list",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
                "usage": {"prompt_tokens": 3, "total_tokens": 3},
            }
        )

    upstream.handler = answer
    provider, deployment = openai
    call = Call(request_id="r1", kind="embeddings", body={"model": "m", "input": "hi"})
    response = await provider.embed(call, deployment)
    assert response.body is not None
    assert response.body["data"][0]["embedding"] == [0.1, 0.2]
    assert response.usage.input_tokens == 3
    assert upstream.seen[0].path == "/v1/embeddings"
    assert upstream.seen[0].body == {"model": "up", "input": "hi"}
    assert await provider.list_models() == ["a", "b"]


def test_api_base_is_required() -> None:
    with pytest.raises(ConfigError, match="api_base"):
        OpenAIProvider(DeploymentSettings(provider="openai", model="x"))


# --- failures -----------------------------------------------------------------------


async def test_refused_port_is_a_connect_failure() -> None:
    provider, deployment = make(f"http://127.0.0.1:{free_port()}/v1", connect=1)
    try:
        error = await failure(provider, deployment, chat_call())
    finally:
        await provider.aclose()
    assert error.kind == "connect"
    assert error.retryable
    assert error.deployment == "d"


async def test_slow_answer_is_a_timeout(
    upstream: FakeUpstream, openai: tuple[OpenAIProvider, Deployment]
) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(2)
        return web.json_response(COMPLETION)

    upstream.handler = slow
    error = await failure(*openai, chat_call())
    assert error.kind == "timeout"
    assert error.http_status == 504
    assert len(upstream.seen) == 1  # no retry inside the provider


async def test_dropped_connection_is_a_reset(
    upstream: FakeUpstream, openai: tuple[OpenAIProvider, Deployment]
) -> None:
    upstream.handler = drop
    error = await failure(*openai, chat_call())
    assert error.kind == "reset"
    assert error.retryable
    assert len(upstream.seen) == 1


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_server_errors_keep_status_and_retry_after(
    upstream: FakeUpstream, openai: tuple[OpenAIProvider, Deployment], status: int
) -> None:
    async def busy(request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"error": {"message": "try later", "type": "server_error"}},
            status=status,
            headers={"Retry-After": "2"},
        )

    upstream.handler = busy
    error = await failure(*openai, chat_call())
    assert (error.kind, error.upstream_status, error.retry_after) == ("status", status, 2.0)
    assert error.message == "try later"
    assert error.retryable
    assert len(upstream.seen) == 1


@pytest.mark.parametrize("status", [400, 401])
async def test_client_errors_are_not_retryable(
    upstream: FakeUpstream, openai: tuple[OpenAIProvider, Deployment], status: int
) -> None:
    async def refuse(request: web.Request) -> web.StreamResponse:
        error = {"message": "bad things", "type": "invalid_request_error", "code": "bad_thing"}
        return web.json_response({"error": error}, status=status)

    upstream.handler = refuse
    error = await failure(*openai, chat_call())
    assert (error.kind, error.upstream_status) == ("status", status)
    assert not error.retryable
    assert error.client_error
    assert error.http_status == status
    assert (error.message, error.code) == ("bad things", "bad_thing")
    assert len(upstream.seen) == 1


@pytest.mark.parametrize(
    "body",
    [b"<html>not json</html>", b"[1, 2]", b'{"object": "chat.completion"}', b'{"choices": {}}'],
)
async def test_unreadable_2xx_is_malformed(
    upstream: FakeUpstream, openai: tuple[OpenAIProvider, Deployment], body: bytes
) -> None:
    async def garbage(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, content_type="application/json")

    upstream.handler = garbage
    error = await failure(*openai, chat_call())
    assert error.kind == "malformed"
    assert error.retryable


async def test_stream_status_is_raised_from_chat(
    upstream: FakeUpstream, openai: tuple[OpenAIProvider, Deployment]
) -> None:
    async def limited(request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"error": {"message": "slow down"}}, status=429, headers={"retry-after-ms": "1500"}
        )

    upstream.handler = limited
    error = await failure(*openai, chat_call(stream=True))
    assert (error.kind, error.upstream_status, error.retry_after) == ("status", 429, 1.5)


async def test_error_inside_the_stream_before_content_is_raised_from_chat(
    upstream: FakeUpstream, openai: tuple[OpenAIProvider, Deployment]
) -> None:
    async def stream(request: web.Request) -> web.StreamResponse:
        return await sse(request, [data({"error": {"message": "engine died", "code": 503}})])

    upstream.handler = stream
    error = await failure(*openai, chat_call(stream=True))
    assert (error.kind, error.upstream_status, error.message) == ("status", 503, "engine died")
    assert error.retryable


@pytest.mark.parametrize("ending", ["clean", "dropped"])
async def test_stream_cut_after_content_raises_stream_cut_from_the_iterator(
    upstream: FakeUpstream, openai: tuple[OpenAIProvider, Deployment], ending: str
) -> None:
    blocks = [data(chunk({"content": "one"})), data(chunk({"content": "two"}))]

    async def stream(request: web.Request) -> web.StreamResponse:
        if ending == "clean":
            return await sse(request, blocks)
        return await cut(request, blocks)

    upstream.handler = stream
    provider, deployment = openai
    response = await provider.chat(chat_call(stream=True), deployment)
    assert response.chunks is not None
    received: list[dict[str, Any]] = []
    with pytest.raises(UpstreamFailure) as caught:
        await read_into(response, received)
    assert [c["choices"][0]["delta"]["content"] for c in received] == ["one", "two"]
    assert caught.value.kind == "stream_cut"
    assert response.outcome == "cut"
    assert len(upstream.seen) == 1


async def test_stream_without_done_but_finished_is_complete(
    upstream: FakeUpstream, openai: tuple[OpenAIProvider, Deployment]
) -> None:
    async def stream(request: web.Request) -> web.StreamResponse:
        return await sse(request, [data(chunk({"content": "x"})), data(chunk({}, "stop"))])

    upstream.handler = stream
    response = await openai[0].chat(chat_call(stream=True), openai[1])
    assert len(await collect(response)) == 2
    assert response.outcome == "complete"


async def test_no_first_token_in_time_is_a_timeout_from_chat(
    upstream: FakeUpstream, openai: tuple[OpenAIProvider, Deployment]
) -> None:
    async def stalled(request: web.Request) -> web.StreamResponse:
        # The role chunk is not content: the first-token clock keeps running.
        blocks = [data(chunk({"role": "assistant"})), data(chunk({"content": "late"}))]
        return await sse(request, blocks, delay=0.25)

    upstream.handler = stalled
    provider, deployment = make(f"{upstream.url}/v1", read=5, first_token=0.1)
    started = time.perf_counter()
    try:
        error = await failure(provider, deployment, chat_call(stream=True))
    finally:
        await provider.aclose()
    assert error.kind == "timeout"
    assert time.perf_counter() - started < 1
    assert len(upstream.seen) == 1


async def test_connections_are_reused_after_whole_and_streamed_answers(
    upstream: FakeUpstream, openai: tuple[OpenAIProvider, Deployment]
) -> None:
    # Whole answers and streams have a pool each (the lean client and aiohttp).
    peers: dict[bool, set[Any]] = {False: set(), True: set()}

    async def answer(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        streamed = bool(upstream.seen[-1].body.get("stream"))
        peers[streamed].add(request.transport.get_extra_info("peername"))
        if streamed:
            # The body's end comes a moment after [DONE]: the connection is reused
            # only if the provider waits for it.
            blocks = [data(chunk({"content": "x"}, "stop")), b"data: [DONE]\n\n"]
            return await sse(request, blocks, delay=0.02)
        return web.json_response(COMPLETION)

    upstream.handler = answer
    provider, deployment = openai
    for stream in (False, True, True, False):
        response = await provider.chat(chat_call(stream=stream), deployment)
        if stream:
            await collect(response)
    assert len(upstream.seen) == 4
    assert len(peers[False]) == 1
    assert len(peers[True]) == 1


# --- the HTTP plumbing --------------------------------------------------------------


def test_sse_decoder_handles_split_lines_comments_and_multiline_data() -> None:
    decoder = SSEDecoder()
    stream = (
        b": hello\n\nevent: ping\ndata: {}\n\n"
        b"data: line one\ndata: line two\r\n\r\n"
        b"id: 4\nretry: 10\ndata: last"
    )
    events = []
    for i in range(len(stream)):
        events.extend(decoder.feed(stream[i : i + 1]))
    events.extend(decoder.close())
    assert events == [
        ("ping", b"{}"),
        ("message", b"line one\nline two"),
        ("message", b"last"),
    ]


def test_retry_after_reads_seconds_dates_and_milliseconds() -> None:
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert retry_after({"retry-after": "3"}) == 3.0
    assert retry_after({"retry-after-ms": "250", "retry-after": "3"}) == 0.25
    assert 28 <= (retry_after({"retry-after": future}) or 0) <= 30
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({"retry-after": "nan"}) is None
    assert retry_after({}) is None


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'{"error": {"message": "openai says"}}', "openai says"),
        (
            b'{"type": "error", "error": {"type": "x", "message": "anthropic says"}}',
            "anthropic says",
        ),
        (b'{"error": "tgi says", "error_type": "overloaded"}', "tgi says"),
        (b'{"object": "error", "message": "vllm says"}', "vllm says"),
        (b"Bad Gateway", "Bad Gateway"),
        (b"<html><body>502</body></html>", "d answered HTTP 502"),
        (b"", "d answered HTTP 502"),
    ],
)
def test_status_failure_keeps_the_upstreams_message(payload: bytes, message: str) -> None:
    error = status_failure(502, {}, payload, "d")
    assert (error.kind, error.upstream_status, error.message) == ("status", 502, message)
    assert orjson.dumps(error.to_openai())  # renders
