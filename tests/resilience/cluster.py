"""Three gateway replicas behind a round-robin reverse proxy, as a load balancer runs them.

``RoundRobinProxy`` is the load balancer (nginx is not installed): an aiohttp server in
a thread of its own that sends each request to the next replica. It behaves like
nginx's defaults for non-idempotent requests:

- request bodies are read whole before forwarding (``proxy_request_buffering on``);
  response bodies are streamed through chunk by chunk (SSE arrives as it is written);
- a replica that refuses the connection never saw the request, so the proxy tries the
  next one (``proxy_next_upstream error``) and keeps the refusing one out of the
  rotation for ``fail_timeout`` seconds (``max_fails=1``);
- a replica that breaks the connection *after* the request was sent may have acted on
  it (called the upstream, spent budget): a POST is not replayed; the client gets 502
  and decides itself whether to retry (nginx's ``non_idempotent`` is off by default).

Every response says which replica produced it in ``x-proxy-replica``, and the proxy
keeps a ledger of the data-plane answers (request id, replica, status, when).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp
import asyncpg
import orjson
import redis
from aiohttp import web

from tests.limits.replicas import free_port
from tests.services import require_postgres, require_redis
from tests.stores.conftest import _postgres_url, postgres_admin

__all__ = [
    "Answer",
    "Attempt",
    "Hop",
    "RoundRobinProxy",
    "call_records",
    "post_all",
    "retrying_load",
    "shared_stores",
]

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
REPLICA_HEADER = "x-proxy-replica"


@dataclass(frozen=True, slots=True)
class Hop:
    """One data-plane answer that went through the proxy."""

    request_id: str | None
    replica: int
    status: int  # 502: the replica broke the connection before answering
    at: float  # time.monotonic() when the answer (or the break) was complete


@dataclass(slots=True)
class RoundRobinProxy:
    upstreams: Sequence[str]
    fail_timeout: float = 10.0
    ledger: list[Hop] = field(default_factory=list)
    connect_retries: int = 0  # requests sent on to the next replica after a refused connect
    broken: int = 0  # requests a replica broke after they were sent (answered 502)
    port: int = 0
    _counter: itertools.count[int] = field(default_factory=itertools.count)
    _down_until: dict[int, float] = field(default_factory=dict)
    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _failure: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RoundRobinProxy:
        self.port = free_port()
        self._thread = threading.Thread(target=self._run, name="rr-proxy", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            raise self._failure
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def forget_failures(self) -> None:
        """Put every replica back in the rotation, as when ``fail_timeout`` has passed."""
        self._down_until.clear()

    # --- the server ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to the thread that called __enter__
            self._failure = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=60, sock_connect=2)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, auto_decompress=False
        ) as session:
            app = web.Application(client_max_size=16 * 1024 * 1024)

            async def forward(request: web.Request) -> web.StreamResponse:
                return await self._forward(session, request)

            app.router.add_route("*", "/{tail:.*}", forward)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            self._ready.set()
            try:
                await self._stop.wait()
            finally:
                await runner.cleanup()

    def _order(self) -> list[int]:
        """Replicas from the next one round the ring; those marked down go last."""
        start = next(self._counter) % len(self.upstreams)
        ring = [(start + i) % len(self.upstreams) for i in range(len(self.upstreams))]
        now = time.monotonic()
        up = [i for i in ring if self._down_until.get(i, 0.0) <= now]
        return up + [i for i in ring if i not in up]

    def _note(
        self, request: web.Request, request_id: str | None, replica: int, status: int
    ) -> None:
        if request.path.startswith("/v1/"):
            self.ledger.append(Hop(request_id, replica, status, time.monotonic()))

    async def _forward(
        self, session: aiohttp.ClientSession, request: web.Request
    ) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        for replica in self._order():
            target = f"{self.upstreams[replica]}{request.rel_url}"
            try:
                upstream = await session.request(
                    request.method, target, headers=headers, data=body, allow_redirects=False
                )
            except aiohttp.ClientConnectorError:  # never delivered: safe to try the next
                self._down_until[replica] = time.monotonic() + self.fail_timeout
                self.connect_retries += 1
                continue
            except (aiohttp.ClientError, TimeoutError):  # delivered, then broken: not replayed
                self._down_until[replica] = time.monotonic() + self.fail_timeout
                self.broken += 1
                self._note(request, request.headers.get("x-request-id"), replica, 502)
                return _bad_gateway(replica, "The replica closed the connection mid-request.")
            async with upstream:
                return await self._relay(request, upstream, replica)
        return _bad_gateway(-1, "No replica accepted the connection.")

    async def _relay(
        self, request: web.Request, upstream: aiohttp.ClientResponse, replica: int
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        for name, value in upstream.headers.items():
            if name.lower() not in _HOP_BY_HOP:
                response.headers.add(name, value)
        response.headers[REPLICA_HEADER] = str(replica)
        if upstream.content_length is not None:
            response.content_length = upstream.content_length
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
        except (aiohttp.ClientError, TimeoutError):
            # Headers are out: the client must see a broken response, not a short one.
            self.broken += 1
            self._note(request, upstream.headers.get("x-request-id"), replica, 502)
            if request.transport is not None:
                request.transport.abort()
            return response
        await response.write_eof()
        self._note(request, upstream.headers.get("x-request-id"), replica, upstream.status)
        return response


def _bad_gateway(replica: int, message: str) -> web.Response:
    body = {"error": {"message": message, "type": "bad_gateway", "param": None, "code": None}}
    return web.Response(
        body=orjson.dumps(body),
        status=502,
        content_type="application/json",
        headers={REPLICA_HEADER: str(replica)},
    )


# --- a client ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def replica(self) -> int:
        return int(self.headers[REPLICA_HEADER])


async def post_all(
    url: str,
    bodies: Sequence[dict[str, Any]],
    *,
    headers: dict[str, str] | None = None,
    concurrency: int | None = None,
) -> list[Answer]:
    """POST every body to ``url`` (all at once unless ``concurrency`` says otherwise)."""
    limit = concurrency or len(bodies)
    gate = asyncio.Semaphore(limit)
    connector = aiohttp.TCPConnector(limit=limit)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=60)
    ) as session:

        async def one(body: dict[str, Any]) -> Answer:
            async with gate, session.post(url, json=body, headers=headers) as response:
                return Answer(
                    response.status,
                    {k.lower(): v for k, v in response.headers.items()},
                    await response.json(),
                )

        return list(await asyncio.gather(*(one(body) for body in bodies)))


@dataclass(frozen=True, slots=True)
class Attempt:
    request_id: str
    status: int | None  # None: the connection failed, or the answer was cut short
    replica: int | None  # from x-proxy-replica, when the proxy's headers arrived


async def retrying_load(
    url: str,
    body: dict[str, Any],
    *,
    seconds: float,
    concurrency: int,
    id_prefix: str,
    max_attempts: int = 5,
    retry_statuses: frozenset[int] = frozenset({502, 503, 504}),
) -> list[list[Attempt]]:
    """``concurrency`` clients POSTing ``body`` back to back for ``seconds``.

    Each client retries a request that failed on the way (connection error, or 502/503/
    504: the proxy saying a replica broke mid-request) up to ``max_attempts`` times, as
    the OpenAI SDKs do; the proxy sends the retry to the next replica. Every attempt
    carries its own ``x-request-id`` (``<id_prefix><n>.<attempt>``), so each record in
    the store can be traced to the attempt that produced it. Returns the attempts of
    every request, in order.
    """
    requests: list[list[Attempt]] = []
    numbers = itertools.count()
    end = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=60)
    ) as session:

        async def one(number: int) -> list[Attempt]:
            attempts: list[Attempt] = []
            for attempt in range(max_attempts):
                request_id = f"{id_prefix}{number}.{attempt}"
                status: int | None = None
                replica: int | None = None
                try:
                    async with session.post(
                        url, json=body, headers={"x-request-id": request_id}
                    ) as response:
                        tagged = response.headers.get(REPLICA_HEADER)
                        replica = None if tagged is None else int(tagged)
                        await response.read()  # a body cut short raises here
                        status = response.status
                except aiohttp.ClientError:
                    pass
                attempts.append(Attempt(request_id, status, replica))
                if status is not None and status not in retry_statuses:
                    return attempts
                await asyncio.sleep(0.05 * (attempt + 1))
            return attempts

        async def client() -> None:
            while time.monotonic() < end:
                requests.append(await one(next(numbers)))

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return requests


# --- the stores the replicas share ---------------------------------------------------------


@contextmanager
def shared_stores() -> Iterator[tuple[str, str, str]]:
    """A fresh PostgreSQL database and a Redis key prefix of their own: (database URL,
    Redis URL, prefix). The database is dropped and the prefix's keys deleted after."""
    redis_url, _ = require_redis(), require_postgres()
    name = f"steadyllm_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(postgres_admin(f'CREATE DATABASE "{name}"'))
    prefix = f"steadyllm-test:{uuid.uuid4().hex}:"
    try:
        yield _postgres_url(name), redis_url, prefix
    finally:
        asyncio.run(postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        client = redis.Redis.from_url(redis_url)
        try:
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def call_records(database: str, like: str = "%") -> dict[str, list[int]]:
    """The statuses of the call records in ``database``, per request id (``LIKE like``)."""

    async def read() -> dict[str, list[int]]:
        connection = await asyncpg.connect(database)
        try:
            rows = await connection.fetch(
                "SELECT request_id, status FROM call_records WHERE request_id LIKE $1", like
            )
        finally:
            await connection.close()
        found: dict[str, list[int]] = {}
        for row in rows:
            found.setdefault(row["request_id"], []).append(int(row["status"]))
        return found

    return asyncio.run(read())
