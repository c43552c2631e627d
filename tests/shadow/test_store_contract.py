"""Comparison, experiment and live-variant stores: one suite for every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from steadyllm.experiments.model import Arm, Experiment
from steadyllm.experiments.store import MemoryExperimentStore, SqlExperimentStore
from steadyllm.shadow.comparison import ShadowComparison
from steadyllm.shadow.store import MemoryComparisonStore, SqlComparisonStore
from steadyllm.variants.live import LiveVariants, MemoryLiveVariants, RedisLiveVariants
from tests.stores.conftest import (  # noqa: F401 - fixtures, registered by import
    REDIS_BACKENDS,
    _sql_database,
    postgres_session_database,
    postgres_url,
    redis_available,
    redis_backend,
    redis_cluster_topology,
    redis_prefix,
    redis_sentinel_topology,
)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Any, Any]]:
    if request.param == "memory":
        yield MemoryComparisonStore(), MemoryExperimentStore()
        return
    database = await _sql_database(request, request.param)
    yield SqlComparisonStore(database), SqlExperimentStore(database)
    await database.dispose()


def comparison(i: int, session: str = "s1", error: str | None = None) -> ShadowComparison:
    return ShadowComparison(
        id=f"c{i}", session_id=session, request_id=f"r{i}", created_at=1000.0 + i,
        primary_variant="baseline", shadow_variant="casual",
        primary_response="yes", shadow_response="yes indeed",
        similarity=0.5, difference_score=0.5, is_different=False, action_differs=False,
        primary_duration_ms=100.5, shadow_duration_ms=80.25, latency_delta_ms=-20.25,
        primary_cost=0.002, shadow_cost=None, cost_delta=None, shadow_error=error,
    )  # fmt: skip


async def test_comparisons_round_trip_per_session(stores: tuple[Any, Any]) -> None:
    comparisons, _ = stores
    for i in range(3):
        await comparisons.add(comparison(i))
    await comparisons.add(comparison(9, session="other", error="Timeout"))
    found = await comparisons.list("s1")
    assert [c.id for c in found] == ["c0", "c1", "c2"]
    assert found[0] == comparison(0)
    assert [c.id for c in await comparisons.list("s1", limit=2)] == ["c1", "c2"]
    assert (await comparisons.list("other"))[0].shadow_error == "Timeout"


async def test_experiments_round_trip(stores: tuple[Any, Any]) -> None:
    _, experiments = stores
    first = Experiment(
        id="e1", name="tone", route="fast",
        arms=(Arm("baseline", 1.0), Arm("casual", 3.0)), created_at=10.0,
    )  # fmt: skip
    second = Experiment(
        id="e2", name="other", route="smart",
        arms=(Arm("a", 1.0), Arm("b", 1.0)), subject="user", created_at=20.0,
    )  # fmt: skip
    await experiments.create(second)
    await experiments.create(first)
    assert await experiments.get("e1") == first
    assert await experiments.get("nope") is None
    assert [e.id for e in await experiments.list()] == ["e1", "e2"]
    assert await experiments.set_status("e1", "stopped") is True
    assert (await experiments.get("e1")).status == "stopped"
    assert await experiments.set_status("nope", "stopped") is False


@pytest.fixture(params=["memory", *REDIS_BACKENDS])
async def live(request: pytest.FixtureRequest) -> AsyncIterator[LiveVariants]:
    if request.param == "memory":
        yield MemoryLiveVariants({"fast": "baseline"})
        return
    from steadyllm.stores.redis import redis_client

    url, prefix = redis_backend(request, request.param)
    store = RedisLiveVariants(redis_client(url), prefix, {"fast": "baseline"}, ttl=0)
    await store.start()
    yield store
    await store.close()


async def test_live_variant_switch(live: LiveVariants) -> None:
    store = live
    assert await store.get("fast") == "baseline"
    await store.set("fast", "casual")
    assert await store.get("fast") == "casual"
    assert await store.all() == {"fast": "casual"}
    assert await store.get("missing") is None


async def test_redis_switch_reaches_every_replica(request: pytest.FixtureRequest) -> None:
    prefix = request.getfixturevalue("redis_prefix")
    from steadyllm.stores.redis import redis_client
    from tests.services import REDIS_URL

    one = RedisLiveVariants(redis_client(REDIS_URL), prefix, {"fast": "baseline"}, ttl=0)
    two = RedisLiveVariants(redis_client(REDIS_URL), prefix, {"fast": "ignored"}, ttl=0)
    await one.start()
    await two.start()  # the first replica's value stays
    assert await two.get("fast") == "baseline"
    await one.set("fast", "casual")
    assert await two.get("fast") == "casual"
    await one.close()
    await two.close()
