"""SIGTERM under load: no accepted request fails, and every call has its record."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from steadyllm.sim.faults import FaultPlan
from steadyllm.sim.server import SimThread


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_sigterm_drains_in_flight_requests_and_flushes_records(tmp_path: Path) -> None:
    with SimThread(FaultPlan(latency_ms=1000)) as sim:
        db = tmp_path / "calls.db"
        config = {
            "server": {"shutdown_timeout": 20},
            "store": {"url": f"sqlite:///{db}"},
            "records": {"flush_interval": 5, "batch_size": 1000},  # records still pending
            "models": [
                {
                    "name": "fast",
                    "deployments": [
                        {"provider": "openai", "model": "sim-fast", "api_base": sim.base_url}
                    ],
                }
            ],
        }
        path = tmp_path / "steadyllm.yaml"
        path.write_text(yaml.safe_dump(config))
        port = free_port()
        log = (tmp_path / "server.log").open("w")
        errors: list[str] = []
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "steadyllm.cli",
                "serve",
                "--config",
                str(path),
                "--port",
                str(port),
            ],
            stderr=log,
            stdout=log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{url}/health/live").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "server did not start"
                await asyncio.sleep(0.1)

            body = {"model": "fast", "messages": [{"role": "user", "content": "hi"}]}
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:

                async def one(index: int) -> tuple[str, int | None]:
                    rid = f"shutdown-{index}"
                    try:
                        r = await client.post(
                            "/v1/chat/completions", json=body, headers={"x-request-id": rid}
                        )
                    except httpx.TransportError as exc:
                        errors.append(repr(exc))
                        return rid, None  # refused: never accepted
                    return rid, r.status_code

                tasks = [asyncio.create_task(one(i)) for i in range(60)]
                # Signal only once all 60 are accepted and waiting on the upstream.
                while (await asyncio.to_thread(sim.stats))["requests"] < 60:
                    assert time.monotonic() < deadline + 30, "requests never reached upstream"
                    await asyncio.sleep(0.02)
                process.send_signal(signal.SIGTERM)
                results = await asyncio.gather(*tasks)
            assert process.wait(30) == 0
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            log.close()

    served = {rid for rid, status in results if status == 200}
    failed = [(rid, status) for rid, status in results if status not in (200, None)]
    assert failed == []
    server_log = (tmp_path / "server.log").read_text()[-3000:]
    assert len(served) == 60, f"client errors: {errors[:3]}\nserver log:\n{server_log}"

    with sqlite3.connect(db) as conn:
        recorded = {row[0] for row in conn.execute("select request_id from call_records")}
    assert served <= recorded
