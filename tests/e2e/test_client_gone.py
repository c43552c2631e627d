"""A client that leaves mid-stream: the call is still recorded, as abandoned."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import httpx

from steadyllm.sim.faults import FaultPlan
from steadyllm.sim.server import SimThread
from tests.e2e.conftest import gateway_config
from tests.gateway_thread import GatewayThread


async def test_client_leaving_mid_stream_is_recorded() -> None:
    with (
        SimThread(FaultPlan(token_delay_ms=50)) as slow,
        GatewayThread(gateway_config(slow)) as gw,
    ):
        body = {
            "model": "fast",
            "stream": True,
            "messages": [{"role": "user", "content": "Tell me everything about a deep clean."}],
        }
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{gw.base_url}/chat/completions",
                json=body,
                headers={"x-request-id": "leaves-early"},
            ) as response,
        ):
            assert response.status == 200
            await response.content.readline()  # the first event, then hang up
        records: list[dict[str, object]] = []
        deadline = time.monotonic() + 10
        while not records and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            records = (
                await asyncio.to_thread(
                    httpx.get,
                    f"{gw.url}/api/calls",
                    params={"request_id": "leaves-early", "flush": "true"},
                )
            ).json()["data"]
        assert len(records) == 1
        assert records[0]["stream_outcome"] == "client_gone"
        assert records[0]["error_type"] == "stream_client_gone"
