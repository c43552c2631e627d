"""A lean keep-alive HTTP/1.1 client for whole (non-streamed) upstream answers.

aiohttp's client costs about 250 µs of CPU per request in Python (headers as
multidicts, cookies, tracing hooks, per-request timers and objects); a gateway
worker makes one such request per call, so :class:`UpstreamHttp` sends whole
requests (chat, embeddings, model lists) through this one instead, about 80 µs.
Streams stay on aiohttp. What it speaks:

- HTTP/1.1 over TCP or TLS (the default verified context), one request at a time
  per connection, kept alive and pooled per (scheme, host, port);
- answers read by llhttp, the C parser uvicorn and Node use (``httptools``): framed
  by ``Content-Length``, ``Transfer-Encoding: chunked``, or the connection's end, the
  keep-alive decision llhttp's, interim (1xx) answers skipped, a protocol switch (101),
  heads over 64 KiB and bytes past the answer refused; ``gzip`` and ``deflate`` bodies
  (it asks for them as aiohttp does);
- the deployment's ``connect``, ``read`` and ``total`` timeouts, with one timer per
  request that is moved only when it fires.

Failures leave as the exceptions :func:`~steadyllm.providers._http.upstream_errors`
maps: :class:`ConnectFailed` (``connect``), :class:`BadResponse` (``malformed``),
``TimeoutError`` (``timeout``) and ``ConnectionResetError`` (``reset``).
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import httptools
from yarl import URL

__all__ = ["Answer", "BadResponse", "ConnectFailed", "Target", "WirePool", "target_of"]
__all__ += ["encode_headers", "request_bytes"]

_MAX_HEAD = 64 * 1024  # bytes of status line and headers


class ConnectFailed(Exception):
    """No connection could be made: refused, unreachable, DNS, TLS, a bad URL."""


class BadResponse(Exception):
    """The answer's HTTP framing cannot be read."""


@dataclass(frozen=True, slots=True)
class Target:
    """A URL split once into what a request needs."""

    key: tuple[str, str, int]  # scheme, host, port: the pool a connection belongs to
    host_header: str
    path: str  # path and query, percent-encoded


_TARGETS: dict[str, Target] = {}


def target_of(url: str) -> Target:
    """The parsed form of ``url`` (cached: a provider uses a handful of URLs)."""
    target = _TARGETS.get(url)
    if target is not None:
        return target
    try:
        parsed = URL(url)
    except (TypeError, ValueError) as exc:
        raise ConnectFailed(f"invalid URL {url!r}: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise ConnectFailed(f"invalid URL {url!r}: http:// or https:// with a host is needed")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    host = parsed.raw_host
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if parsed.is_default_port() else f"{shown}:{port}"
    target = Target((parsed.scheme, host, port), host_header, parsed.raw_path_qs or "/")
    if len(_TARGETS) < 1024:
        _TARGETS[url] = target
    return target


@dataclass(slots=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes


class _Connection(asyncio.Protocol):
    """One kept-alive connection: writes a request, reads one answer, repeats.

    Its answers are read by llhttp (``httptools.HttpResponseParser``), which calls the
    ``on_*`` methods below; one parser lasts as long as the connection.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Answer] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0
        self._read_timeout = 0.0
        self._last_read = 0.0
        self._in_head = True  # the final answer's headers have not ended yet
        self._head_bytes = 0  # bytes received while in the head
        self._status = 0
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._done = False  # the answer is whole; set by the parser
        self._keep = False  # llhttp's keep-alive decision for it
        self._switched = False  # a 101: the upstream switched protocols

    # --- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is None or self._waiter.done():
            return
        if exc is None and not self._in_head and self._ends_with_connection():
            self._keep = False  # llhttp has no end-of-input call: the end is ours to see
            self._finish(surplus=False)
            return
        self._fail(ConnectionResetError("the upstream closed the connection mid-answer"))

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # bytes nobody asked for: the connection is unusable
            self.abort()
            return
        self._last_read = self._loop.time()
        if self._in_head:
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            if not self._done:
                self._fail(BadResponse(self._refusal(exc)))
                return
            self._finish(surplus=True)  # bytes after the answer: out of step
            return
        if self._switched:
            self._fail(BadResponse(self._refusal(None)))
        elif self._done:
            self._finish(surplus=False)
        elif self._in_head and self._head_bytes > _MAX_HEAD:
            self._fail(BadResponse("the answer's headers are too long"))

    def eof_received(self) -> bool | None:
        return None  # close; connection_lost ends a body framed by the connection's end

    # --- httptools callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._done:  # a second answer to one request; raising stops the parser
            raise BadResponse("more bytes than the answer")
        self._headers = {}
        self._body = []

    def on_header(self, name: bytes, value: bytes) -> None:
        # a repeated header keeps its last value; llhttp strips leading spaces only
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1").rstrip()

    def on_headers_complete(self) -> None:
        self._status = status = self._parser.get_status_code()
        if status >= 200:
            self._in_head = False

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._status < 200:  # an interim answer (100 Continue, 103): the real one follows
            self._switched = self._status == 101
            return
        self._keep = self._parser.should_keep_alive()
        self._done = True

    # --- a request --------------------------------------------------------------------------

    def request(
        self, data: bytes, *, deadline: float, read_timeout: float
    ) -> asyncio.Future[Answer]:
        waiter: asyncio.Future[Answer] = self._loop.create_future()
        if self.closed or self.transport is None or self.transport.is_closing():
            waiter.set_exception(ConnectionResetError("the upstream closed the connection"))
            return waiter
        self._waiter = waiter
        self._deadline = deadline
        self._read_timeout = read_timeout
        self._last_read = now = self._loop.time()
        self._timer = self._loop.call_at(min(deadline, now + read_timeout), self._on_timer)
        self.transport.write(data)
        return waiter

    def abort(self) -> None:
        """Drop the connection at once (a failed or abandoned answer)."""
        self.close(graceful=False)

    def close(self, *, graceful: bool = True) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.transport is not None:
            if graceful:
                self.transport.close()
            else:
                self.transport.abort()

    def _on_timer(self) -> None:
        self._timer = None
        if self._waiter is None or self._waiter.done():
            return
        now = self._loop.time()
        due = min(self._deadline, self._last_read + self._read_timeout)
        if now < due:
            self._timer = self._loop.call_at(due, self._on_timer)
            return
        total = now >= self._deadline
        self._fail(TimeoutError("total timeout" if total else "no data within the read timeout"))

    def _fail(self, exc: BaseException) -> None:
        waiter, self._waiter = self._waiter, None
        self.abort()
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _finish(self, *, surplus: bool) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiter, self._waiter = self._waiter, None
        status, headers, body = self._status, self._headers, b"".join(self._body)
        self._done = False
        self._in_head = True
        self._head_bytes = 0
        self._body = []
        if surplus:
            self.abort()
        elif not self._keep:
            self.close()
        try:
            body = _decoded(body, headers.get("content-encoding"))
        except BadResponse as exc:
            if waiter is not None and not waiter.done():
                waiter.set_exception(exc)
            return
        if waiter is not None and not waiter.done():
            waiter.set_result(Answer(status, headers, body))

    def _ends_with_connection(self) -> bool:
        """The answer's body is framed by the connection's end (llhttp reads on until it)."""
        if "content-length" in self._headers:
            return False
        coding = self._headers.get("transfer-encoding", "")
        return coding.rpartition(",")[2].strip().lower() != "chunked"

    def _refusal(self, exc: Exception | None) -> str:
        if self._switched:
            return f"an answer that switches protocols ({self._status}), which was not asked for"
        return f"the answer's HTTP framing cannot be read: {exc}"


def _decoded(body: bytes, encoding: str | None) -> bytes:
    if not encoding or encoding == "identity" or not body:
        return body
    encoding = encoding.strip().lower()
    try:
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompress(body, 16 + zlib.MAX_WBITS)
        if encoding == "deflate":  # zlib-wrapped as the spec says, or raw as some servers send
            try:
                return zlib.decompress(body)
            except zlib.error:
                return zlib.decompress(body, -zlib.MAX_WBITS)
    except zlib.error as exc:
        raise BadResponse(f"a {encoding} body that does not decompress: {exc}") from None
    raise BadResponse(f"a body in an encoding that was not asked for: {encoding}")


_SSL: ssl.SSLContext | None = None


def _ssl_context() -> ssl.SSLContext:
    global _SSL
    if _SSL is None:
        _SSL = ssl.create_default_context()
    return _SSL


class WirePool:
    """Kept-alive connections to one upstream's hosts, at most ``limit`` open at once.

    ``request`` sends one request (built by :func:`request_bytes`) on a kept-alive
    connection when one is idle, else on a new one, and returns the whole answer.
    """

    def __init__(
        self,
        *,
        limit: int,
        connect_timeout: float,
        read_timeout: float,
        total_timeout: float,
        keepalive: float = 30.0,
    ) -> None:
        self._limit = limit
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._total_timeout = total_timeout
        self._keepalive = keepalive
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._open = 0  # connections open, connecting, or in use
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._all: set[_Connection] = set()

    @property
    def open_connections(self) -> int:
        """Connections open now: idle kept-alive ones plus those in use or connecting."""
        return self._open

    async def request(self, target: Target, data: bytes, deadline: float | None = None) -> Answer:
        """The answer to ``data``, due by ``deadline`` (loop time; default: ``total`` from now)."""
        loop = asyncio.get_running_loop()
        if deadline is None:
            deadline = loop.time() + self._total_timeout
        connection = self._take_idle(target.key, loop.time())
        if connection is None:
            connection = await self._connect(target, loop, deadline)
        try:
            answer = await connection.request(
                data, deadline=deadline, read_timeout=self._read_timeout
            )
        except BaseException:  # failed, timed out or cancelled mid-answer: never reused
            self._discard(connection, graceful=False)
            raise
        if connection.closed:
            self._discard(connection)
        else:
            connection.idle_since = loop.time()
            self._idle.setdefault(target.key, []).append(connection)
            self._wake()
        return answer

    def _take_idle(self, key: tuple[str, str, int], now: float) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            if connection.closed or now - connection.idle_since > self._keepalive:
                self._discard(connection)
                continue
            return connection
        return None

    async def _connect(
        self, target: Target, loop: asyncio.AbstractEventLoop, deadline: float
    ) -> _Connection:
        budget = min(self._connect_timeout, deadline - loop.time())
        async with asyncio.timeout(budget):
            while self._open >= self._limit:
                if self._evict_idle():
                    continue
                waiter: asyncio.Future[None] = loop.create_future()
                self._waiters.append(waiter)
                try:
                    await waiter
                except BaseException:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)
                    elif waiter.done() and not waiter.cancelled():
                        self._wake()  # woken, then timed out: pass the turn on
                    raise
                found = self._take_idle(target.key, loop.time())
                if found is not None:
                    return found
            self._open += 1
            try:
                return await self._open_connection(target, loop)
            except BaseException:
                self._open -= 1
                self._wake()
                raise

    async def _open_connection(
        self, target: Target, loop: asyncio.AbstractEventLoop
    ) -> _Connection:
        scheme, host, port = target.key
        tls = _ssl_context() if scheme == "https" else None
        try:
            _, connection = await loop.create_connection(
                lambda: _Connection(loop),
                host,
                port,
                ssl=tls,
                server_hostname=host if tls is not None else None,
            )
        except TimeoutError:
            raise
        except (OSError, ssl.SSLError) as exc:
            raise ConnectFailed(str(exc) or type(exc).__name__) from exc
        self._all.add(connection)
        return connection

    def _evict_idle(self) -> bool:
        """Close one idle connection to another host so a new one may open."""
        for idle in self._idle.values():
            if idle:
                self._discard(idle.pop(0))
                return True
        return False

    def _discard(self, connection: _Connection, *, graceful: bool = True) -> None:
        if connection not in self._all:
            return
        self._all.discard(connection)
        connection.close(graceful=graceful)
        self._open -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        for connection in list(self._all):
            self._discard(connection)
        self._idle.clear()


def request_bytes(method: str, target: Target, headers: bytes, body: bytes | None) -> bytes:
    """The request on the wire: request line, Host, ``headers`` (encoded lines), body."""
    parts = [f"{method} {target.path} HTTP/1.1\r\nHost: {target.host_header}\r\n".encode()]
    parts.append(headers)
    if body is not None:
        parts.append(b"Content-Length: %d\r\n\r\n" % len(body))
        parts.append(body)
    else:
        parts.append(b"\r\n")
    return b"".join(parts)


def encode_headers(headers: Mapping[str, str]) -> bytes:
    """``name: value`` lines; a name or value with a line break is refused (ValueError)."""
    lines = []
    for name, value in headers.items():
        text = f"{name}: {value}\r\n"
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
            raise ValueError(f"a line break in the header {name!r}")
        lines.append(text)
    return "".join(lines).encode()
