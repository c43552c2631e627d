"""Redis killed mid-load and restarted on the same port, under a gateway that keeps
limits, the cache's L2, breaker state and the retry budget in it.

A throwaway ``redis-server`` on a free port (no persistence: it comes back empty, and
with no Lua scripts loaded) — never the shared one on 6379. What is asserted, for
both documented policies (``access.on_counter_failure``, docs/LIMITS.md):

- ``open``: every request is answered 200 through the outage (local limits; the
  cache answers misses; breakers and retry budget go on in memory), and
  ``/health/limits`` says ``degraded`` (200) meanwhile;
- ``closed``: during the outage calls get 503 ``limits_unavailable`` with
  ``Retry-After`` and a clear message, ``/health/limits`` answers 503
  ``unavailable``; nothing else fails;
- no other status, no client left waiting, the gateway still alive, and one call
  record per request (records lost = 0);
- once Redis is back the gateway reconnects by itself within a bounded time:
  ``/health/limits`` is ``ok``, ``stateStore`` in ``/api/reliability/metrics`` is no
  longer degraded, the new Redis holds limit and resilience keys again (the scripts
  were reloaded after NOSCRIPT), and a key's per-minute limit is enforced there.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
import pytest
import redis

from steadyllm.sim.faults import FaultPlan
from steadyllm.sim.server import SimThread
from tests.gateway_thread import GatewayThread
from tests.limits.replicas import free_port
from tests.resilience.conftest import FAST_RETRY, config, deployment
from tests.resilience.faultload import Outcome, chat_body, records_lost, send, stored_records
from tests.resilience.tally import Tally, record

REDIS_SERVER = "/usr/bin/redis-server"
OUTAGE = 2.0  # seconds between the kill and the restart
WORKERS = 8
RECOVERY_LIMIT = 15.0  # seconds the gateway may take to use Redis again
HIGH = {"requests_per_minute": 100_000, "requests_per_hour": 100_000, "requests_per_day": 100_000}


class RedisServer:
    """A ``redis-server`` of this test's own, which can be killed and started again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                REDIS_SERVER,
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
        )
        until = time.monotonic() + 10
        while time.monotonic() < until:
            try:
                with redis.Redis(port=self.port, socket_timeout=1) as client:
                    if client.ping():
                        return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def kill(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(10)
            self._process = None

    def names(self) -> list[str]:
        with redis.Redis(port=self.port, socket_timeout=2) as client:
            return [key.decode() for key in client.keys("*")]


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()


@dataclass
class Timeline:
    killed_at: float = 0.0
    restarted_at: float = 0.0
    recovered_at: float = 0.0
    health_during: set[tuple[int, str]] = field(default_factory=set)
    state_degraded_seen: bool = False
    metrics_statuses: set[int] = field(default_factory=set)


@dataclass
class Sent:
    started: float
    outcome: Outcome


def settings(sim: SimThread, redis_url: str, on_failure: str) -> dict[str, Any]:
    models = [{"name": "chat", "deployments": [deployment(sim, "only")]}]
    settings = config(models, retry=FAST_RETRY, deadline=10)
    settings["store"]["redis_url"] = redis_url
    settings["access"] = {"on_counter_failure": on_failure, "counter_timeout": 0.5}
    return settings


def create_key(gateway: GatewayThread, limits: dict[str, int]) -> dict[str, Any]:
    answer = httpx.post(f"{gateway.url}/api/keys", json={"tenant": "acme", "limits": limits})
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def body(index: int) -> dict[str, Any]:
    # Half the requests repeat (cache hits, L1 or L2), half are new (upstream, breaker,
    # retry budget); temperature 0 makes them cacheable.
    return chat_body(index if index % 2 else index % 20, stream=index % 5 == 0, temperature=0)


async def steady_load(url: str, secret: str, stop: asyncio.Event) -> list[Sent]:
    sent: list[Sent] = []
    headers = {"authorization": f"Bearer {secret}"}
    counter = iter(range(1_000_000))
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            while not stop.is_set():
                started = time.monotonic()
                outcome = await send(session, url, body(next(counter)), timeout=15, headers=headers)
                sent.append(Sent(started, outcome))
                await asyncio.sleep(0.01)

        await asyncio.gather(*(worker() for _ in range(WORKERS)))
    return sent


async def poll(gateway: GatewayThread, timeline: Timeline, until: float) -> None:
    """Watch ``/health/limits`` and the state store until ``until`` (monotonic)."""
    async with httpx.AsyncClient(base_url=gateway.url, timeout=5) as client:
        while time.monotonic() < until:
            health = await client.get("/health/limits")
            timeline.health_during.add((health.status_code, health.json()["status"]))
            metrics = await client.get("/api/reliability/metrics")
            timeline.metrics_statuses.add(metrics.status_code)
            if metrics.status_code == 200:
                timeline.state_degraded_seen |= metrics.json()["stateStore"]["degraded"]
            await asyncio.sleep(0.1)


async def wait_recovered(gateway: GatewayThread) -> bool:
    """Until ``/health/limits`` is ok and the breaker/budget store is shared again."""
    until = time.monotonic() + RECOVERY_LIMIT
    async with httpx.AsyncClient(base_url=gateway.url, timeout=5) as client:
        while time.monotonic() < until:
            health = await client.get("/health/limits")
            metrics = await client.get("/api/reliability/metrics")
            limits_ok = health.json()["status"] == "ok"
            state_ok = metrics.status_code == 200 and not metrics.json()["stateStore"]["degraded"]
            if limits_ok and state_ok:
                return True
            await asyncio.sleep(0.05)
    return False


async def outage_under_load(
    gateway: GatewayThread, server: RedisServer, secret: str
) -> tuple[list[Sent], Timeline, bool]:
    timeline = Timeline()
    stop = asyncio.Event()
    load = asyncio.create_task(steady_load(f"{gateway.base_url}/chat/completions", secret, stop))
    await asyncio.sleep(1.0)
    await asyncio.to_thread(server.kill)
    timeline.killed_at = time.monotonic()
    await poll(gateway, timeline, timeline.killed_at + OUTAGE)
    await asyncio.to_thread(server.start)
    timeline.restarted_at = time.monotonic()
    recovered = await wait_recovered(gateway)
    timeline.recovered_at = time.monotonic()
    await asyncio.sleep(1.0)  # load goes on against the new Redis
    stop.set()
    return await load, timeline, recovered


def enforced_again(gateway: GatewayThread, server: RedisServer) -> tuple[list[int], bool]:
    """A fresh key allowed 3 requests a minute, counted in the new Redis."""
    key = create_key(gateway, {"requests_per_minute": 3})
    headers = {"authorization": f"Bearer {key['key']}"}
    statuses = [
        httpx.post(
            f"{gateway.base_url}/chat/completions",
            json=chat_body(i, stream=False),
            headers=headers,
            timeout=10,
        ).status_code
        for i in range(5)
    ]
    return statuses, any(key["id"] in name for name in server.names())


def tally(name: str, sent: list[Sent], records: list[dict[str, Any]], **notes: Any) -> Tally:
    outcomes = [s.outcome for s in sent]
    ids = {o.request_id for o in outcomes}
    matched = [r for r in records if r["request_id"] in ids]
    served = sum(1 for o in outcomes if o.served)
    return record(
        Tally(
            name,
            sent=len(outcomes),
            served=served,
            failed=len(outcomes) - served,
            records_lost=records_lost(outcomes, matched),
            notes=notes,
        )
    )


@pytest.mark.parametrize("on_failure", ["open", "closed"])
async def test_redis_killed_and_restarted_mid_load(
    redis_server: RedisServer, on_failure: str
) -> None:
    with (
        SimThread(FaultPlan(latency_ms=5)) as sim,
        GatewayThread(settings(sim, redis_server.url, on_failure)) as gateway,
    ):
        secret = create_key(gateway, HIGH)["key"]
        sent, timeline, recovered = await outage_under_load(gateway, redis_server, secret)
        keys = redis_server.names()
        statuses, counted_in_redis = await asyncio.to_thread(enforced_again, gateway, redis_server)
        alive = httpx.get(f"{gateway.url}/health/live").status_code
        limits = httpx.get(f"{gateway.url}/api/limits/status").json()["limits"]
        records = await asyncio.to_thread(stored_records, gateway.url)

    outcomes = [s.outcome for s in sent]
    by_status = Counter(
        (o.status, o.body["error"]["code"] if o.clean_error else None) for o in outcomes
    )
    result = tally(
        f"redis restart ({on_failure})",
        sent,
        records,
        outage_s=round(timeline.restarted_at - timeline.killed_at, 1),
        back_after_s=round(timeline.recovered_at - timeline.restarted_at, 2),
        refused_503=by_status[(503, "limits_unavailable")],
    )

    # Nobody waited in vain, the gateway lives, every request left its record.
    assert not [o.transport for o in outcomes if o.transport]
    documented = {(200, None)} | (
        {(503, "limits_unavailable")} if on_failure == "closed" else set()
    )
    assert set(by_status) <= documented, by_status
    assert alive == 200
    assert result.records_lost == 0
    assert timeline.metrics_statuses == {200}
    assert limits["counter_failures"] >= 1  # the outage was seen...
    assert timeline.state_degraded_seen  # ...by breakers and retry budget too
    # Back on Redis by itself, within the bound: limits and resilience state are in the
    # new server (their scripts loaded again), and limits are enforced there.
    assert recovered, f"not back on Redis {RECOVERY_LIMIT} s after the restart"
    assert any(":limit:" in k for k in keys), keys
    assert any(":resilience:" in k for k in keys), keys
    assert statuses == [200, 200, 200, 429, 429]
    assert counted_in_redis
    if on_failure == "open":
        assert set(by_status) == {(200, None)}, by_status
        assert (200, "degraded") in timeline.health_during
        assert all(o.served for o in outcomes)
    else:
        assert set(by_status) == {(200, None), (503, "limits_unavailable")}, by_status
        assert (503, "unavailable") in timeline.health_during
        for s in sent:
            if s.outcome.status == 503:
                assert timeline.killed_at - 1.0 <= s.started <= timeline.recovered_at
                assert int(s.outcome.headers["retry-after"]) >= 1
                assert "Limits cannot be checked" in s.outcome.body["error"]["message"]
            else:
                assert s.outcome.served
        # Served before the outage and again after it.
        assert any(s.outcome.served and s.started < timeline.killed_at for s in sent)
        assert any(s.outcome.served and s.started > timeline.recovered_at for s in sent)
