"""End-to-end fixtures: the simulator and the gateway as real servers on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from steadyllm.sim.faults import FaultPlan
from steadyllm.sim.server import SimThread
from tests.gateway_thread import GatewayThread

PRICE = {"input_per_million": 0.5, "output_per_million": 1.5}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimThread]:
    with SimThread(FaultPlan()) as handle:
        yield handle


def gateway_config(sim: SimThread, **server: Any) -> dict[str, Any]:
    return {
        "server": {"shutdown_timeout": 5, **server},
        "store": {"url": "memory://"},
        "records": {"flush_interval": 0.05},
        "models": [
            {
                "name": "fast",
                "deployments": [
                    {
                        "provider": "openai",
                        "model": "sim-fast",
                        "api_base": sim.base_url,
                        "api_key": "sk-test",
                        "price": PRICE,
                        "timeout": {"read": 5, "total": 10, "first_token": 5},
                    }
                ],
            },
            {
                "name": "claude",
                "deployments": [
                    {
                        "provider": "anthropic",
                        "model": "sim-claude",
                        "api_base": sim.url,
                        "api_key": "sk-ant-test",
                        "price": PRICE,
                    }
                ],
            },
            {
                "name": "embed",
                "kind": "embeddings",
                "deployments": [
                    {
                        "provider": "openai",
                        "model": "sim-embed",
                        "api_base": sim.base_url,
                        "price": {"input_per_million": 0.02, "output_per_million": 0},
                    }
                ],
            },
        ],
    }


@pytest.fixture(scope="module")
def gateway(sim: SimThread) -> Iterator[GatewayThread]:
    with GatewayThread(gateway_config(sim)) as handle:
        yield handle
