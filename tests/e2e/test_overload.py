"""server.max_in_flight: past it a request gets 503 "overloaded"; probes still answer."""

from __future__ import annotations

import asyncio

import httpx

from steadyllm.sim.faults import FaultPlan
from steadyllm.sim.server import SimThread
from tests.e2e.conftest import gateway_config
from tests.gateway_thread import GatewayThread

BODY = {"model": "fast", "messages": [{"role": "user", "content": "hi"}]}


async def test_requests_past_the_cap_get_503_overloaded_and_probes_still_answer() -> None:
    with (
        SimThread(FaultPlan(latency_ms=800)) as sim,
        GatewayThread(gateway_config(sim, max_in_flight=2)) as gateway,
    ):
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
            slow = [
                asyncio.create_task(client.post("/v1/chat/completions", json=BODY))
                for _ in range(2)
            ]
            deadline = asyncio.get_running_loop().time() + 5
            while sim.stats()["requests"] < 2:  # both slow calls are inside the gateway
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.02)
            refused = await client.post("/v1/chat/completions", json=BODY)
            live = await client.get("/health/live")
            metrics = await client.get("/metrics")
            served = await asyncio.gather(*slow)
            after = await client.post("/v1/chat/completions", json=BODY)

    assert [r.status_code for r in served] == [200, 200]
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    error = refused.json()["error"]
    assert error["code"] == "overloaded"
    assert "limit of 2 requests" in error["message"]
    assert live.status_code == 200
    assert metrics.status_code in (200, 401)  # answered, not refused as overloaded
    assert after.status_code == 200  # the cap frees as calls finish
