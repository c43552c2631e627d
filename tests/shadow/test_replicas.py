"""Two gateways sharing one Redis and one SQLite file act on one shadow test."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from steadyllm.errors import Conflict
from steadyllm.gateway import Gateway
from steadyllm.shadow.state import RedisShadowState
from tests.services import REDIS_URL
from tests.stores.conftest import (  # noqa: F401 - fixtures, registered by import
    redis_available,
    redis_prefix,
)

PRICE = {"input_per_million": 1.0, "output_per_million": 2.0}


def config(db: Path, redis_url: str, prefix: str) -> dict[str, Any]:
    return {
        "store": {"url": f"sqlite:///{db}", "redis_url": redis_url, "redis_prefix": prefix},
        "cache": {"enabled": False},
        "models": [
            {"name": "fast", "deployments": [{"provider": "sim", "model": "a", "price": PRICE}]},
            {"name": "other", "deployments": [{"provider": "sim", "model": "b", "price": PRICE}]},
        ],
        "variants": {
            "definitions": {
                "baseline": {"system_prompt": "One."},
                "candidate": {"system_prompt": "Two.", "model": "other"},
            },
            "routes": {"fast": "baseline"},
        },
    }


async def traffic(gateway: Gateway, tag: str, n: int) -> None:
    for i in range(n):
        await gateway.chat(
            [{"role": "user", "content": f"question {tag}{i}"}],
            model="fast",
            metadata={"conversation_id": f"{tag}{i}"},
        )


async def test_a_shadow_test_started_on_one_replica_is_run_by_both(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    redis_url, prefix = REDIS_URL, request.getfixturevalue("redis_prefix")
    db = tmp_path / "gw.db"
    async with (
        Gateway.from_config(config(db, redis_url, prefix)) as a,
        Gateway.from_config(config(db, redis_url, prefix)) as b,
    ):
        assert isinstance(a.shadow.state, RedisShadowState)
        started = await a.shadow.start("candidate", "baseline", traffic_percent=100)
        status_b = await b.shadow.status()
        assert status_b["active"]
        assert status_b["sessionId"] == started["sessionId"]

        await traffic(a, "a", 4)
        await traffic(b, "b", 3)  # B's local copy of the test is at most a second old
        await a.shadow.drain()
        await b.shadow.drain()

        status = await b.shadow.status()
        assert status["samplesCollected"] == 7
        assert (await b.shadow.analysis())["totalComparisons"] == 7
        assert (await a.shadow.analysis())["totalComparisons"] == 7

        assert await a.variants.live.get("fast") == "baseline"
        promoted = await b.shadow.promote()
        assert promoted["live"]["fast"] == "candidate"
        deadline = time.monotonic() + 1.5
        while await a.variants.live.get("fast") != "candidate":
            assert time.monotonic() < deadline, "replica A never saw the promotion"
            await asyncio.sleep(0.05)
        assert not (await a.shadow.status())["active"]
        assert await a.shadow.refresh() is None

        history = await a.shadow.history()  # kept in SQL: both replicas read it
        assert [h["action"] for h in history] == ["start", "promote"]
        rolled = await a.shadow.rollback()  # undo B's promotion from A
        assert rolled["live"]["fast"] == "baseline"
        assert [h["action"] for h in await b.shadow.history()][-1] == "rollback"


async def test_only_one_replica_can_start_or_stop(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    redis_url, prefix = REDIS_URL, request.getfixturevalue("redis_prefix")
    db = tmp_path / "gw.db"
    async with (
        Gateway.from_config(config(db, redis_url, prefix)) as a,
        Gateway.from_config(config(db, redis_url, prefix)) as b,
    ):
        await a.shadow.start("candidate", "baseline", traffic_percent=50)
        with pytest.raises(Conflict):
            await b.shadow.start("candidate", "baseline")
        await asyncio.gather(a.shadow.stop(), b.shadow.stop(), return_exceptions=True)
        assert not (await a.shadow.status())["active"]
        assert [h["action"] for h in await b.shadow.history()] == ["start", "stop"]
