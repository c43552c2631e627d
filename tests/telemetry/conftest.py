"""Fixtures: a simulator and a gateway on loopback, configured for telemetry tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from steadyllm.sim.faults import FaultPlan
from steadyllm.sim.server import SimThread

PRICE = {"input_per_million": 0.5, "output_per_million": 1.5}


@pytest.fixture
def sim() -> Iterator[SimThread]:
    with SimThread(FaultPlan()) as handle:
        yield handle


def telemetry_config(sim_base_url: str, **sections: Any) -> dict[str, Any]:
    """A gateway with one OpenAI-wire model ``fast`` on the simulator."""
    return {
        "server": {"shutdown_timeout": 5},
        "store": {"url": "memory://"},
        "records": {"flush_interval": 0.05},
        "models": [
            {
                "name": "fast",
                "deployments": [
                    {
                        "provider": "openai",
                        "model": "sim-fast",
                        "api_base": sim_base_url,
                        "api_key": "sk-test-secret-123456",
                        "price": PRICE,
                        "timeout": {"read": 5, "total": 10, "first_token": 5},
                    }
                ],
            }
        ],
        **sections,
    }
