"""PostgreSQL away for 30 s under steady load: every request served, no record lost.

A TCP proxy in the test stands between the gateway and the real PostgreSQL. Taking the
database away closes every proxied connection and resets each new one; restoring it
lets connections through again. The record writer's buffer is kept small, so the
outage goes through its disk spool (``steadyllm.records_spool``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import asyncpg
import pytest
from sqlalchemy.engine import make_url

from steadyllm.sim.faults import FaultPlan
from steadyllm.sim.server import SimThread
from tests.gateway_thread import GatewayThread
from tests.resilience.conftest import config, deployment
from tests.resilience.tally import Tally, record
from tests.services import require_postgres

OUTAGE_SECONDS = 30.0  # issue #11: "PostgreSQL unavailable for 30 s"
RATE = 40  # requests per second, paced (open loop)
BEFORE_SECONDS = 3.0  # load before the outage...
AFTER_SECONDS = 4.0  # ...and after it
MAX_BUFFER = 200  # small: the outage must go through the spool
T = TypeVar("T")
PREFIX = f"pgout-{uuid.uuid4().hex[:8]}-"


class Proxy:
    """A TCP proxy to ``host:port`` that can refuse service (``down``).

    It runs on a loop of its own, in a thread: the gateway thread's start and stop
    block the test's loop, and the gateway migrates and flushes through the proxy.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.down = False
        self.refused = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pg-proxy")

    def start(self) -> int:
        self._thread.start()
        return self._call(self._start())

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.down:
            self.refused += 1
            client_w.transport.abort()  # a reset, as from a database that is not there
            return
        try:
            upstream_r, upstream_w = await asyncio.open_connection(self.host, self.port)
        except OSError:
            client_w.transport.abort()
            return
        self._writers |= {client_w, upstream_w}
        try:
            await asyncio.gather(self._pipe(client_r, upstream_w), self._pipe(upstream_r, client_w))
        finally:
            self._writers -= {client_w, upstream_w}
            for writer in (client_w, upstream_w):
                writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()

    async def _take_down(self) -> None:
        self.down = True
        for writer in list(self._writers):
            writer.transport.abort()

    async def _restore(self) -> None:
        self.down = False

    def take_down(self) -> None:
        """Close every proxied connection and reset new ones."""
        self._call(self._take_down())

    def restore(self) -> None:
        self._call(self._restore())

    async def _close(self) -> None:
        await self._take_down()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def close(self) -> None:
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


async def _admin(url: str, statement: str) -> None:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
    connection = await asyncpg.connect(dsn, timeout=3)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
async def database() -> AsyncIterator[str]:
    """A fresh database (the gateway migrates it through the proxy); dropped afterwards."""
    admin = require_postgres()
    name = f"steadyllm_test_{uuid.uuid4().hex[:12]}"
    await _admin(admin, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin).set(database=name).render_as_string(False)
    finally:
        await _admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(f"steadyllm_{name} "):
            return float(line.split()[1])
    raise AssertionError(f"steadyllm_{name} not in /metrics")


class Load:
    """Requests paced at ``RATE`` per second, each with its own x-request-id."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url
        self.statuses: dict[str, int] = {}
        self.tasks: list[asyncio.Task[None]] = []

    async def run(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        count = int(seconds * RATE)
        for step in range(count):
            request_id = f"{PREFIX}{len(self.tasks)}"
            self.tasks.append(asyncio.create_task(self._one(request_id)))
            await asyncio.sleep(max(0.0, start + (step + 1) / RATE - loop.time()))

    async def _one(self, request_id: str) -> None:
        body = {
            "model": "chat",
            "messages": [{"role": "user", "content": f"hello {request_id}"}],
            "max_tokens": 5,
        }
        try:
            async with self.session.post(
                self.url, json=body, headers={"x-request-id": request_id}
            ) as response:
                await response.read()
                self.statuses[request_id] = response.status
        except aiohttp.ClientError:
            self.statuses[request_id] = 0

    async def finish(self) -> None:
        await asyncio.gather(*self.tasks)


async def _watch_readiness(session: aiohttp.ClientSession, url: str, seen: list[Any]) -> None:
    while True:
        async with session.get(f"{url}/health/ready") as response:
            status, body = response.status, await response.json()
        async with session.get(f"{url}/metrics") as response:  # the spool alone
            body["spool"] = _metric(await response.text(), "records_spool_pending")
        seen.append((time.monotonic(), status, body))
        await asyncio.sleep(0.25)


async def test_postgres_away_for_30_s_loses_no_record(database: str, tmp_path: Path) -> None:
    target = make_url(database)
    proxy = Proxy(target.host or "127.0.0.1", target.port or 5432)
    proxied = target.set(host="127.0.0.1", port=proxy.start()).render_as_string(False)
    try:
        spool_dir = tmp_path / "spool"
        with SimThread(FaultPlan()) as sim:
            settings = config([{"name": "chat", "deployments": [deployment(sim, "sim")]}])
            settings["store"] = {"url": proxied}
            settings["records"] = {
                "flush_interval": 0.05,
                "max_buffer": MAX_BUFFER,
                "spool_dir": str(spool_dir),
            }
            settings["telemetry"] = {"health": {"cache_seconds": 0.5, "timeout": 1}}
            with GatewayThread(settings) as gateway:
                timeout = aiohttp.ClientTimeout(total=30)
                async with aiohttp.ClientSession(timeout=timeout) as session:
                    load = Load(session, f"{gateway.base_url}/chat/completions")
                    readiness: list[Any] = []
                    watcher = asyncio.create_task(_watch_readiness(session, gateway.url, readiness))
                    await load.run(BEFORE_SECONDS)
                    outage_start = time.monotonic()
                    proxy.take_down()
                    await load.run(OUTAGE_SECONDS)
                    spooled_during = list(spool_dir.rglob("*.jsonl"))
                    spool_bytes = sum(path.stat().st_size for path in spooled_during)
                    proxy.restore()
                    outage_end = time.monotonic()
                    await load.run(AFTER_SECONDS)
                    await load.finish()
                    # Recovery: everything written back, the spool emptied (bounded wait).
                    deadline = time.monotonic() + 60
                    while not (readiness[-1][1] == 200 and readiness[-1][2]["pendingRecords"] == 0):
                        if watcher.done():
                            watcher.result()  # its error, if it stopped on one
                        assert time.monotonic() < deadline, readiness[-1]
                        await asyncio.sleep(0.1)
                    watcher.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await watcher
                    async with session.get(f"{gateway.url}/metrics") as response:
                        metrics = await response.text()
                leftover = list(spool_dir.rglob("*.jsonl"))
    finally:
        proxy.close()

    connection = await asyncpg.connect(
        make_url(database).set(drivername="postgresql").render_as_string(False), timeout=3
    )
    try:
        rows = await connection.fetch(
            "SELECT request_id, count(*) AS n FROM call_records "
            "WHERE request_id LIKE $1 GROUP BY request_id",
            f"{PREFIX}%",
        )
    finally:
        await connection.close()
    stored = {row["request_id"]: row["n"] for row in rows}
    sent = set(load.statuses)
    served = sum(1 for status in load.statuses.values() if status == 200)
    during = [
        (status, body) for at, status, body in readiness if outage_start + 2 < at < outage_end
    ]
    after = [
        (at, body) for at, _, body in readiness if at > outage_end and body["health"] == "healthy"
    ]
    drained = [at for at, _, body in readiness if at > outage_end and body["spool"] == 0]
    max_buffered = _metric(metrics, "records_buffered_max")
    spooled = _metric(metrics, "records_spooled_total")
    tally = record(
        Tally(
            "postgres-outage-30s",
            sent=len(sent),
            served=served,
            failed=len(sent) - served,
            records_lost=len(sent - set(stored)),
            notes={
                "max_buffered": int(max_buffered),
                "spooled": int(spooled),
                "duplicates": sum(n - 1 for n in stored.values()),
                "spool_bytes_at_end": spool_bytes,
                "max_pending": max(body["pendingRecords"] for _, _, body in readiness),
                "healthy_again_after_s": round(after[0][0] - outage_end, 1) if after else None,
                "spool_empty_after_s": round(drained[0] - outage_end, 1) if drained else None,
                "ready_degraded_during": sum(
                    1 for status, body in during if status == 200 and body["health"] == "degraded"
                ),
                "refused_connections": proxy.refused,
            },
        )
    )
    assert tally.sent == int((BEFORE_SECONDS + OUTAGE_SECONDS + AFTER_SECONDS) * RATE)
    assert served == len(sent), sorted(set(load.statuses.values()))  # records are off-path
    assert set(stored) == sent
    assert all(n == 1 for n in stored.values())
    assert max_buffered <= MAX_BUFFER  # memory bounded...
    assert spooled >= OUTAGE_SECONDS * RATE * 0.9  # ...because the outage went to disk
    assert spooled_during
    assert leftover == []
    # With the spool taking the records, the database check is degraded, not failed:
    # the gateway stays ready (and says what is failing) while PostgreSQL is away.
    assert during
    assert all(status == 200 for status, _ in during), during
    assert all(body["health"] == "degraded" for _, body in during), during
    assert all("database" in body["failing"] for _, body in during)
    assert proxy.refused > 0
