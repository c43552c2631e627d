"""Hedged requests: a slow first attempt gets a twin on another deployment; first wins."""

from __future__ import annotations

import time
from typing import Any

from steadyllm.gateway import Gateway
from steadyllm.sim.faults import FaultPlan
from steadyllm.sim.server import running_sim
from tests.resilience.conftest import MESSAGES, config


def _deployment(url: str, name: str, weight: float) -> dict[str, Any]:
    return {
        "provider": "openai",
        "model": "sim-fast",
        "name": name,
        "api_base": url,
        "weight": weight,
    }


async def test_slow_attempt_is_hedged_and_the_loser_cancelled() -> None:
    async with running_sim(FaultPlan(latency_ms=1500)) as slow, running_sim() as fast:
        models = [
            {
                "name": "chat",
                # The slow one is (almost) always first, so the hedge is what answers.
                "deployments": [
                    _deployment(slow.base_url, "slow", 1e6),
                    _deployment(fast.base_url, "fast", 1e-6),
                ],
            }
        ]
        gateway = Gateway.from_config(config(models, hedging={"enabled": True, "delay": 0.05}))
        async with gateway:
            started = time.perf_counter()
            call = gateway.new_call("chat", {"model": "chat", "messages": MESSAGES})
            response = await gateway.handle(call)
            elapsed = time.perf_counter() - started
            metrics = await gateway.resilience.metrics()
    assert response.deployment == "fast"
    assert call.deployment is not None
    assert call.deployment.name == "fast"
    assert elapsed < 1.4  # did not wait for the slow one (1.5 s)
    assert call.notes["hedged"] == "fast"
    assert call.attempts == 2
    assert (metrics["retryPolicy"]["hedges"], metrics["retryPolicy"]["hedgeWins"]) == (1, 1)
    assert metrics["circuitBreakers"]["slow"]["failureCount"] == 0  # cancelled, not failed


async def test_no_hedge_when_the_first_attempt_is_quick() -> None:
    async with running_sim() as one, running_sim() as two:
        models = [
            {
                "name": "chat",
                "deployments": [
                    _deployment(one.base_url, "one", 1.0),
                    _deployment(two.base_url, "two", 1.0),
                ],
            }
        ]
        gateway = Gateway.from_config(config(models, hedging={"enabled": True, "delay": 2.0}))
        async with gateway:
            call = gateway.new_call("chat", {"model": "chat", "messages": MESSAGES})
            await gateway.handle(call)
            metrics = await gateway.resilience.metrics()
        assert (await one.stats())["requests"] + (await two.stats())["requests"] == 1
    assert metrics["retryPolicy"]["hedges"] == 0
