"""An open-loop, constant-arrival load generator in asyncio.

Request ``i`` is due at ``start + i / rate`` and is sent then, whether or not the
earlier ones have been answered (no coordinated omission: a slow server cannot slow
the arrivals down and hide its own queueing). Latency is measured from the *due*
time, not from the moment the request actually left, so a late send caused by an
overloaded machine counts against the latency too. ``send_lag`` reports how late
the generator itself was, to tell a saturated generator from a slow server.

Two clients:

``raw`` (default)
    A minimal HTTP/1.1 keep-alive client on ``asyncio.Protocol``: a pool of
    connections, one request in flight per connection, the request bytes built once.
    It only reads ``Content-Length`` bodies, which is what the gateway and the
    simulator send for non-streamed answers. It costs a small fraction of a full
    client's CPU, which matters on a small machine where the generator shares the
    cores with the servers it measures.
``aiohttp``
    One pooled ``aiohttp.ClientSession`` with keep-alive; also reads streams and
    reports the time to the first content event (``stream=True``).

Run it alone against any URL::

    python -m benchmarks.loadgen http://127.0.0.1:8080/v1/chat/completions \\
        --rate 500 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import re
import resource
import sys
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

_CONTENT = re.compile(rb'^data: \{.*"content":"[^"]')  # an OpenAI chunk with some text

__all__ = ["CHAT_BODY", "LoadResult", "percentile", "run_load"]

CHAT_BODY: dict[str, Any] = {
    "model": "bench",
    "messages": [{"role": "user", "content": "Say hello in one short sentence."}],
    "max_tokens": 16,
}


def percentile(sorted_values: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of already sorted values, nearest rank."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(slots=True)
class LoadResult:
    """What one run measured. Latencies in milliseconds, sorted."""

    url: str
    rate: float  # offered, requests per second
    duration: float  # measured window, seconds (warm-up excluded)
    sent: int = 0
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    ttft_ms: list[float] = field(default_factory=list)  # streams only
    send_lag_ms: list[float] = field(default_factory=list)  # how late each send left
    header_values: list[float] = field(default_factory=list)  # numeric response header
    answered_in_window: int = 0  # answers (any status) that arrived inside the window
    client_cpu_seconds: float = 0.0  # this process, the whole run

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def achieved_rate(self) -> float:
        return self.answered_in_window / self.duration if self.duration else 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)

    def summary(self) -> dict[str, Any]:
        lag = sorted(self.send_lag_ms)
        out: dict[str, Any] = {
            "url": self.url,
            "rate": self.rate,
            "duration_s": self.duration,
            "sent": self.sent,
            "ok": self.ok,
            "errors": dict(self.errors),
            "achieved_rate": round(self.achieved_rate, 1),
            "p50_ms": round(self.p(50), 3),
            "p95_ms": round(self.p(95), 3),
            "p99_ms": round(self.p(99), 3),
            "max_ms": round(self.p(100), 3),
            "send_lag_p99_ms": round(percentile(lag, 99), 3),
            "client_cpu_us_per_request": round(
                self.client_cpu_seconds / max(1, self.sent) * 1e6, 1
            ),
        }
        if self.ttft_ms:
            ttft = sorted(self.ttft_ms)
            out.update(
                ttft_p50_ms=round(percentile(ttft, 50), 3),
                ttft_p95_ms=round(percentile(ttft, 95), 3),
                ttft_p99_ms=round(percentile(ttft, 99), 3),
            )
        return out


# --- the raw client ------------------------------------------------------------------------


class _Answer:
    __slots__ = ("body", "header", "status")

    def __init__(self, status: int, header: str | None, body: bytes) -> None:
        self.status = status
        self.header = header
        self.body = body


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, header_name: bytes | None) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._header_name = header_name
        self._buffer = bytearray()
        self._waiter: asyncio.Future[_Answer] | None = None
        self._head: tuple[int, str | None, int, bool] | None = None  # status, header, length

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionResetError("server closed the connection"))

    def request(self, data: bytes) -> asyncio.Future[_Answer]:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self._waiter

    def data_received(self, data: bytes) -> None:
        try:
            self._read(data)
        except ValueError as exc:  # an answer this client cannot read: fail the request
            if self.transport is not None:
                self.transport.close()
            self.closed = True
            waiter, self._waiter = self._waiter, None
            if waiter is not None and not waiter.done():
                waiter.set_exception(exc)

    def _read(self, data: bytes) -> None:
        self._buffer += data
        if self._head is None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            self._head = self._parse_head(bytes(self._buffer[:end]))
            del self._buffer[: end + 4]
        status, header, length, keep_alive = self._head
        if len(self._buffer) < length:
            return
        body = bytes(self._buffer[:length])
        del self._buffer[:length]
        self._head = None
        if not keep_alive and self.transport is not None:
            self.transport.close()
            self.closed = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(_Answer(status, header, body))

    def _parse_head(self, head: bytes) -> tuple[int, str | None, int, bool]:
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = -1
        header: str | None = None
        keep_alive = True
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                raise ValueError("the raw client reads Content-Length bodies only")
            elif name == b"connection" and value.strip().lower() == b"close":
                keep_alive = False
            elif self._header_name is not None and name == self._header_name:
                header = value.strip().decode()
        if length < 0:
            raise ValueError("an answer without Content-Length")
        return status, header, length, keep_alive


class _RawClient:
    def __init__(
        self, url: str, body: bytes, headers: Mapping[str, str], header_name: str | None
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http":
            raise ValueError("the raw client speaks plain http:// only")
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        lines = [
            f"POST {path} HTTP/1.1",
            f"Host: {parts.netloc}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        self._request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        self._header_name = header_name.lower().encode() if header_name else None
        self._idle: deque[_Connection] = deque()
        self._all: list[_Connection] = []

    async def _connection(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                return connection
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(
            lambda: _Connection(self._header_name), self._host, self._port
        )
        self._all.append(protocol)
        return protocol

    async def send(self) -> _Answer:
        connection = await self._connection()
        try:
            answer = await connection.request(self._request)
        except BaseException:
            if connection.transport is not None:
                connection.transport.close()
            raise
        if not connection.closed:
            self._idle.append(connection)
        return answer

    async def close(self) -> None:
        for connection in self._all:
            if connection.transport is not None:
                connection.transport.close()


# --- the aiohttp client ------------------------------------------------------------------


class _AiohttpClient:
    def __init__(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        header_name: str | None,
        *,
        stream: bool,
        connections: int = 0,
    ) -> None:
        import aiohttp

        self._url = url
        self._body = body
        self._headers = {"content-type": "application/json", **headers}
        self._header_name = header_name
        self._stream = stream
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections, keepalive_timeout=60),
            timeout=aiohttp.ClientTimeout(total=None),
            auto_decompress=False,
        )

    async def send(
        self, due: float, ttft: list[float] | None, body: bytes | None = None
    ) -> _Answer:
        stream = self._stream if body is None else b'"stream":true' in body
        async with self._session.post(
            self._url, data=self._body if body is None else body, headers=self._headers
        ) as response:
            header = response.headers.get(self._header_name) if self._header_name else None
            if not stream or response.status >= 300:
                return _Answer(response.status, header, await response.read())
            first = True
            async for line in response.content:
                if first and _CONTENT.search(line):
                    first = False
                    if ttft is not None:
                        ttft.append((time.perf_counter() - due) * 1000)
            return _Answer(response.status, header, b"")

    async def close(self) -> None:
        await self._session.close()


# --- the schedule ----------------------------------------------------------------------------


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_load(
    url: str,
    *,
    rate: float,
    duration: float,
    warmup: float = 1.0,
    body: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    client: str = "raw",
    stream: bool = False,
    timeout: float = 10.0,
    header_name: str | None = None,
    check: Callable[[int, bytes], str | None] | None = None,
    expect_status: int = 200,
    bodies: Callable[[int], Mapping[str, Any]] | None = None,
    connections: int = 0,
) -> LoadResult:
    """Offer ``rate`` requests per second for ``warmup + duration`` seconds.

    Only requests due after the warm-up are measured. ``header_name`` collects a
    numeric response header (e.g. the gateway's own ``x-steadyllm-overhead-ms``).
    ``check(status, body)`` may name an error for an answer that is not right;
    ``expect_status`` is the status that counts as an answer (e.g. 503 for a fast fail).
    ``bodies(i)`` gives request ``i`` its own body (aiohttp client; a body with
    ``"stream": true`` is read as a stream), for a mix of prompts in one schedule.
    ``connections`` caps the aiohttp client's pool (0: no cap); past it a due request
    waits for a connection, and that wait counts in its latency.
    """
    payload = orjson.dumps(dict(body or CHAT_BODY))
    extra = dict(headers or {})
    sender: Any
    if client == "raw":
        if stream:
            raise ValueError("streams need --client aiohttp")
        if bodies is not None:
            raise ValueError("per-request bodies need the aiohttp client")
        raw = _RawClient(url, payload, extra, header_name)
        sender = lambda due, ttft, index: raw.send()  # noqa: E731
        closer: Callable[[], Awaitable[None]] = raw.close
    elif client == "aiohttp":
        http = _AiohttpClient(
            url, payload, extra, header_name, stream=stream, connections=connections
        )
        make = bodies

        def sender(due: float, ttft: list[float] | None, index: int) -> Awaitable[_Answer]:
            return http.send(due, ttft, None if make is None else orjson.dumps(make(index)))

        closer = http.close
    else:
        raise ValueError(f"unknown client {client!r} (raw, aiohttp)")

    result = LoadResult(url=url, rate=rate, duration=duration)
    total = int((warmup + duration) * rate)
    measured_from = int(warmup * rate)
    interval = 1.0 / rate
    pending: set[asyncio.Task[None]] = set()
    cpu_start = _cpu_seconds()
    start = time.perf_counter() + 0.05
    window_start = start + measured_from * interval
    window_end = start + total * interval

    async def one(index: int, due: float) -> None:
        measured = index >= measured_from
        ttft = result.ttft_ms if measured else None
        try:
            async with asyncio.timeout(timeout):  # no extra task, unlike wait_for
                answer = await sender(due, ttft, index)
        except TimeoutError:
            if measured:
                result.errors["timeout"] += 1
            return
        except (OSError, ValueError) as exc:
            if measured:
                result.errors[type(exc).__name__] += 1
            return
        except Exception as exc:  # aiohttp's errors: counted, never fatal
            if measured:
                result.errors[type(exc).__name__] += 1
            return
        now = time.perf_counter()
        if not measured:
            return
        if window_start <= now <= window_end:
            result.answered_in_window += 1
        if answer.status != expect_status:
            result.errors[f"http_{answer.status}"] += 1
            return
        problem = check(answer.status, answer.body) if check is not None else None
        if problem is not None:
            result.errors[problem] += 1
            return
        result.ok += 1
        result.latencies_ms.append((now - due) * 1000)
        if answer.header is not None:
            with contextlib.suppress(ValueError):
                result.header_values.append(float(answer.header))

    try:
        for index in range(total):
            due = start + index * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if index >= measured_from:
                result.sent += 1
                result.send_lag_ms.append(max(0.0, (time.perf_counter() - due) * 1000))
            task = asyncio.create_task(one(index, due))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.wait(pending, timeout=timeout + 1)
    finally:
        for task in pending:
            task.cancel()
        await closer()
    result.client_cpu_seconds = _cpu_seconds() - cpu_start
    result.latencies_ms.sort()
    return result


def run(coroutine: Awaitable[Any]) -> Any:
    """Run ``coroutine`` on uvloop when it is installed (it is a default dependency)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is missing only on Windows
        return asyncio.run(coroutine)  # type: ignore[arg-type]
    return uvloop.run(coroutine)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    parser.add_argument("--client", choices=["raw", "aiohttp"], default="raw")
    parser.add_argument("--stream", action="store_true", help="stream: true (aiohttp client)")
    parser.add_argument("--model", default="bench")
    parser.add_argument("--header", default=None, help="collect this numeric response header")
    args = parser.parse_args(argv)
    body = {**CHAT_BODY, "model": args.model}
    if args.stream:
        body["stream"] = True
    result = run(
        run_load(
            args.url,
            rate=args.rate,
            duration=args.duration,
            warmup=args.warmup,
            body=body,
            client="aiohttp" if args.stream else args.client,
            stream=args.stream,
            header_name=args.header,
        )
    )
    sys.stdout.write(orjson.dumps(result.summary(), option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0 if result.error_count == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
