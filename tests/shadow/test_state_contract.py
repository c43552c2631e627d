"""The running shadow test's state and the tests' history: one suite per backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from steadyllm.shadow.session import ShadowSession
from steadyllm.shadow.state import MemoryShadowState, RedisShadowState, ShadowState
from steadyllm.shadow.store import HistoryStore, MemoryHistoryStore, SqlHistoryStore
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

SESSION = ShadowSession(
    id="s1",
    shadow_variant="casual",
    primary_variant="baseline",
    routes=("fast",),
    traffic_percent=10.0,
    target_samples=5,
    auto_promote=True,
    started_at=1000.0,
)


@pytest.fixture(params=["memory", *REDIS_BACKENDS])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[ShadowState]:
    if request.param == "memory":
        yield MemoryShadowState()
        return
    from steadyllm.stores.redis import redis_client

    url, prefix = redis_backend(request, request.param)
    client = redis_client(url)
    yield RedisShadowState(client, prefix, ttl=0)
    await client.aclose()


async def test_one_test_at_a_time_with_its_samples(state: ShadowState) -> None:
    assert await state.fresh() is None
    assert await state.begin(SESSION)
    assert not await state.begin(replace(SESSION, id="s2"))
    assert await state.current() == SESSION
    assert [await state.add_sample("s1") for _ in range(3)] == [1, 2, 3]
    assert await state.samples("s1") == 3
    ramped = replace(SESSION, traffic_percent=20.0)
    assert await state.update(ramped)
    assert not await state.update(replace(ramped, id="other"))
    assert await state.fresh() == ramped
    assert not await state.end("other")
    assert await state.end("s1")
    assert not await state.end("s1")  # a second replica's promote finds nothing to end
    assert await state.fresh() is None
    assert not await state.update(ramped)
    assert await state.begin(replace(SESSION, id="s2"))


async def test_redis_state_reaches_every_replica(request: pytest.FixtureRequest) -> None:
    from steadyllm.stores.redis import redis_client
    from tests.services import REDIS_URL

    prefix = request.getfixturevalue("redis_prefix")
    client = redis_client(REDIS_URL)
    clock = [0.0]
    one = RedisShadowState(client, prefix)
    two = RedisShadowState(client, prefix, clock=lambda: clock[0])
    assert await two.current() is None
    await one.begin(SESSION)
    assert await two.current() is None  # its copy is not yet a second old
    clock[0] = 1.5
    assert await two.current() == SESSION
    await one.add_sample("s1")
    assert await two.samples("s1") == 1
    await client.aclose()


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def history(request: pytest.FixtureRequest) -> AsyncIterator[HistoryStore]:
    if request.param == "memory":
        yield MemoryHistoryStore()
        return
    database = await _sql_database(request, request.param)
    yield SqlHistoryStore(database)
    await database.dispose()


async def test_history_round_trip_in_order(history: HistoryStore) -> None:
    entries: list[dict[str, Any]] = [
        {"action": action, "at": 1000.0 + i, "sessionId": "s1", "previous": {"fast": "baseline"}}
        for i, action in enumerate(["start", "ramp", "promote"])
    ]
    for entry in entries:
        await history.add(entry)
    assert await history.list() == entries
    assert await history.list(limit=2) == entries[1:]
