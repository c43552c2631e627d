"""Bad input at the edges, against a live gateway: bodies too large (declared or chunked),
nesting deep enough to break a parser, invalid UTF-8, JSON of the wrong shape, NUL
bytes and lone surrogates, clients that trickle headers or a body, and many idle
keep-alive connections. Each refusal is OpenAI-shaped (Anthropic-shaped on
``/v1/messages``), and the gateway keeps serving everyone else meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest

from steadyllm.sim.faults import FaultPlan
from steadyllm.sim.server import SimThread
from tests.gateway_thread import GatewayThread
from tests.resilience.edge_gateway import ADMIN, edge_config
from tests.resilience.tally import Tally, record

MAX_BODY = 64 * 1024
BODY_TIMEOUT = 1.0
KEEPALIVE = 2.0
CHAT = "/v1/chat/completions"
HELLO = {"model": "fast", "messages": [{"role": "user", "content": "hello"}]}
ADMIN_POSTS = (
    "/api/keys",
    "/api/experiments",
    "/api/feedback",
    "/api/lifecycle/versions/register",
    "/api/lifecycle/retraining/start",
    "/api/reliability/shadow/start",
    "/api/reliability/cache/clear",
)


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayThread]:
    server = {
        "max_body_bytes": MAX_BODY,
        "body_read_timeout": BODY_TIMEOUT,
        "keepalive_timeout": KEEPALIVE,
    }
    with SimThread(FaultPlan()) as sim, GatewayThread(edge_config(sim, **server)) as handle:
        yield handle


@pytest.fixture
async def client(gateway: GatewayThread) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        yield http


def openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str)
    assert error["message"]
    return dict(error)


def anthropic_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error"
    assert isinstance(body["error"]["message"], str)
    return dict(body["error"])


async def raw_exchange(port: int, head: bytes, *, timeout: float = 10) -> tuple[int, bytes]:
    """Send ``head`` (request line, headers, maybe part of a body) on a fresh connection;
    the status and body of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        await writer.drain()
        status, body = await read_response(reader, timeout)
    finally:
        writer.close()
    return status, body


async def read_response(reader: asyncio.StreamReader, timeout: float) -> tuple[int, bytes]:
    async with asyncio.timeout(timeout):
        header = await reader.readuntil(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next(
            int(line.split(":", 1)[1])
            for line in lines
            if line.lower().startswith("content-length")
        )
        return status, await reader.readexactly(length)


async def closed_by_server(reader: asyncio.StreamReader, deadline: float) -> bool:
    """True when the server closes the connection (EOF or reset) before ``deadline`` seconds."""
    try:
        async with asyncio.timeout(deadline):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return True


async def test_bodies_over_the_limit_get_413(
    gateway: GatewayThread, client: httpx.AsyncClient
) -> None:
    tally = Tally("edges: bodies over max_body_bytes")
    big = orjson.dumps({**HELLO, "user": "x" * (MAX_BODY + 1)})

    declared = await client.post(CHAT, content=big, headers={"content-type": "application/json"})
    assert openai_error(declared, 413)["code"] == "payload_too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked encoding
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    chunked = await client.post(CHAT, content=chunks())
    assert openai_error(chunked, 413)["code"] == "payload_too_large"
    messages = await client.post("/v1/messages", content=big)
    anthropic_error(messages, 413)
    admin = await client.post("/api/keys", content=big, headers=ADMIN)
    openai_error(admin, 413)

    # A declared length far over the limit is refused before a byte of body is sent.
    head = (
        f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {10**10}\r\n\r\n"
    ).encode()
    status, body = await raw_exchange(gateway.port, head)
    assert status == 413
    assert orjson.loads(body)["error"]["code"] == "payload_too_large"

    under = await client.post(CHAT, json={**HELLO, "user": "x" * (MAX_BODY - 200)})
    assert under.status_code == 200, under.text
    tally.sent, tally.served, tally.failed = 6, 1, 5
    record(tally)


async def test_deep_nesting_is_a_400_and_the_server_stays_up(client: httpx.AsyncClient) -> None:
    tally = Tally("edges: deeply nested JSON")
    bodies = [
        b"[" * 60_000,  # 60k levels (the body limit here is 64 KiB), never closed
        b"[" * 30_000 + b"]" * 30_000,
        b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    ]
    for body in bodies:
        for path in (CHAT, "/v1/embeddings", "/api/keys", "/api/lifecycle/versions/register"):
            response = await client.post(path, content=body, headers=ADMIN)
            openai_error(response, 400)
            tally.sent += 1
            tally.failed += 1
        anthropic_error(await client.post("/v1/messages", content=body), 400)
        tally.sent += 1
        tally.failed += 1

    # Parseable, but deeper than the JSON encoder (and upstreams) will go: refused at
    # the edge, not a 500 when the gateway forwards or records it.
    nested: Any = "leaf"
    for _ in range(600):
        nested = [nested]
    deep_chat = {**HELLO, "tools": [{"type": "function", "function": {"name": "f", "x": nested}}]}
    openai_error(await client.post(CHAT, json=deep_chat), 400)
    deep_messages = {**HELLO, "max_tokens": 5, "metadata": {"user_id": "u", "deep": nested}}
    anthropic_error(await client.post("/v1/messages", json=deep_messages), 400)
    deep_feedback = {"requestId": "r1", "outcomes": {"deep": nested}}
    openai_error(await client.post("/api/feedback", json=deep_feedback, headers=ADMIN), 400)
    tally.sent += 3
    tally.failed += 3

    alive = await client.post(CHAT, json=HELLO)
    assert alive.status_code == 200
    tally.sent += 1
    tally.served += 1
    record(tally)


async def test_invalid_utf8_and_wrong_shapes_are_400(client: httpx.AsyncClient) -> None:
    tally = Tally("edges: invalid UTF-8, wrong JSON shapes")
    invalid = [b'{"model": "fast\xff"}', b"\xc3\x28", b'{"model": "\xed\xa0\x80"}']
    not_objects = [b"[]", b'"text"', b"1", b"null", b"true", b"[1, 2]"]
    for body in invalid + not_objects:
        for path in (CHAT, "/v1/embeddings", *ADMIN_POSTS):
            response = await client.post(path, content=body, headers=ADMIN)
            openai_error(response, 400)
            tally.sent += 1
            tally.failed += 1
        anthropic_error(await client.post("/v1/messages", content=body), 400)
        tally.sent += 1
        tally.failed += 1

    wrong_types: list[tuple[str, dict[str, Any], str | None]] = [
        (CHAT, {"model": 1, "messages": HELLO["messages"]}, "model"),
        (CHAT, {"model": "fast", "messages": "hello"}, "messages"),
        (CHAT, {**HELLO, "temperature": "hot"}, "temperature"),
        (CHAT, {**HELLO, "max_tokens": -1}, "max_tokens"),
        (CHAT, {**HELLO, "stream": "yes"}, "stream"),
        (CHAT, {"model": "fast", "messages": [{"role": "user", "content": 5}]}, None),
        (CHAT, {"model": "fast", "messages": [{"role": "user", "content": [None]}]}, None),
        ("/v1/embeddings", {"model": "embed", "input": [1, "a"]}, "input"),
        ("/api/keys", {"tenant": 5}, "tenant"),
        ("/api/keys", {"limits": {"requests_per_minute": "many"}}, None),
        ("/api/feedback", {"requestId": "r", "rating": "good"}, "rating"),
        ("/api/feedback", {"requestId": "r", "timestamp": "yesterday"}, "timestamp"),
        ("/api/feedback", {"requestId": "r", "version": "two"}, "version"),
        ("/api/experiments", {"name": "n", "route": "fast", "arms": 3}, "arms"),
        ("/api/reliability/shadow/start", {"shadowVariant": ["a"]}, "shadowVariant"),
    ]
    for path, body, param in wrong_types:
        error = openai_error(await client.post(path, json=body, headers=ADMIN), 400)
        if param is not None:
            assert error["param"] == param, (path, body, error)
        tally.sent += 1
        tally.failed += 1
    record(tally)


async def test_nul_bytes_and_lone_surrogates(client: httpx.AsyncClient) -> None:
    tally = Tally("edges: NUL bytes, lone surrogates")
    nul = {"model": "fast", "messages": [{"role": "user", "content": "a\u0000b"}], "user": "\u0000"}
    served = await client.post(CHAT, json=nul)  # a NUL is a valid JSON string character
    assert served.status_code == 200, served.text
    nul_messages = {**nul, "max_tokens": 5}
    del nul_messages["user"]
    messages = await client.post("/v1/messages", json=nul_messages)
    assert messages.status_code == 200, messages.text
    key = await client.post("/api/keys", json={"name": "n\u0000ul"}, headers=ADMIN)
    assert key.status_code == 201, key.text
    tally.sent, tally.served = 3, 3

    # A lone surrogate escape is not a Unicode string; neither are encoded surrogates.
    for body in (
        b'{"model": "fast", "messages": [{"role": "user", "content": "\\ud800"}]}',
        b'{"model": "fast", "messages": [{"role": "user", "content": "\\udfff x"}]}',
        b'{"model": "fast", "messages": [{"role": "user", "content": "\xed\xb0\x80"}]}',
    ):
        openai_error(await client.post(CHAT, content=body), 400)
        anthropic_error(await client.post("/v1/messages", content=body), 400)
        openai_error(await client.post("/api/feedback", content=body, headers=ADMIN), 400)
        tally.sent += 3
        tally.failed += 3

    calls = await client.get("/api/calls", params={"flush": "true", "limit": "1000"}, headers=ADMIN)
    ids = {r["request_id"] for r in calls.json()["data"]}
    missing = [r.headers["x-request-id"] for r in (served, messages)]
    tally.records_lost = len([rid for rid in missing if rid not in ids])
    assert tally.records_lost == 0
    record(tally)


async def test_slow_clients_are_cut_off_without_blocking_others(
    gateway: GatewayThread, client: httpx.AsyncClient
) -> None:
    tally = Tally("edges: slowloris (headers, body)")
    body = orjson.dumps(HELLO)

    async def trickle_body() -> tuple[int, bytes, bool, float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        head = f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
        writer.write(head.encode())
        started = time.monotonic()
        answer: asyncio.Task[tuple[int, bytes]] = asyncio.create_task(
            read_response(reader, BODY_TIMEOUT + 10)
        )
        for byte in body[:-1]:  # one byte every 0.2 s: the whole body would take ~10 s
            if answer.done():
                break
            try:
                writer.write(bytes([byte]))
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.wait([answer], timeout=0.2)
        status, text = await answer
        elapsed = time.monotonic() - started
        closed = await closed_by_server(reader, 5)
        writer.close()
        return status, text, closed, elapsed

    async def trickle_headers() -> tuple[bool, float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        started = time.monotonic()
        request = f"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Slow: {'a' * 200}\r\n\r\n".encode()
        closed = False
        for byte in request[:-2]:  # never finishes the headers
            try:
                writer.write(bytes([byte]))
                await writer.drain()
            except ConnectionError:
                closed = True
                break
            if reader.at_eof():
                closed = True
                break
            await asyncio.sleep(0.05)
            if time.monotonic() - started > KEEPALIVE + 10:
                break
        if not closed:
            closed = await closed_by_server(reader, 1)
        writer.close()
        return closed, time.monotonic() - started

    async def others() -> list[int]:
        statuses = []
        for _ in range(10):
            statuses.append((await client.post(CHAT, json=HELLO)).status_code)
            await asyncio.sleep(0.1)
        return statuses

    slow_body, slow_headers, served = await asyncio.gather(
        trickle_body(), trickle_headers(), others()
    )
    status, text, closed, elapsed = slow_body
    assert status == 408, text
    assert orjson.loads(text)["error"]["code"] == "request_timeout"
    assert closed, "the connection of a client that timed out must be closed"
    assert elapsed < BODY_TIMEOUT + 5
    headers_closed, headers_elapsed = slow_headers
    assert headers_closed, "a client that never finishes its headers must be cut off"
    assert headers_elapsed < KEEPALIVE + 10
    assert served == [200] * 10  # everyone else was served while the slow clients hung on
    tally.sent, tally.served, tally.failed = 12, 10, 2
    tally.notes = {
        "body_cut_after_s": round(elapsed, 2),
        "headers_cut_after_s": round(headers_elapsed, 2),
    }
    record(tally)


async def test_many_idle_keepalive_connections(
    gateway: GatewayThread, client: httpx.AsyncClient
) -> None:
    tally = Tally("edges: idle keep-alive connections")
    count = 300
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    for index in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        if index % 2:  # half served once then idle, half never send a byte
            writer.write(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            status, _ = await read_response(reader, 10)
            assert status == 200
            tally.served += 1
        idle.append((reader, writer))
    tally.sent = count // 2

    while_idle = await client.post(CHAT, json=HELLO)  # a fresh client is served meanwhile
    assert while_idle.status_code == 200
    tally.sent += 1
    tally.served += 1

    closed = await asyncio.gather(*(closed_by_server(reader, KEEPALIVE + 10) for reader, _ in idle))
    for _, writer in idle:
        writer.close()
    assert all(closed), f"{closed.count(False)} idle connections were never closed"
    # A new connection: the server has just closed the shared client's idle one too,
    # and reusing it would race that close.
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as fresh:
        after = await fresh.get("/health/ready")
    assert after.status_code == 200
    tally.notes = {"idle_connections": count, "closed_by_server": closed.count(True)}
    record(tally)
