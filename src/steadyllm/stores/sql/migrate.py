"""Bring a database's schema to the newest migration (``steadyllm migrate``).

Alembic runs in code: the script directory ships inside the package and the
configuration is built here, so there is no alembic.ini to install or find.

Upgrading is idempotent and safe when replicas start together: the whole upgrade
runs in one transaction, behind a PostgreSQL advisory lock (SQLite: behind the
database write lock that ``BEGIN IMMEDIATE`` takes). The second process waits, then
finds the schema at head and does nothing.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from steadyllm.stores.sql.engine import Database, open_database

__all__ = ["head_revisions", "upgrade", "upgrade_database"]

_SCRIPT_LOCATION = Path(__file__).with_name("migrations")
# Any fixed 64-bit number names the lock; this one spells "steadyLM".
_ADVISORY_LOCK_KEY = 0x73746561_64794C4D


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    # ConfigParser treats % as interpolation; a path may contain one.
    config.set_main_option("script_location", str(_SCRIPT_LOCATION).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revisions() -> list[str]:
    """The newest revision of each branch the shipped migrations know.

    Capabilities add their tables in their own branch off ``0001``; ``upgrade`` runs
    every branch to its head, so they never need to be ordered among themselves.
    """
    heads = sorted(ScriptDirectory.from_config(_config()).get_heads())
    if not heads:
        raise RuntimeError(f"no migrations found in {_SCRIPT_LOCATION}")
    return heads


def _upgrade_sync(connection: Connection) -> None:
    command.upgrade(_config(connection), "heads")


async def upgrade_database(database: Database) -> None:
    """Upgrade the schema behind ``database`` to head (see the module docstring)."""
    async with database.transaction() as conn:
        if database.dialect == "postgresql":
            # Released by the commit; concurrent upgraders queue here.
            await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_ADVISORY_LOCK_KEY)))
        await conn.run_sync(_upgrade_sync)


async def upgrade(url: str) -> None:
    """Upgrade the database at ``url`` (``sqlite://`` or ``postgresql://``) to head."""
    database = open_database(url)
    try:
        await upgrade_database(database)
    finally:
        await database.dispose()
