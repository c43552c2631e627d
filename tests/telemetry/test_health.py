"""Health: the weighted score, the probes, and Redis going away and coming back."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from steadyllm.gateway import Gateway
from steadyllm.sim.server import SimThread
from steadyllm.telemetry.health import CheckResult, Status, combine
from tests.gateway_thread import GatewayThread
from tests.services import require_service
from tests.telemetry.conftest import telemetry_config


def check(status: Status, *, critical: bool = False, weight: float = 1.0) -> CheckResult:
    return CheckResult("c", status, critical, weight, 0.0)


@pytest.mark.parametrize(
    ("checks", "score", "status"),
    [
        ([], 1.0, "healthy"),
        ([check("healthy", critical=True, weight=3), check("healthy")], 1.0, "healthy"),
        (
            [check("healthy", critical=True, weight=3), check("unhealthy", weight=2)],
            0.6,
            "degraded",
        ),
        ([check("healthy", critical=True, weight=3), check("degraded", weight=2)], 0.8, "degraded"),
        (
            [check("unhealthy", critical=True, weight=3), check("healthy", weight=2)],
            0.4,
            "unhealthy",
        ),
        ([check("healthy", weight=1), check("unhealthy", weight=3)], 0.25, "unhealthy"),
        (
            [check("unhealthy", critical=True, weight=1), check("healthy", weight=9)],
            0.9,
            "unhealthy",
        ),
    ],
)
def test_combine(checks: list[CheckResult], score: float, status: str) -> None:
    assert combine(checks) == (pytest.approx(score), status)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ThrowawayRedis:
    """Our own redis-server on a free port: stopping it touches nobody else's Redis."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            require_service("redis-server binary", "127.0.0.1", 1)  # fails under CI, else skips
        self.binary = binary or "redis-server"
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("redis-server exited") from None
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def redis_server() -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_degraded_without_redis_and_healthy_when_it_returns(
    redis_server: ThrowawayRedis,
) -> None:
    config = {
        "store": {"url": "memory://", "redis_url": redis_server.url},
        "telemetry": {"health": {"cache_seconds": 0, "timeout": 1}},
    }
    async with Gateway.from_config(config) as gateway:
        health = gateway.telemetry.health
        report = await health.report()
        assert (report.status, report.score) == ("healthy", 1.0)

        redis_server.stop()
        report = await health.report()
        assert report.status == "degraded"
        redis = report.check("redis")
        assert redis is not None
        assert redis.status == "unhealthy"
        assert not redis.critical
        assert report.score == pytest.approx(4 / 6)  # database 3 + process 1 of 6
        assert report.check("database") is not None

        redis_server.start()  # the same port
        report = await health.report()
        assert (report.status, report.score) == ("healthy", 1.0)


def test_probes_and_the_reliability_report(sim: SimThread) -> None:
    config = telemetry_config(
        sim.base_url, telemetry={"health": {"provider_checks": True, "cache_seconds": 0}}
    )
    with GatewayThread(config) as gateway:
        assert httpx.get(f"{gateway.url}/health/live").json()["status"] == "alive"
        assert httpx.get(f"{gateway.url}/health/startup").json()["status"] == "started"
        ready = httpx.get(f"{gateway.url}/health/ready")
        assert ready.status_code == 200
        assert ready.json()["health"] == "healthy"
        body = httpx.get(f"{gateway.url}/api/reliability/health").json()
        assert body["status"] == "healthy"
        assert set(body) >= {"status", "timestamp", "uptime", "memory", "components"}
        assert body["memory"]["rss"] > 0
        assert set(body["components"]) >= {"database", "cache", "shadowDeployment"}
        assert body["components"]["shadowDeployment"] == {"status": "not_configured"}
        provider = body["components"]["providers"]["fast/openai:sim-fast#0"]
        assert provider["status"] == "healthy"
        assert sim.stats()["requests"] == 1  # the opt-in active check: one minimal request

        sim.set_faults(rate_503=1.0)
        body = httpx.get(f"{gateway.url}/api/reliability/health?fresh=true").json()
        assert body["status"] == "degraded"  # a provider is not critical by default
        assert body["components"]["providers"]["fast/openai:sim-fast#0"]["status"] == "unhealthy"


async def test_ready_fails_when_the_record_store_is_down() -> None:
    async with Gateway.from_config({"store": {"url": "memory://"}}) as gateway:
        records = gateway.stores.records

        async def down(**_: object) -> list[object]:
            raise ConnectionError("store down")

        records.list_calls = down  # type: ignore[method-assign]
        report = await gateway.telemetry.health.report(fresh=True)
        assert report.status == "unhealthy"
        assert "store down" in (report.check("database").detail or "")  # type: ignore[union-attr]


async def test_a_store_outage_with_a_working_spool_is_degraded_not_unready(
    tmp_path: Path,
) -> None:
    config = {
        "store": {"url": f"sqlite:///{tmp_path / 'r.db'}"},
        "records": {"spool_dir": str(tmp_path / "spool")},
    }
    async with Gateway.from_config(config) as gateway:
        assert gateway.records.spool_usable

        async def down(**_: object) -> list[object]:
            raise ConnectionError("store down")

        gateway.stores.records.list_calls = down  # type: ignore[method-assign]
        report = await gateway.telemetry.health.report(fresh=True)
        database = report.check("database")
        assert database is not None
        assert database.status == "degraded"
        assert "records spool to disk" in (database.detail or "")
        assert report.status == "degraded"  # ready: the gateway still serves every call
