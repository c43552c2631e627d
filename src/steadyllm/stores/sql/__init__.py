"""SQLite and PostgreSQL stores, their schema and their migrations."""

from steadyllm.stores.sql.engine import Database, async_url, open_database
from steadyllm.stores.sql.migrate import upgrade, upgrade_database
from steadyllm.stores.sql.store import SqlCacheStore, SqlRecordStore

__all__ = [
    "Database",
    "SqlCacheStore",
    "SqlRecordStore",
    "async_url",
    "open_database",
    "upgrade",
    "upgrade_database",
]
