"""The gateway the fuzz and edge-input suites attack: every model kind over the simulator,
an admin key (so ``/api/*`` is reached with it), variants for the shadow and A/B routes."""

from __future__ import annotations

from typing import Any

from steadyllm.sim.server import SimThread
from tests.e2e.conftest import gateway_config

ADMIN_KEY = "fuzz-admin-key"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
CHAT_MODELS = ("fast", "claude")
EMBEDDING_MODELS = ("embed",)


def edge_config(sim: SimThread, **server: Any) -> dict[str, Any]:
    """The end-to-end suite's gateway (chat, Anthropic and embedding models over the
    simulator) with an admin key and two variants on ``fast``."""
    config = gateway_config(sim, shutdown_timeout=2, admin_key=ADMIN_KEY, **server)
    config["variants"] = {
        "definitions": {
            "baseline": {"system_prompt": "Be brief."},
            "casual": {"system_prompt": "Be casual."},
        },
        "routes": {"fast": "baseline"},
    }
    return config
