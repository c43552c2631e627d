"""Migrations: idempotent, safe to race, and in step with ``schema.py``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from steadyllm.stores.sql import open_database, upgrade
from steadyllm.stores.sql.migrate import head_revisions
from steadyllm.stores.sql.schema import METADATA, VERSION_TABLE

# Every table schema.py declares (each capability adds its own), plus the version table.
_STEADYLLM_TABLES = {*METADATA.tables, VERSION_TABLE}


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    url: str = request.getfixturevalue("scratch_postgres_url")
    return url


async def _inspect(url: str) -> tuple[set[str], list[str], list[Any]]:
    """Table names, recorded revisions and differences from ``schema.py``."""

    def look(connection: Connection) -> tuple[set[str], list[str], list[Any]]:
        tables = set(sa.inspect(connection).get_table_names())
        versions = [
            row[0]
            for row in connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}"))
        ]
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        return tables, versions, compare_metadata(context, METADATA)

    database = open_database(url)
    try:
        async with database.transaction() as conn:
            return await conn.run_sync(look)
    finally:
        await database.dispose()


async def test_upgrade_creates_the_schema_at_head(fresh_url: str) -> None:
    await upgrade(fresh_url)
    tables, versions, differences = await _inspect(fresh_url)
    assert tables == _STEADYLLM_TABLES
    assert sorted(versions) == head_revisions()
    assert differences == []  # the migrations build exactly what schema.py describes


async def test_upgrade_twice_changes_nothing(fresh_url: str) -> None:
    await upgrade(fresh_url)
    await upgrade(fresh_url)
    tables, versions, _ = await _inspect(fresh_url)
    assert tables == _STEADYLLM_TABLES
    assert sorted(versions) == head_revisions()


async def test_racing_upgrades_all_succeed(fresh_url: str) -> None:
    # Replicas starting together each migrate, each on its own connection; the lock
    # (advisory on PostgreSQL, BEGIN IMMEDIATE on SQLite) makes all but one no-ops.
    # Without it they collide on CREATE TABLE, or wait on each other for ever.
    await asyncio.wait_for(asyncio.gather(*(upgrade(fresh_url) for _ in range(3))), 30)
    _, versions, differences = await _inspect(fresh_url)
    assert sorted(versions) == head_revisions()
    assert differences == []
