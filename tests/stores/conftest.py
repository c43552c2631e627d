"""Every store backend, as fixtures the contract suites run against.

``counter_backend``, ``cache_store`` and ``record_store`` are parametrized over each
backend that implements their Protocol. Server-backed ones are isolated per run:
PostgreSQL gets a uniquely named database for the test session (dropped at the
end), Redis a unique key prefix per test (its keys deleted after).

A test that needs a server it cannot reach fails when ``CI=true`` and skips
elsewhere (``tests.services.require_server``). ``STEADYLLM_TEST_POSTGRES`` and
``STEADYLLM_TEST_REDIS`` point the tests at other servers (``tests.services``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
import redis
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from steadyllm.stores.base import CacheStore, CounterStore, RecordStore
from steadyllm.stores.memory import MemoryCacheStore, MemoryCounterStore, MemoryRecordStore
from steadyllm.stores.redis import RedisCacheStore, RedisCounterStore, redis_client
from steadyllm.stores.sql import Database, SqlCacheStore, SqlRecordStore, open_database, upgrade
from steadyllm.stores.sql.schema import METADATA
from tests.services import POSTGRES_URL, REDIS_URL, require_server

# --- PostgreSQL: one fresh database per test session ----------------------------------


def _postgres_url(database: str) -> str:
    return make_url(POSTGRES_URL).set(database=database).render_as_string(False)


async def postgres_admin(statement: str) -> None:
    """Run ``statement`` (CREATE/DROP DATABASE) on the admin database, outside a transaction."""
    dsn = make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(False)
    connection = await asyncpg.connect(dsn, timeout=3)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
async def scratch_postgres_url(postgres_url: str) -> AsyncIterator[str]:
    """A new, empty PostgreSQL database for one test; dropped afterwards."""
    name = f"steadyllm_test_{uuid.uuid4().hex[:12]}"
    await postgres_admin(f'CREATE DATABASE "{name}"')
    try:
        yield _postgres_url(name)
    finally:
        await postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run_apart(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run ``coroutine`` on a loop of its own: session fixtures may be set up from
    inside a test's running loop (requested lazily by a backend fixture)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="session")
def postgres_session_database() -> Iterator[str | BaseException]:
    """The session's migrated database URL, or why PostgreSQL could not be reached."""
    name = f"steadyllm_test_{uuid.uuid4().hex[:12]}"
    try:
        _run_apart(postgres_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        yield exc
        return
    try:
        url = _postgres_url(name)
        _run_apart(upgrade(url))
        yield url
    finally:
        _run_apart(postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def now() -> float:
    """The wall clock: Redis expires cache entries by it, so entries must be near it."""
    return time.time()


@pytest.fixture
def postgres_url(postgres_session_database: str | BaseException) -> str:
    if isinstance(postgres_session_database, BaseException):
        require_server("PostgreSQL", postgres_session_database)
    assert isinstance(postgres_session_database, str)
    return postgres_session_database


# --- Redis: one key prefix per test -------------------------------------------------


@pytest.fixture(scope="session")
def redis_available() -> BaseException | None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except (OSError, redis.RedisError) as exc:
        return exc
    finally:
        client.close()
    return None


@pytest.fixture
def redis_prefix(redis_available: BaseException | None) -> Iterator[str]:
    """A key prefix no other test uses; every key under it is deleted afterwards.

    Synchronous, because backend fixtures request it from inside a running loop.
    """
    require_server("Redis", redis_available)
    prefix = f"steadyllm-test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


# --- SQL databases ------------------------------------------------------------------


async def _sql_database(request: pytest.FixtureRequest, kind: str) -> Database:
    if kind == "sqlite":
        tmp_path = request.getfixturevalue("tmp_path")
        url = f"sqlite:///{tmp_path / 'steadyllm.db'}"
        await upgrade(url)
        return open_database(url)
    database = open_database(request.getfixturevalue("postgres_url"))
    async with database.transaction() as conn:  # the session's database, emptied per test
        for table in reversed(METADATA.sorted_tables):
            await conn.execute(sa.delete(table))
    return database


# --- the parametrized backends ------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class CounterBackend:
    store: CounterStore
    advance: Callable[[float], Awaitable[None]]  # let that many seconds pass


@pytest.fixture(params=["memory", "redis"])
async def counter_backend(request: pytest.FixtureRequest) -> AsyncIterator[CounterBackend]:
    if request.param == "memory":
        clock = FakeClock()

        async def advance(seconds: float) -> None:
            clock.now += seconds

        backend = CounterBackend(MemoryCounterStore(clock=clock), advance)
    else:
        prefix = request.getfixturevalue("redis_prefix")
        store = RedisCounterStore(redis_client(REDIS_URL), prefix=prefix)
        backend = CounterBackend(store, asyncio.sleep)  # Redis keeps its own time
    yield backend
    await backend.store.close()


@pytest.fixture(params=["memory", "sqlite", "postgresql", "redis"])
async def cache_store(request: pytest.FixtureRequest) -> AsyncIterator[CacheStore]:
    store: CacheStore
    if request.param == "memory":
        store = MemoryCacheStore()
    elif request.param == "redis":
        prefix = request.getfixturevalue("redis_prefix")
        store = RedisCacheStore(redis_client(REDIS_URL), prefix=prefix)
    else:
        store = SqlCacheStore(await _sql_database(request, request.param))
    yield store
    await store.close()


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def record_store(request: pytest.FixtureRequest) -> AsyncIterator[RecordStore]:
    store: RecordStore
    if request.param == "memory":
        store = MemoryRecordStore()
    else:
        store = SqlRecordStore(await _sql_database(request, request.param))
    yield store
    await store.close()
