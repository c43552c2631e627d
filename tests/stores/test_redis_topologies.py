"""Redis Sentinel and Redis Cluster beyond the contract suites: a Sentinel failover the
stores follow, and where the keys land in a cluster.

The contract suites (tests/stores, tests/limits, tests/shadow, tests/cache,
tests/resilience) already run every Redis store on both deployments.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import redis

from steadyllm import Gateway
from steadyllm.config import StoreSettings
from steadyllm.errors import GatewayError
from steadyllm.limits.redis_store import RedisLimitStore, limit_client
from steadyllm.limits.rules import Rule
from steadyllm.stores import open_stores
from tests.services import require_server
from tests.stores.conftest import redis_backend
from tests.stores.redis_topologies import (
    Topology,
    TopologyError,
    fail_over,
    master_port,
    start_sentinel,
)
from tests.stores.values import make_entry

_T = TypeVar("_T")


@pytest.fixture
def sentinel_with_replica(tmp_path: Path) -> Iterator[Topology]:
    """A master, its replica and a Sentinel of this test's own (a failover changes them)."""
    try:
        topology = start_sentinel(tmp_path / "sentinel", replica=True)
    except (TopologyError, OSError, redis.RedisError) as exc:
        require_server("a throwaway Redis Sentinel with a replica", exc)
        raise
    yield topology
    topology.stop()


async def _through(action: Callable[[], Awaitable[_T]], failures: list[str]) -> _T:
    """``action``, tried again (up to 15 s) while the old master is going away; each
    failed try is noted in ``failures``."""
    deadline = time.monotonic() + 15
    while True:
        try:
            return await action()
        except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError) as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
            if time.monotonic() > deadline:
                raise


async def test_stores_follow_a_sentinel_failover(sentinel_with_replica: Topology) -> None:
    topology = sentinel_with_replica
    prefix = f"steadyllm-test:{uuid.uuid4().hex}:"
    now = time.time()
    stores = await open_stores(
        StoreSettings(url="memory://", redis_url=topology.url), redis_prefix=prefix
    )
    limits = RedisLimitStore(limit_client(topology.url, timeout=5), prefix=prefix)
    rule = Rule("sliding", "requests_per_minute", "rq:k:1:m", 3, 1, 60, "key")
    try:
        assert await stores.counters.incr("calls", 5) == 5
        await stores.cache.put(make_entry("q", now))
        assert (await limits.acquire([rule], "a")).granted
        old = master_port(topology)
        # The replica has every write before it is promoted (replication is asynchronous).
        assert redis.Redis(port=old).execute_command("WAIT", 1, 5000) == 1

        new = fail_over(topology)
        assert new == topology.ports["replica"]
        # Stop the old master: until Sentinel demotes it, it would still take (and then
        # lose) writes on connections opened before the failover.
        topology.stop_one(old)

        failures: list[str] = []
        assert await _through(lambda: stores.counters.incr("calls", 1), failures) == 6
        hit = await _through(lambda: stores.cache.get("q", now=now), failures)
        assert hit is not None
        assert hit.hit_count == 1
        second = await _through(lambda: limits.acquire([rule], "b"), failures)
        assert second.granted
        assert second.rules[0].remaining == pytest.approx(1, abs=0.01)
        # Written on the new master.
        assert float(redis.Redis(port=new).get(f"{prefix}counter:calls") or 0) == 6
        # redis-py retries a command whose connection broke on a fresh connection,
        # which asks Sentinel for the master: the stores see no failure at all.
        assert failures == []
    finally:
        await stores.close()
        await limits.close()


async def test_cluster_spreads_limits_and_keeps_the_cache_in_one_slot(
    request: pytest.FixtureRequest,
) -> None:
    url, prefix = redis_backend(request, "redis-cluster")
    nodes = redis.RedisCluster.from_url(url.replace("redis+cluster://", "redis://").split(",")[0])
    store = RedisLimitStore(limit_client(url, timeout=5), prefix=prefix)
    try:
        # Two counters of one call, on two different nodes of the cluster.
        keys = [f"rq:k:{n}:m" for n in range(50)]
        by_node: dict[str, str] = {}
        for key in keys:
            node = nodes.get_node_from_key(f"{prefix}limit:{{{key}}}")
            by_node.setdefault(node.name, key)
        assert len(by_node) == 3  # 50 counters hash onto all three masters
        first, second = list(by_node.values())[:2]
        roomy = Rule("sliding", "requests_per_minute", first, 10, 1, 60, "key")
        tight = Rule("sliding", "requests_per_hour", second, 1, 1, 3600, "key")
        assert (await store.acquire([roomy, tight], "a")).granted
        refused = await store.acquire([roomy, tight], "b")
        assert (refused.granted, refused.refused) == (False, 1)
        # The refused call gave back what it took on the other node: 9 of 10 remain.
        left = [(await store.acquire([roomy], f"c{i}")).granted for i in range(10)]
        assert sum(left) == 9

        # Every cache key carries the {cache} tag: one slot, whatever the entry.
        slots = {
            nodes.keyslot(f"{prefix}{{cache}}:{name}")
            for name in ("lru", "expiry", "scope_of", "entry:a", "scope:4:acme:s")
        }
        assert len(slots) == 1
    finally:
        await store.close()
        nodes.close()


@pytest.mark.parametrize("kind", ["redis-sentinel", "redis-cluster"])
async def test_a_gateway_shares_its_limits_through_it(
    request: pytest.FixtureRequest, kind: str
) -> None:
    url, prefix = redis_backend(request, kind)
    config = {
        "store": {"url": "memory://", "redis_url": url, "redis_prefix": prefix},
        "access": {"anonymous": {"requests_per_minute": 3}},
    }
    async with Gateway.from_config(config) as one, Gateway.from_config(config) as two:
        # Two gateways (replicas) on one Redis share the anonymous caller's 3 per minute.
        for n, gateway in enumerate([one, two, one]):
            body = {"model": "fast", "messages": [{"role": "user", "content": f"hello {n}"}]}
            await gateway.handle(gateway.new_call("chat", body))
        body = {"model": "fast", "messages": [{"role": "user", "content": "hello 3"}]}
        with pytest.raises(GatewayError) as refused:
            await two.handle(two.new_call("chat", body))
        assert refused.value.http_status == 429
        for gateway in (one, two):
            status = gateway.access.limiter.status()
            assert (status["backend"], status["degraded"]) == ("redis", False)
            assert status["counter_failures"] == 0
