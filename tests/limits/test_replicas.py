"""Limits and budgets hold across gateway processes that share one Redis."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from steadyllm.sim.faults import FaultPlan
from steadyllm.sim.server import SimThread
from tests.limits.replicas import create_key, replicas, write_config
from tests.services import require_redis

PRICE = {"input_per_million": 1.0, "output_per_million": 2.0}
BODY = {"model": "fast", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
UNLIMITED_RATES = ["--rpm", "100000", "--rph", "100000", "--rpd", "100000", "--tpm", "100000000"]


@pytest.fixture
def redis_url() -> Iterator[str]:
    return (yield require_redis())


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    name = f"steadyllm-test:{uuid.uuid4().hex}:"
    yield name
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{name}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def config(sim: SimThread, tmp_path: Path, redis_url: str, prefix: str) -> dict[str, Any]:
    return {
        "server": {"shutdown_timeout": 5},
        "store": {
            "url": f"sqlite:///{tmp_path / 'shared.db'}",
            "redis_url": redis_url,
            "redis_prefix": prefix,
        },
        # A generous Redis timeout: a busy test machine must not look like a Redis
        # outage (which would fail open to per-replica limits).
        "access": {"require_keys": True, "global_limits": {}, "counter_timeout": 10},
        "models": [
            {
                "name": "fast",
                "deployments": [
                    {
                        "provider": "openai",
                        "model": "sim-fast",
                        "api_base": sim.base_url,
                        "price": PRICE,
                    }
                ],
            }
        ],
    }


async def fire(urls: list[str], key: str, total: int) -> list[httpx.Response]:
    """``total`` requests at once, spread evenly over the replicas."""
    limits = httpx.Limits(max_connections=total, max_keepalive_connections=total)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        return await asyncio.gather(
            *(
                client.post(
                    f"{urls[i % len(urls)]}/v1/chat/completions",
                    json=BODY,
                    headers={"authorization": f"Bearer {key}"},
                )
                for i in range(total)
            )
        )


def assert_shared(urls: list[str]) -> None:
    """Every replica kept its limits in Redis throughout (none failed over to local)."""
    for url in urls:
        status = httpx.get(f"{url}/api/limits/status").json()["limits"]
        assert (status["backend"], status["counter_failures"]) == ("redis", 0)


def upstream_requests(sim: SimThread) -> int:
    return int(httpx.get(f"{sim.url}/sim/stats").json()["requests"])


def test_a_budget_for_20_calls_serves_at_most_20_of_200_over_two_replicas(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    with SimThread(FaultPlan(latency_ms=30)) as sim:
        path = write_config(tmp_path, config(sim, tmp_path, redis_url, prefix))
        # One call: 4 tokens in ("hi" and framing), 8 out (max_tokens) = $0.00002.
        one_call = (4 * PRICE["input_per_million"] + 8 * PRICE["output_per_million"]) / 1e6
        budget = 20.5 * one_call
        key = create_key(path, "--user", "ana", "--budget", repr(budget), *UNLIMITED_RATES)
        with replicas(path, 2, tmp_path) as urls:
            answers = asyncio.run(fire(urls, key["key"], 200))
        served = [r for r in answers if r.status_code == 200]
        refused = [r for r in answers if r.status_code != 200]
        assert all(
            r.json()["usage"] == {"prompt_tokens": 4, "completion_tokens": 8, "total_tokens": 12}
            for r in served
        )
        assert 1 <= len(served) <= 20
        assert len(served) * one_call <= budget
        assert {r.status_code for r in refused} == {429}
        assert {r.json()["error"]["code"] for r in refused} == {"budget_exceeded"}
        assert upstream_requests(sim) == len(served)  # a refused call never went upstream
        served_by = {
            url: sum(1 for i, r in enumerate(answers) if r.status_code == 200 and i % 2 == n)
            for n, url in enumerate(urls)
        }
        assert sum(served_by.values()) == len(served)


def test_a_per_minute_limit_of_30_holds_across_three_replicas(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    with SimThread(FaultPlan(latency_ms=5)) as sim:
        path = write_config(tmp_path, config(sim, tmp_path, redis_url, prefix))
        key = create_key(
            path, "--rpm", "30", "--rph", "1000", "--rpd", "1000", "--tpm", "100000000"
        )
        with replicas(path, 3, tmp_path) as urls:
            # The burst must not straddle a minute's edge by more than a second or two.
            into_minute = time.time() % 60
            if into_minute > 55:
                time.sleep(60.2 - into_minute)
            answers = asyncio.run(fire(urls, key["key"], 90))
            assert_shared(urls)
        statuses = [r.status_code for r in answers]
        assert statuses.count(200) == 30
        assert statuses.count(429) == 60
        for refused in (r for r in answers if r.status_code == 429):
            assert int(refused.headers["retry-after"]) >= 1
            assert refused.headers["x-ratelimit-limit"] == "30"
            assert refused.headers["x-ratelimit-remaining"] == "0"
        for replica in range(3):  # every replica took part in the one limit
            assert any(answers[i].status_code == 429 for i in range(replica, 90, 3))
        assert upstream_requests(sim) == 30
