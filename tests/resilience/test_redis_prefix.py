"""Breakers and retry budgets live under ``store.redis_prefix``, like every other key.

Regression: ``Resilience.open`` used the default prefix whatever ``store.redis_prefix``
said, so two gateways given different prefixes on one Redis shared their breakers
(found by ``test_replicas.py``: a breaker opened by one test run was open for the next).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from steadyllm.config import StoreSettings
from steadyllm.resilience.runtime import Resilience
from steadyllm.resilience.settings import ResilienceSettings
from tests.services import require_redis


@pytest.fixture
def prefixes() -> Iterator[tuple[str, str, str]]:
    url = require_redis()
    run = uuid.uuid4().hex
    yield url, f"steadyllm-test:{run}:a:", f"steadyllm-test:{run}:b:"
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"steadyllm-test:{run}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


async def test_two_prefixes_keep_two_sets_of_breakers(prefixes: tuple[str, str, str]) -> None:
    url, first, second = prefixes
    settings = ResilienceSettings.model_validate({"breaker": {"failure_threshold": 1}})
    name = f"dep-{uuid.uuid4().hex}"
    a = await Resilience.open(settings, StoreSettings(redis_url=url, redis_prefix=first))
    b = await Resilience.open(settings, StoreSettings(redis_url=url, redis_prefix=second))
    try:
        breaker_a, breaker_b = a.registry.get(name), b.registry.get(name)
        await breaker_a.record(await breaker_a.admit(), failed=True)
        assert (await breaker_a.state()).state == "open"
        assert (await breaker_b.state()).state == "closed"  # the other prefix: its own breaker
    finally:
        await a.close()
        await b.close()
    client = redis.Redis.from_url(url)
    try:
        assert client.exists(f"{first}resilience:breaker:{name}")
        assert not client.exists(f"steadyllm:resilience:breaker:{name}")
    finally:
        client.close()
