"""Safety-log store backends (memory, SQLite, PostgreSQL) for the contract suite.

PostgreSQL reuses the stores suite's session database (``tests/stores/conftest.py``):
it fails under ``CI=true`` when the server is missing, and skips elsewhere.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from steadyllm.safety.log import MemorySafetyLog, SafetyLogStore
from steadyllm.safety.sql import SqlSafetyLog
from tests.stores.conftest import (  # noqa: F401 - fixtures, registered by import
    _sql_database,
    postgres_session_database,
    postgres_url,
)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def safety_store(request: pytest.FixtureRequest) -> AsyncIterator[SafetyLogStore]:
    store: SafetyLogStore
    if request.param == "memory":
        store = MemorySafetyLog()
        yield store
        return
    database = await _sql_database(request, request.param)
    store = SqlSafetyLog(database)
    yield store
    await store.close()
    await database.dispose()
