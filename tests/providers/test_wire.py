"""The lean HTTP/1.1 client for whole answers (``providers/_wire.py``), byte by byte.

A raw TCP server answers each request with the bytes a test gives, so framings the
fake aiohttp upstream never produces (chunked, gzip, close-delimited, broken status
lines, interim answers) are checked too, through ``UpstreamHttp.request_json`` and
its failure mapping.
"""

from __future__ import annotations

import asyncio
import gzip
import ssl
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
import trustme

from steadyllm.config import DeploymentSettings, TimeoutSettings
from steadyllm.errors import UpstreamFailure
from steadyllm.providers import _wire
from steadyllm.providers._http import UpstreamHttp

Reply = Callable[[bytes, asyncio.StreamWriter], Any]


class RawServer:
    """Reads each request (head + Content-Length body), answers with ``reply``."""

    def __init__(self) -> None:
        self.reply: Reply = lambda request, writer: writer.write(ok(b"{}"))
        self.requests: list[bytes] = []
        self.connections = 0
        self.port = 0
        self.scheme = "http"
        self._server: asyncio.Server | None = None
        self._open: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}

    async def start(self, tls: ssl.SSLContext | None = None) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=tls)
        self.port = self._server.sockets[0].getsockname()[1]
        self.scheme = "https" if tls is not None else "http"
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._open[task] = writer
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                result = self.reply(request, writer)
                if asyncio.iscoroutine(result):
                    await result
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self._open.pop(task, None)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task, writer in list(self._open.items()):  # kept-alive connections end too
            writer.close()
            await asyncio.wait({task}, timeout=1)
        if self._server is not None:
            await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/v1/chat/completions?api-version=1"


def ok(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.fixture
async def server() -> AsyncIterator[RawServer]:
    raw = await RawServer().start()
    yield raw
    await raw.close()


def client(max_connections: int = 10, **timeout: float) -> UpstreamHttp:
    settings = DeploymentSettings(
        provider="openai",
        model="up",
        api_base="http://unused/v1",
        max_connections=max_connections,
        headers={"x-extra": "1"},
        timeout=TimeoutSettings(**({"connect": 1.0, "read": 0.5, "total": 2.0} | timeout)),
    )
    return UpstreamHttp(settings, {"authorization": "Bearer sk-test"})


async def call(http: UpstreamHttp, url: str, **kwargs: Any) -> Any:
    return await http.request_json("POST", url, deployment="d", body={"a": 1}, **kwargs)


async def failure(http: UpstreamHttp, url: str) -> UpstreamFailure:
    with pytest.raises(UpstreamFailure) as caught:
        await call(http, url)
    return caught.value


async def test_request_on_the_wire_and_connection_reuse(server: RawServer) -> None:
    http = client()
    try:
        for _ in range(3):
            assert await call(http, server.url, headers={"traceparent": "00-abc-def-01"}) == {}
        assert http.open_connections == 1
    finally:
        await http.aclose()
    assert server.connections == 1
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v1/chat/completions?api-version=1 HTTP/1.1"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers["Host"] == f"127.0.0.1:{server.port}"
    assert headers["authorization"] == "Bearer sk-test"
    assert headers["x-extra"] == "1"
    assert headers["traceparent"] == "00-abc-def-01"
    assert headers["content-type"] == "application/json"
    assert headers["accept-encoding"] == "gzip, deflate"
    assert headers["Content-Length"] == str(len(body))
    assert orjson.loads(body) == {"a": 1}


async def test_chunked_gzip_and_close_delimited_bodies(server: RawServer) -> None:
    payload = orjson.dumps({"choices": [], "text": "x" * 5000})
    packed = gzip.compress(payload)
    answers = [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in (payload[:7], payload[7:]))
        + b"0\r\nx-trailer: 1\r\n\r\n",
        ok(packed, "Content-Encoding: gzip"),
        ok(zlib.compress(payload), "Content-Encoding: deflate"),
        b"HTTP/1.1 100 Continue\r\n\r\n" + ok(payload),
        b"HTTP/1.0 200 OK\r\n\r\n" + payload,  # ends with the connection
    ]

    async def reply(request: bytes, writer: asyncio.StreamWriter) -> None:
        answer = answers[len(server.requests) - 1]
        for at in range(0, len(answer), 100):  # in pieces, as a slow network delivers
            writer.write(answer[at : at + 100])
            await writer.drain()
        if answer.startswith(b"HTTP/1.0"):
            writer.close()

    server.reply = reply
    http = client()
    try:
        for _ in answers:
            assert await call(http, server.url) == orjson.loads(payload)
    finally:
        await http.aclose()
    assert server.connections == 1  # kept alive until the HTTP/1.0 answer


async def test_error_status_keeps_headers_and_body(server: RawServer) -> None:
    error = orjson.dumps({"error": {"message": "slow down", "code": "rate"}})
    server.reply = lambda request, writer: writer.write(
        ok(error, "Retry-After: 3", status="429 Too Many Requests")
    )
    http = client()
    try:
        failed = await failure(http, server.url)
    finally:
        await http.aclose()
    assert (failed.kind, failed.upstream_status, failed.retry_after) == ("status", 429, 3.0)
    assert (failed.message, failed.code) == ("slow down", "rate")


@pytest.mark.parametrize(
    "answer",
    [
        b"SPDY/3 200 OK\r\n\r\n",
        b"HTTP/1.1 OK\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\n{}",
        # llhttp refuses both framings at once (the old hand parser took the chunks)
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\n{}\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Name: 1\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n",
        # a head that never ends: refused past 64 KiB rather than read until a timeout
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (70 * 1024),
    ],
)
async def test_unreadable_framing_is_malformed(server: RawServer, answer: bytes) -> None:
    server.reply = lambda request, writer: writer.write(answer)
    http = client()
    try:
        failed = await failure(http, server.url)
    finally:
        await http.aclose()
    assert failed.kind == "malformed"
    assert http.open_connections == 0  # a connection in an unknown state is not reused


async def test_interim_answers_are_skipped_and_surplus_bytes_end_the_connection(
    server: RawServer,
) -> None:
    hints = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
    answers = [
        hints + ok(b'{"n": 1}', "X-Final: 1"),
        ok(b'{"n": 2}') + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",  # two answers
        b'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{"n": 3}',  # until the end
    ]

    def reply(request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(answers[len(server.requests) - 1])
        if b"Connection: close" in answers[len(server.requests) - 1]:
            writer.close()

    server.reply = reply
    http = client()
    try:
        assert await call(http, server.url) == {"n": 1}
        assert http.open_connections == 1
        assert await call(http, server.url) == {"n": 2}  # the answer asked for is kept
        assert http.open_connections == 0  # the connection, out of step, is not
        assert await call(http, server.url) == {"n": 3}
        assert http.open_connections == 0
    finally:
        await http.aclose()
    assert server.connections == 2


async def test_truncated_body_is_a_reset(server: RawServer) -> None:
    def reply(request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")
        writer.close()

    server.reply = reply
    http = client()
    try:
        failed = await failure(http, server.url)
    finally:
        await http.aclose()
    assert failed.kind == "reset"


async def test_a_stalled_body_is_a_read_timeout_and_total_bounds_a_trickle(
    server: RawServer,
) -> None:
    async def stall(request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")
        await asyncio.sleep(3)

    async def trickle(request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(30):  # a byte every 0.1 s: never a read timeout, but too long
            await writer.drain()
            writer.write(b" ")
            await asyncio.sleep(0.1)

    http = client(read=0.3, total=1.0)
    try:
        for reply, at_most in ((stall, 0.9), (trickle, 1.6)):
            server.reply = reply
            started = asyncio.get_running_loop().time()
            failed = await failure(http, server.url)
            assert failed.kind == "timeout"
            assert asyncio.get_running_loop().time() - started < at_most
    finally:
        await http.aclose()


async def test_the_pool_waits_for_a_free_connection_within_connect(server: RawServer) -> None:
    async def slow(request: bytes, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.2)
        writer.write(ok(b"{}"))

    server.reply = slow
    http = client(max_connections=2)
    try:
        answers = await asyncio.gather(*(call(http, server.url) for _ in range(6)))
        assert answers == [{}] * 6
        assert server.connections == 2
        server.reply = lambda request, writer: asyncio.sleep(5)
        tight = client(max_connections=1, connect=0.3, read=5, total=10)
        try:
            first = asyncio.ensure_future(call(tight, server.url))
            await asyncio.sleep(0.05)
            failed = await failure(tight, server.url)  # no free connection within 0.3 s
            assert failed.kind == "timeout"
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
            assert tight.open_connections == 0  # a cancelled request's connection is closed
        finally:
            await tight.aclose()
    finally:
        await http.aclose()


async def test_refused_and_invalid_urls_are_connect_failures(server: RawServer) -> None:
    http = client()
    await server.close()
    try:
        for url in (server.url, "ftp://example.invalid/x", "http:///nohost"):
            failed = await failure(http, url)
            assert failed.kind == "connect", url
    finally:
        await http.aclose()


async def test_a_header_with_a_line_break_is_refused(server: RawServer) -> None:
    http = client()
    try:
        with pytest.raises(UpstreamFailure) as caught:
            await call(http, server.url, headers={"traceparent": "x\r\nx-injected: 1"})
    finally:
        await http.aclose()
    assert caught.value.kind == "malformed"
    assert server.requests == []


async def test_tls_is_verified_against_the_trusted_authorities(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    authority = trustme.CA()
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(served)
    raw = await RawServer().start(tls=served)
    try:
        untrusting = client()
        monkeypatch.setattr(_wire, "_SSL", None)  # the default context: the system's CAs
        try:
            failed = await failure(untrusting, raw.url)
        finally:
            await untrusting.aclose()
        assert failed.kind == "connect"
        assert raw.requests == []

        trusting = ssl.create_default_context()
        authority.configure_trust(trusting)
        monkeypatch.setattr(_wire, "_SSL", trusting)
        http = client()
        try:
            assert await call(http, raw.url) == {}
            assert await call(http, raw.url) == {}
        finally:
            await http.aclose()
        assert raw.connections == 1  # the refused handshake never got that far
        assert len(raw.requests) == 2
    finally:
        await raw.close()


async def test_redirects_are_followed_as_aiohttp_follows_them(server: RawServer) -> None:
    other = await RawServer().start()  # another origin: credentials stay behind
    path = "/v1/chat/completions?api-version=1"
    hops = [
        ok(b"", "Location: /moved", status="307 Temporary Redirect"),
        ok(b"", f"Location: http://127.0.0.1:{other.port}/elsewhere", status="302 Found"),
    ]
    server.reply = lambda request, writer: writer.write(hops[len(server.requests) - 1])
    other.reply = lambda request, writer: writer.write(ok(b'{"done": true}'))
    http = client()
    try:
        assert await call(http, server.url) == {"done": True}
        assert server.requests[0].startswith(f"POST {path} HTTP/1.1".encode())
        assert server.requests[1].startswith(b"POST /moved HTTP/1.1")
        assert server.requests[1].endswith(b'{"a":1}')  # 307: same method, same body
        moved = other.requests[0]
        assert moved.startswith(b"GET /elsewhere HTTP/1.1")  # 302 after a POST: a GET
        assert b"authorization" not in moved.lower()
        assert b"x-extra: 1" in moved

        server.requests.clear()
        server.reply = lambda request, writer: writer.write(
            ok(b"", "Location: /again", status="308 Permanent Redirect")
        )
        failed = await failure(http, server.url)
        assert failed.kind == "malformed"  # a redirect loop
        assert len(server.requests) == 11
    finally:
        await http.aclose()
        await other.close()
