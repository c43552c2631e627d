"""Promotion and rollback end to end: the real gateway over HTTP, two simulators.

The live variant ``baseline`` answers on the route ``fast`` from a slow simulator;
the candidate ``quick`` uses the model group ``quick`` on a fast, cheaper one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from steadyllm.sim.faults import FaultPlan
from steadyllm.sim.server import SimThread
from tests.gateway_thread import GatewayThread

PROMPT = "You are the booking assistant of a small hotel."


def config(slow: SimThread, fast: SimThread) -> dict[str, Any]:
    def model(name: str, sim: SimThread, price: float) -> dict[str, Any]:
        deployment = {
            "provider": "openai",
            "model": "sim-fast",
            "api_base": sim.base_url,
            "api_key": "sk-test",
            "price": {"input_per_million": price, "output_per_million": 3 * price},
        }
        return {"name": name, "deployments": [deployment]}

    return {
        "server": {"shutdown_timeout": 5},
        "store": {"url": "memory://"},
        "records": {"flush_interval": 0.05},
        "models": [model("fast", slow, 0.5), model("quick", fast, 0.4)],
        "variants": {
            "definitions": {
                "baseline": {"system_prompt": PROMPT},
                "quick": {"system_prompt": PROMPT, "model": "quick"},
            },
            "routes": {"fast": "baseline"},
            "shadow": {"queue_size": 64, "workers": 4},
        },
    }


@pytest.fixture(scope="module")
def sims() -> Iterator[tuple[SimThread, SimThread]]:
    with SimThread(FaultPlan(latency_ms=40)) as slow, SimThread(FaultPlan()) as fast:
        yield slow, fast


@pytest.fixture(scope="module")
def gateway(sims: tuple[SimThread, SimThread]) -> Iterator[GatewayThread]:
    with GatewayThread(config(*sims)) as handle:
        yield handle


def chat(client: httpx.Client, text: str, conversation: str) -> httpx.Response:
    body = {
        "model": "fast",
        "messages": [{"role": "user", "content": text}],
        "metadata": {"conversation_id": conversation},
    }
    return client.post("/v1/chat/completions", json=body)


def test_shadow_then_promote_then_rollback(
    gateway: GatewayThread, sims: tuple[SimThread, SimThread]
) -> None:
    slow, fast = sims
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        started = client.post(
            "/api/reliability/shadow/start",
            json={
                "shadowVariant": "quick",
                "primaryVariant": "baseline",
                "trafficPercent": 100,
                "targetSamples": 60,
            },
        )
        assert started.status_code == 200, started.text
        assert started.json()["routes"] == ["fast"]

        for i in range(60):
            answer = chat(client, f"Is room {i} free on Friday?", f"conv-{i}")
            assert answer.status_code == 200
        assert slow.stats()["requests"] == 60  # every user got the primary's answer

        deadline = time.monotonic() + 20
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = client.get("/api/reliability/shadow/status").json()
            if status["samplesCollected"] >= 60:
                break
            time.sleep(0.05)
        assert status["samplesCollected"] == 60
        assert status["progress"] == 1.0
        assert status["dropped"] == 0
        assert fast.stats()["requests"] == 60

        analysis = client.get("/api/reliability/shadow/analysis").json()
        assert analysis["totalComparisons"] == 60
        assert analysis["avgPrimaryDuration"] > analysis["avgShadowDuration"]
        assert analysis["performanceDelta"] > 0.05
        assert 0.0 <= analysis["differenceRate"] <= 1.0

        check = client.get("/api/reliability/shadow/promotion-check").json()
        assert check["shouldPromote"] is True, check["reasons"]
        assert check["threshold"]["minSamples"] == 50

        promoted = client.post("/api/reliability/shadow/promote").json()
        assert promoted["live"]["fast"] == "quick"
        assert client.get("/api/reliability/shadow/status").json()["active"] is False

        # the shadow's answers were never cached: the same question now reaches "quick"
        before = fast.stats()["requests"]
        assert chat(client, "Is room 0 free on Friday?", "conv-0").status_code == 200
        assert fast.stats()["requests"] == before + 1

        rolled = client.post("/api/reliability/shadow/rollback").json()
        assert rolled["live"]["fast"] == "baseline"
        before_slow = slow.stats()["requests"]
        assert chat(client, "Anything new?", "conv-x").status_code == 200
        assert slow.stats()["requests"] == before_slow + 1

        history = client.get("/api/reliability/shadow/history").json()["history"]
        assert [entry["action"] for entry in history] == ["start", "promote", "rollback"]
        assert history[1]["previous"] == {"fast": "baseline"}


def test_bad_shadow_requests_are_refused(gateway: GatewayThread) -> None:
    with httpx.Client(base_url=gateway.url, timeout=10) as client:
        bad = client.post(
            "/api/reliability/shadow/start",
            json={"shadowVariant": "nope", "primaryVariant": "baseline"},
        )
        assert bad.status_code == 400
        assert bad.json()["error"]["param"] == "shadowVariant"
        assert client.post("/api/reliability/shadow/stop").status_code == 409
        variants = client.get("/api/variants").json()
        assert variants["variants"] == ["baseline", "quick"]
        assert variants["live"] == {"fast": "baseline"}
