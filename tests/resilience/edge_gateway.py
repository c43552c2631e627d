"""The gateway the fuzz and edge-input suites attack: every model kind over the simulator,
an admin key (so ``/api/*`` is reached with it), variants for the shadow and A/B routes."""

from __future__ import annotations

from typing import Any

from steadyllm.sim.server import SimThread
from tests.resilience.conftest import PRICE

ADMIN_KEY = "fuzz-admin-key"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
CHAT_MODELS = ("fast", "claude")
EMBEDDING_MODELS = ("embed",)


def edge_config(sim: SimThread, **server: Any) -> dict[str, Any]:
    timeout = {"connect": 2, "read": 5, "total": 10, "first_token": 5}
    return {
        "server": {"shutdown_timeout": 2, "admin_key": ADMIN_KEY, **server},
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
                        "timeout": timeout,
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
                        "timeout": timeout,
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
                        "timeout": timeout,
                    }
                ],
            },
        ],
        "variants": {
            "definitions": {
                "baseline": {"system_prompt": "Be brief."},
                "casual": {"system_prompt": "Be casual."},
            },
            "routes": {"fast": "baseline"},
        },
    }
