"""Lifecycle fixtures: every backend its records live in (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from steadyllm.lifecycle.runtime import Lifecycle
from steadyllm.lifecycle.settings import LifecycleSettings
from steadyllm.stores.sql import Database
from tests.stores.conftest import (  # noqa: F401 - fixtures, registered by import
    _sql_database,
    postgres_session_database,
    postgres_url,
)


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def no_chat(messages: list[dict[str, Any]], *, model: str, **params: Any) -> dict[str, Any]:
    raise AssertionError("this test makes no model calls")


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest) -> AsyncIterator[Database | None]:
    if request.param == "memory":
        yield None
        return
    database = await _sql_database(request, request.param)
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def lifecycle(database: Database | None, clock: Clock) -> Lifecycle:
    return Lifecycle(LifecycleSettings(), database, None, no_chat, clock=clock)
