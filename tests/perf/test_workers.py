"""``steadyllm serve --workers 2``: both workers answer on one port; SIGTERM drains both."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import yaml

from steadyllm.config import ConfigError, load_settings
from steadyllm.server.run import serve_forever
from steadyllm.server.workers import check_workers
from steadyllm.sim.faults import FaultPlan
from steadyllm.sim.server import SimThread
from tests.services import require_redis

BODY = {"model": "fast", "messages": [{"role": "user", "content": "hi"}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config(sim: SimThread, db: Path, **store: Any) -> dict[str, Any]:
    return {
        "server": {"shutdown_timeout": 20},
        "store": {
            "url": f"sqlite:///{db}",
            "redis_prefix": f"steadyllm-test-workers-{uuid.uuid4().hex}:",
            **store,
        },
        "records": {"flush_interval": 5, "batch_size": 1000},  # records still pending at SIGTERM
        "models": [
            {
                "name": "fast",
                "deployments": [
                    {"provider": "openai", "model": "sim-fast", "api_base": sim.base_url}
                ],
            }
        ],
    }


def start(tmp_path: Path, settings: dict[str, Any], port: int) -> subprocess.Popen[bytes]:
    path = tmp_path / "steadyllm.yaml"
    path.write_text(yaml.safe_dump(settings))
    log = (tmp_path / "server.log").open("wb")
    serve = ["serve", "--config", str(path), "--port", str(port), "--workers", "2"]
    return subprocess.Popen(
        [sys.executable, "-m", "steadyllm.cli", *serve],
        stdout=log,
        stderr=log,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_live(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, f"server exited:\n{log.read_text()[-3000:]}"
        try:
            if httpx.get(f"{url}/health/live").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"server did not start:\n{log.read_text()[-3000:]}"
        time.sleep(0.1)


def workers_of(pid: int) -> list[psutil.Process]:
    """The gateway workers: the supervisor's children, minus multiprocessing's helpers."""
    return [
        child
        for child in psutil.Process(pid).children()
        if "resource_tracker" not in " ".join(child.cmdline())
    ]


def served_by(worker: psutil.Process, port: int) -> int:
    """Established client connections that this worker holds on ``port``."""
    return sum(
        1
        for conn in worker.net_connections(kind="tcp")
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_ESTABLISHED
    )


async def test_two_workers_share_the_port_and_drain_on_sigterm(tmp_path: Path) -> None:
    redis_url = require_redis()
    with SimThread(FaultPlan(latency_ms=800)) as sim:
        db = tmp_path / "calls.db"
        port = free_port()
        process = start(tmp_path, config(sim, db, redis_url=redis_url), port)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_live(url, process, tmp_path / "server.log")
            workers = workers_of(process.pid)
            assert len(workers) == 2

            # Each client keeps its one connection open after its answer; the kernel
            # spreads new connections over both workers (SO_REUSEPORT).
            clients = [httpx.AsyncClient(base_url=url, timeout=30) for _ in range(16)]
            try:
                answers = await asyncio.gather(
                    *(client.post("/v1/chat/completions", json=BODY) for client in clients)
                )
                assert [answer.status_code for answer in answers] == [200] * 16
                assert all(answer.json()["choices"][0]["message"]["content"] for answer in answers)
                held = [served_by(worker, port) for worker in workers]
            finally:
                await asyncio.gather(*(client.aclose() for client in clients))
            assert sum(held) == 16
            assert all(count > 0 for count in held), f"connections per worker: {held}"

            limits = httpx.Limits(max_connections=40, max_keepalive_connections=0)
            async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

                async def one(index: int) -> tuple[str, int | None]:
                    rid = f"workers-{index}"
                    try:
                        r = await client.post(
                            "/v1/chat/completions", json=BODY, headers={"x-request-id": rid}
                        )
                    except httpx.TransportError:
                        return rid, None  # refused: never accepted
                    return rid, r.status_code

                tasks = [asyncio.create_task(one(i)) for i in range(40)]
                deadline = time.monotonic() + 20
                while (await asyncio.to_thread(sim.stats))["requests"] < 16 + 40:
                    assert time.monotonic() < deadline, "the requests did not reach the upstream"
                    await asyncio.sleep(0.02)
                # All 40 are in flight now, waiting on the upstream's 800 ms.
                in_flight = [served_by(worker, port) for worker in workers]
                process.send_signal(signal.SIGTERM)
                results = await asyncio.gather(*tasks)
            assert process.wait(60) == 0
            assert all(not worker.is_running() for worker in workers)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()

    log = (tmp_path / "server.log").read_text()[-3000:]
    assert all(count > 0 for count in in_flight), f"in flight per worker: {in_flight}"
    assert [status for _, status in results] == [200] * 40, log
    with sqlite3.connect(db) as conn:
        recorded = {row[0] for row in conn.execute("select request_id from call_records")}
    assert {rid for rid, _ in results} <= recorded


@pytest.mark.parametrize(
    ("store", "message"),
    [
        ({}, "needs store.redis_url"),
        ({"url": "memory://", "redis_url": "redis://127.0.0.1:6379/0"}, "needs a record store"),
        ({"url": "sqlite:///:memory:", "redis_url": "redis://x:6379/0"}, "needs a record store"),
    ],
)
def test_workers_refuse_state_that_would_not_be_shared(store: dict[str, Any], message: str) -> None:
    settings = load_settings({"store": store})
    check_workers(settings, 1)  # one worker: anything goes
    with pytest.raises(ConfigError, match=message):
        serve_forever(settings, host="127.0.0.1", port=0, workers=2)


def test_workers_accept_redis_with_a_shared_record_store(tmp_path: Path) -> None:
    for url in (f"sqlite:///{tmp_path / 'calls.db'}", "postgresql://u@db:5432/steadyllm"):
        check_workers(load_settings({"store": {"url": url, "redis_url": "redis://r:6379"}}), 4)
