"""Backends for the limits suites: the limit store, key store and usage store on every
backend that serves them (memory, Redis, SQLite, PostgreSQL).

The PostgreSQL session database and the per-test Redis prefix come from the store
suites' fixtures (``tests/stores/conftest.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from steadyllm.limits.redis_store import RedisLimitStore, limit_client
from steadyllm.limits.store import LimitStore, MemoryLimitStore
from steadyllm.stores.sql import Database, open_database, upgrade
from steadyllm.stores.sql.schema import METADATA
from tests.stores.conftest import (  # noqa: F401  (fixtures, registered by import)
    REDIS_BACKENDS,
    postgres_session_database,
    postgres_url,
    redis_available,
    redis_backend,
    redis_cluster_topology,
    redis_prefix,
    redis_sentinel_topology,
)


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class LimitBackend:
    store: LimitStore
    advance: Callable[[float], Awaitable[None]]  # let that many seconds pass
    name: str


@pytest.fixture(params=["memory", *REDIS_BACKENDS])
async def limit_backend(request: pytest.FixtureRequest) -> AsyncIterator[LimitBackend]:
    if request.param == "memory":
        clock = Clock()

        async def advance(seconds: float) -> None:
            clock.now += seconds

        backend = LimitBackend(MemoryLimitStore(clock=clock), advance, "memory")
    else:
        url, prefix = redis_backend(request, request.param)
        store = RedisLimitStore(limit_client(url, timeout=5), prefix=prefix)
        backend = LimitBackend(store, asyncio.sleep, request.param)
    yield backend
    await backend.store.close()


async def sql_database(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> Database:
    """A migrated, empty database of ``kind`` (sqlite: a new file; postgresql: the
    session's database, emptied)."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'limits.db'}"
        await upgrade(url)
        return open_database(url)
    database = open_database(request.getfixturevalue("postgres_url"))
    async with database.transaction() as conn:
        for table in reversed(METADATA.sorted_tables):
            await conn.execute(sa.delete(table))
    return database
