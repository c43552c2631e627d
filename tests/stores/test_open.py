"""open_stores: the URL scheme picks each backend; bad URLs are configuration errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis
from sqlalchemy.engine import make_url

from steadyllm.config import ConfigError, StoreSettings
from steadyllm.stores import Stores, open_stores
from steadyllm.stores.memory import MemoryCacheStore, MemoryCounterStore, MemoryRecordStore
from steadyllm.stores.redis import RedisCacheStore, RedisCounterStore
from steadyllm.stores.sql import SqlCacheStore, SqlRecordStore, async_url
from tests.services import REDIS_URL, require_server
from tests.stores.values import make_entry, make_record


async def _exercise(stores: Stores, now: float) -> None:
    await stores.records.write_calls([make_record("r1", now)])
    assert await stores.records.count_calls() == 1
    await stores.cache.put(make_entry("k1", now))
    assert await stores.cache.get("k1", now=now) is not None
    assert (await stores.counters.reserve("c", 1, limit=1)).granted


async def test_memory(now: float) -> None:
    stores = await open_stores(StoreSettings(url="memory://"))
    assert isinstance(stores.records, MemoryRecordStore)
    assert isinstance(stores.cache, MemoryCacheStore)
    assert isinstance(stores.counters, MemoryCounterStore)
    await _exercise(stores, now)
    await stores.close()


async def test_sqlite_file_is_migrated(tmp_path: Path, now: float) -> None:
    stores = await open_stores(StoreSettings(url=f"sqlite:///{tmp_path / 'gateway.db'}"))
    assert isinstance(stores.records, SqlRecordStore)
    assert isinstance(stores.cache, SqlCacheStore)
    assert isinstance(stores.counters, MemoryCounterStore)
    await _exercise(stores, now)
    await stores.close()
    reopened = await open_stores(StoreSettings(url=f"sqlite:///{tmp_path / 'gateway.db'}"))
    assert await reopened.records.count_calls() == 1  # migrating again kept the data
    await reopened.close()


async def test_sqlite_in_memory_serves_concurrent_calls(now: float) -> None:
    stores = await open_stores(StoreSettings(url="sqlite:///:memory:"))
    await asyncio.gather(
        *(stores.records.write_calls([make_record(f"r{n}", now + n)]) for n in range(20)),
        *(stores.cache.put(make_entry(f"k{n}", now)) for n in range(20)),
    )
    hits = await asyncio.gather(*(stores.cache.get("k3", now=now) for _ in range(10)))
    assert sorted(hit.hit_count for hit in hits if hit is not None) == list(range(1, 11))
    assert await stores.records.count_calls() == 20
    await stores.close()


async def test_postgresql(postgres_url: str, now: float) -> None:
    stores = await open_stores(StoreSettings(url=postgres_url))
    assert isinstance(stores.records, SqlRecordStore)
    await stores.records.write_calls([make_record("open-test", now)])
    assert await stores.records.get_call("open-test") is not None
    await stores.close()


async def test_redis_holds_counters_and_cache(
    tmp_path: Path, redis_prefix: str, now: float
) -> None:
    settings = StoreSettings(url=f"sqlite:///{tmp_path / 'gateway.db'}", redis_url=REDIS_URL)
    stores = await open_stores(settings, redis_prefix=redis_prefix)
    assert isinstance(stores.records, SqlRecordStore)
    assert isinstance(stores.cache, RedisCacheStore)
    assert isinstance(stores.counters, RedisCounterStore)
    await _exercise(stores, now)
    await stores.close()


async def test_unreachable_redis_fails_at_open() -> None:
    settings = StoreSettings(url="memory://", redis_url="redis://127.0.0.1:1/0")
    with pytest.raises(redis.ConnectionError):
        await open_stores(settings)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root@localhost/db", "unsupported scheme 'mysql'"),
        ("steadyllm.db", "is not a URL"),
        ("postgresql+psycopg://localhost/db", "unsupported scheme 'postgresql\\+psycopg'"),
    ],
)
async def test_unknown_store_url(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        await open_stores(StoreSettings(url=url))


async def test_unknown_redis_scheme() -> None:
    # Settings check it when loaded (tests/stores/test_redis_urls.py); settings built
    # without validation are still refused when the stores open.
    settings = StoreSettings.model_construct(
        url="memory://", redis_url="memcached://localhost:11211", redis_prefix="x:"
    )
    with pytest.raises(ConfigError, match=r"store\.redis_url: unsupported scheme 'memcached'"):
        await open_stores(settings)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///steadyllm.db", "sqlite+aiosqlite:///steadyllm.db"),
        ("sqlite:////var/lib/steadyllm.db", "sqlite+aiosqlite:////var/lib/steadyllm.db"),
        ("sqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
        ("postgresql://u@db:5433/gw", "postgresql+asyncpg://u@db:5433/gw"),
        ("postgres://u@db/gw", "postgresql+asyncpg://u@db/gw"),
        ("postgresql+asyncpg://u:pw@db/gw", "postgresql+asyncpg://u:pw@db/gw"),
    ],
)
def test_async_url(url: str, expected: str) -> None:
    assert async_url(url) == make_url(expected)


def test_require_server_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    problem = ConnectionRefusedError("refused")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_server("Redis", problem)
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        require_server("Redis", problem)
    require_server("Redis", None)  # reachable: nothing happens
