"""Every store backend, as fixtures the contract suites run against.

``counter_backend``, ``cache_store`` and ``record_store`` are parametrized over each
backend that implements their Protocol. Server-backed ones are isolated per run:
PostgreSQL gets a uniquely named database for the test session (dropped at the
end), Redis a unique key prefix per test (its keys deleted after).

Redis runs three ways: the shared server (``redis``), a Sentinel in front of a
throwaway master (``redis-sentinel``) and a throwaway 3-master Cluster
(``redis-cluster``); the throwaway servers start once per session, on free ports
(``tests/stores/redis_topologies.py``), when a test first needs them.

A test that needs a server it cannot reach (or start) fails when ``CI=true`` and
skips elsewhere (``tests.services.require_server``). ``STEADYLLM_TEST_POSTGRES`` and
``STEADYLLM_TEST_REDIS`` point the tests at other servers (``tests.services``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
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
from tests.stores.redis_topologies import Topology, TopologyError, start_cluster, start_sentinel

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


# --- Redis Sentinel and Redis Cluster: throwaway servers, once per session ----------

# Started at most once per process, however many conftest modules import the fixtures.
_TOPOLOGIES: dict[str, Topology | BaseException] = {}
_STARTERS: dict[str, Callable[[Path], Topology]] = {
    "redis-sentinel": start_sentinel,
    "redis-cluster": start_cluster,
}
REDIS_BACKENDS = ["redis", "redis-sentinel", "redis-cluster"]


def _topology(kind: str) -> Topology | BaseException:
    if kind not in _TOPOLOGIES:
        directory = Path(tempfile.mkdtemp(prefix=f"steadyllm-{kind}-"))
        try:
            _TOPOLOGIES[kind] = _STARTERS[kind](directory)
        except (TopologyError, OSError, subprocess.SubprocessError, redis.RedisError) as exc:
            shutil.rmtree(directory, ignore_errors=True)
            _TOPOLOGIES[kind] = exc
    return _TOPOLOGIES[kind]


def _stop_topology(kind: str) -> None:
    topology = _TOPOLOGIES.pop(kind, None)
    if isinstance(topology, Topology):
        topology.stop()
        shutil.rmtree(topology.directory, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_sentinel_topology() -> Iterator[Topology | BaseException]:
    """A master watched by a Sentinel, or why it could not be started."""
    yield _topology("redis-sentinel")
    _stop_topology("redis-sentinel")


@pytest.fixture(scope="session")
def redis_cluster_topology() -> Iterator[Topology | BaseException]:
    """A 3-master Redis Cluster, or why it could not be started."""
    yield _topology("redis-cluster")
    _stop_topology("redis-cluster")


def redis_backend(request: pytest.FixtureRequest, kind: str) -> tuple[str, str]:
    """``(store.redis_url, key prefix)`` for one test on the Redis deployment ``kind``
    (one of ``REDIS_BACKENDS``); the prefix is the test's own."""
    if kind == "redis":
        return REDIS_URL, str(request.getfixturevalue("redis_prefix"))
    topology = request.getfixturevalue(kind.replace("-", "_") + "_topology")
    if isinstance(topology, BaseException):
        require_server(f"a throwaway {kind}", topology)
    assert isinstance(topology, Topology)
    # Throwaway servers: their keys go with them, nothing to delete.
    return topology.url, f"steadyllm-test:{uuid.uuid4().hex}:"


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


@pytest.fixture(params=["memory", *REDIS_BACKENDS])
async def counter_backend(request: pytest.FixtureRequest) -> AsyncIterator[CounterBackend]:
    if request.param == "memory":
        clock = FakeClock()

        async def advance(seconds: float) -> None:
            clock.now += seconds

        backend = CounterBackend(MemoryCounterStore(clock=clock), advance)
    else:
        url, prefix = redis_backend(request, request.param)
        store = RedisCounterStore(redis_client(url), prefix=prefix)
        backend = CounterBackend(store, asyncio.sleep)  # Redis keeps its own time
    yield backend
    await backend.store.close()


@pytest.fixture(params=["memory", "sqlite", "postgresql", *REDIS_BACKENDS])
async def cache_store(request: pytest.FixtureRequest) -> AsyncIterator[CacheStore]:
    store: CacheStore
    if request.param == "memory":
        store = MemoryCacheStore()
    elif request.param in REDIS_BACKENDS:
        url, prefix = redis_backend(request, request.param)
        store = RedisCacheStore(redis_client(url), prefix=prefix)
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
