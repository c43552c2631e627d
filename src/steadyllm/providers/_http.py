"""HTTP plumbing shared by the providers: pooled connections, SSE, and failure mapping.

This module owns the providers' HTTP: whole answers go through the lean client in
:mod:`steadyllm.providers._wire`, streams through aiohttp. Whatever goes wrong on the
wire leaves it as :class:`~steadyllm.errors.UpstreamFailure` with a ``kind`` the
retry, breaker and fallback stages can act on::

    refused, DNS, bad URL                         -> "connect"
    connect / read / total timeout                -> "timeout"
    server disconnected, reset, truncated body    -> "reset"
    non-2xx answer                                -> "status" (+ upstream_status, retry_after)
    2xx answer we cannot read                     -> "malformed"
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import math
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any

import aiohttp
import orjson
from yarl import URL

from steadyllm.call import Call
from steadyllm.config import DeploymentSettings
from steadyllm.errors import GatewayError, UpstreamFailure
from steadyllm.providers._wire import (
    BadResponse,
    ConnectFailed,
    WirePool,
    encode_headers,
    request_bytes,
    target_of,
)

__all__ = [
    "SSEDecoder",
    "UpstreamHttp",
    "drain",
    "retry_after",
    "sse_events",
    "status_failure",
    "trace_headers",
    "upstream_errors",
]

_USER_AGENT = "steadyllm"
_TRACE_HEADERS = ("traceparent", "tracestate")
_DRAIN_SECONDS = 0.1  # how long a finished stream may take to send its terminator
_MAX_MESSAGE = 1000  # characters of an upstream error message worth keeping
_KEEPALIVE_SECONDS = 30.0  # how long an idle pooled connection is kept
_MAX_REDIRECTS = 10  # aiohttp's default
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CREDENTIALS = frozenset({"authorization", "x-api-key"})  # not sent to another origin


class UpstreamHttp:
    """One provider's connection pool to its upstream.

    The session is created on first use, inside the running loop (aiohttp binds a
    session to the loop that creates it), and reused for every call so keep-alive
    connections spare a TCP and TLS handshake per request.
    """

    def __init__(self, settings: DeploymentSettings, headers: Mapping[str, str]) -> None:
        self._settings = settings
        # settings.headers last: the operator may override anything, e.g. a beta flag.
        self._headers = {
            "content-type": "application/json",
            "user-agent": _USER_AGENT,
            **headers,
            **settings.headers,
        }
        self._session: aiohttp.ClientSession | None = None
        # Whole answers go through the lean client (_wire), streams through aiohttp.
        # The lean client's header lines are encoded once, with the Accept and
        # Accept-Encoding that aiohttp adds to its own requests.
        wire_headers = {"accept": "*/*", "accept-encoding": "gzip, deflate", **self._headers}
        self._wire_headers = wire_headers
        self._wire_block = encode_headers(wire_headers)
        timeout = settings.timeout
        self._wire = WirePool(
            limit=settings.max_connections,
            connect_timeout=timeout.connect,
            read_timeout=timeout.read,
            total_timeout=timeout.total,
            keepalive=_KEEPALIVE_SECONDS,
        )

    @property
    def open_connections(self) -> int:
        """Connections to the upstream open now (idle kept-alive ones included)."""
        count = self._wire.open_connections
        session = self._session
        if session is not None and not session.closed:
            connector = session.connector
            if isinstance(connector, aiohttp.BaseConnector):
                count += sum(len(c) for c in connector._conns.values())
                count += len(connector._acquired)
        return count

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = self._settings.timeout
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._settings.max_connections, keepalive_timeout=_KEEPALIVE_SECONDS
                ),
                timeout=aiohttp.ClientTimeout(
                    total=timeout.total, connect=timeout.connect, sock_read=timeout.read
                ),
                headers=self._headers,
                raise_for_status=False,
            )
        return self._session

    async def request_json(
        self,
        method: str,
        url: str,
        *,
        deployment: str,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request and return its decoded JSON body.

        Redirects are followed as aiohttp follows them (at most 10; a 303, or a 301 or
        302 to a POST, becomes a GET without a body; credentials are not sent to
        another origin).
        """
        data = orjson.dumps(body) if body is not None else None
        with upstream_errors(deployment):
            target = target_of(url)
            sent = {**self._wire_headers, **headers} if headers else None
            block = encode_headers(sent) if sent is not None else self._wire_block
            deadline = None  # set by the first request: ``total`` bounds every redirect
            for _ in range(_MAX_REDIRECTS + 1):
                request = request_bytes(method, target, block, data)
                if deadline is None:
                    deadline = asyncio.get_running_loop().time() + self._settings.timeout.total
                answer = await self._wire.request(target, request, deadline)
                location = answer.headers.get("location")
                if answer.status not in _REDIRECTS or not location:
                    break
                if answer.status == 303 or (answer.status in (301, 302) and method == "POST"):
                    method, data = "GET", None
                parsed = URL(location)
                if parsed.scheme not in ("", "http", "https"):
                    raise BadResponse(f"a redirect to a URL that is not HTTP: {location[:200]}")
                base = URL(url)
                following = base.join(parsed) if not parsed.absolute else parsed
                if following.origin() != base.origin():
                    kept = (sent or self._wire_headers).items()
                    sent = {k: v for k, v in kept if k.lower() not in _CREDENTIALS}
                    block = encode_headers(sent)
                url = str(following)
                target = target_of(url)
            else:
                raise BadResponse(f"more than {_MAX_REDIRECTS} redirects")
            if not 200 <= answer.status < 300:
                raise status_failure(answer.status, answer.headers, answer.body, deployment)
            return orjson.loads(answer.body)

    @asynccontextmanager
    async def stream(
        self,
        url: str,
        body: Mapping[str, Any],
        *,
        deployment: str,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """POST ``body`` and hold the 2xx response open for reading its stream.

        A non-2xx answer is read whole and raised as a ``status`` failure. Failures
        while reading the yielded response are the caller's to map (see
        :func:`upstream_errors`).
        """
        with upstream_errors(deployment):
            session = self._open_session()
            response = await session.post(url, data=orjson.dumps(body), headers=headers)
        try:
            if not 200 <= response.status < 300:
                with upstream_errors(deployment):
                    payload = await response.read()
                raise status_failure(response.status, response.headers, payload, deployment)
            yield response
        finally:
            response.release()

    async def aclose(self) -> None:
        self._wire.close()
        if self._session is not None:
            await self._session.close()
            self._session = None


@contextmanager
def upstream_errors(deployment: str | None) -> Iterator[None]:
    """Raise anything the wire throws inside the block as ``UpstreamFailure``.

    Shape errors (``ValueError``, ``KeyError``, ...) count as a malformed answer:
    they come from decoding or reading a body that is not what the API promises.
    """
    who = deployment or "upstream"
    try:
        yield
    except GatewayError:
        raise
    # TimeoutError first: aiohttp's timeout errors are also connection/OS errors.
    except TimeoutError as exc:
        raise UpstreamFailure(
            f"{who} timed out{_detail(exc)}", kind="timeout", deployment=deployment
        ) from exc
    except (
        aiohttp.ClientConnectorError,
        aiohttp.InvalidURL,
        ConnectionRefusedError,
        ConnectFailed,
    ) as exc:
        raise UpstreamFailure(
            f"cannot connect to {who}{_detail(exc)}", kind="connect", deployment=deployment
        ) from exc
    except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, OSError) as exc:
        raise UpstreamFailure(
            f"connection to {who} broke{_detail(exc)}", kind="reset", deployment=deployment
        ) from exc
    except (aiohttp.ClientResponseError, BadResponse) as exc:  # unreadable HTTP framing
        raise UpstreamFailure(
            f"{who} sent an unreadable response{_detail(exc)}",
            kind="malformed",
            deployment=deployment,
        ) from exc
    except aiohttp.ClientError as exc:
        raise UpstreamFailure(
            f"request to {who} failed{_detail(exc)}", kind="reset", deployment=deployment
        ) from exc
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise UpstreamFailure(
            f"{who} sent a body we cannot read{_detail(exc)}",
            kind="malformed",
            deployment=deployment,
        ) from exc


def _detail(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f": {text[:_MAX_MESSAGE]}"


def status_failure(
    status: int, headers: Mapping[str, str], payload: bytes, deployment: str | None
) -> UpstreamFailure:
    """The failure for a non-2xx answer, keeping the upstream's own message and code."""
    message, code, param = _error_detail(payload)
    return UpstreamFailure(
        message or f"{deployment or 'upstream'} answered HTTP {status}",
        kind="status",
        deployment=deployment,
        upstream_status=status,
        retry_after=retry_after(headers),
        code=code,
        param=param,
    )


def _error_detail(payload: bytes) -> tuple[str | None, str | None, str | None]:
    """(message, code, param) from an error body in the OpenAI, Anthropic or TGI shape."""
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        text = payload[:_MAX_MESSAGE].decode("utf-8", "replace").strip()
        # An HTML error page says nothing a client can use.
        return (text if text and not text.startswith("<") else None), None, None
    if not isinstance(body, dict):
        return None, None, None
    error = body.get("error")
    if isinstance(error, dict):  # {"error": {"message", "code", "param"}}, Anthropic too
        message = error.get("message")
        code = error.get("code")
        param = error.get("param")
        return (
            _text(message),
            code if isinstance(code, str) else None,
            param if isinstance(param, str) else None,
        )
    if isinstance(error, str):  # TGI: {"error": "...", "error_type": "..."}
        return _text(error), None, None
    for key in ("message", "detail"):  # vLLM, FastAPI-style servers
        if isinstance(body.get(key), str):
            return _text(body[key]), None, None
    return None, None, None


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value[:_MAX_MESSAGE]
    return None


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    milliseconds = _seconds(headers.get("retry-after-ms"))
    if milliseconds is not None:
        return milliseconds / 1000
    value = headers.get("retry-after")
    if not value:
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT even when written with "-0000"
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, when.timestamp() - time.time())


def _seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return max(0.0, number) if math.isfinite(number) else None


def trace_headers(call: Call) -> dict[str, str] | None:
    """The W3C trace context of the incoming request, to carry upstream."""
    found = {name: call.headers[name] for name in _TRACE_HEADERS if name in call.headers}
    return found or None


class SSEDecoder:
    """Server-sent events from bytes as they arrive, as ``(event, data)`` pairs.

    Lines may be split anywhere across chunks; ``:`` comments, ``id`` and
    ``retry`` fields are skipped; multi-line ``data`` is joined with ``\\n``.
    ``data`` stays bytes: orjson decodes bytes directly.
    """

    __slots__ = ("_data", "_event", "_pending")

    def __init__(self) -> None:
        self._pending: list[bytes] = []  # the start of a line whose end has not arrived
        self._event = ""
        self._data: list[bytes] = []

    def feed(self, block: bytes) -> list[tuple[str, bytes]]:
        if b"\n" not in block:  # joined once its line ends, not on every block
            self._pending.append(block)
            return []
        if self._pending:
            self._pending.append(block)
            block = b"".join(self._pending)
            self._pending = []
        lines = block.split(b"\n")
        tail = lines.pop()
        if tail:
            self._pending.append(tail)
        events: list[tuple[str, bytes]] = []
        for line in lines:
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def close(self) -> list[tuple[str, bytes]]:
        """Events still held at the end of the body.

        Lenient on purpose: a last event without its blank line (some local servers
        end that way) is still delivered.
        """
        events: list[tuple[str, bytes]] = []
        for line in (b"".join(self._pending), b""):
            event = self._line(line)
            if event is not None:
                events.append(event)
        self._pending = []
        return events

    def _line(self, line: bytes) -> tuple[str, bytes] | None:
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            if not self._data:
                self._event = ""
                return None
            event = (self._event or "message", b"\n".join(self._data))
            self._event = ""
            self._data = []
            return event
        if line.startswith(b":"):
            return None
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        return None


async def sse_events(
    response: aiohttp.ClientResponse, deployment: str | None = None
) -> AsyncIterator[tuple[str, bytes]]:
    """The events of an SSE response; wire failures are raised as ``UpstreamFailure``."""
    decoder = SSEDecoder()
    with upstream_errors(deployment):
        async for block in response.content.iter_any():
            for event in decoder.feed(block):
                yield event
        for event in decoder.close():
            yield event


async def drain(response: aiohttp.ClientResponse) -> None:
    """Read what is left after a stream's end marker, so its connection can be reused.

    A connection goes back to the pool only once the body is read to its end; a
    server that keeps the stream open past its marker costs us that connection,
    never the caller's time.
    """
    if response.content.at_eof():
        return
    with suppress(TimeoutError, aiohttp.ClientError, OSError):
        await asyncio.wait_for(response.content.read(), _DRAIN_SECONDS)
