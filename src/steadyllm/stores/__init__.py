"""Open the gateway's stores from its settings; the URL scheme picks each backend.

``store.url`` holds records and, without Redis, the cache:

- ``memory://``: in-process, gone at exit (tests, demos);
- ``sqlite:///path.db``, ``sqlite:///:memory:``: the embedded default;
- ``postgresql://user@host:port/db`` (also ``postgres://``, ``postgresql+asyncpg://``).

``store.redis_url``, when set, holds the counters and the cache, shared by every
replica: one server (``redis://``, ``rediss://``, ``unix://``), Sentinel
(``redis+sentinel://``) or Cluster (``redis+cluster://``); the forms are in
``steadyllm.stores.redis_client``. Without it counters live in memory, which is
exact for one process only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from steadyllm.config import ConfigError, StoreSettings
from steadyllm.stores.base import (
    CacheEntry,
    CacheStore,
    CallRecord,
    CounterStore,
    RecordStore,
    Reservation,
)
from steadyllm.stores.memory import MemoryCacheStore, MemoryCounterStore, MemoryRecordStore

if TYPE_CHECKING:
    from steadyllm.stores.sql.engine import Database

__all__ = [
    "CacheEntry",
    "CacheStore",
    "CallRecord",
    "CounterStore",
    "RecordStore",
    "Reservation",
    "Stores",
    "open_stores",
]

_SQL_SCHEMES = {"sqlite", "sqlite+aiosqlite", "postgresql", "postgres", "postgresql+asyncpg"}


@dataclass
class Stores:
    """The three stores one gateway uses."""

    counters: CounterStore
    cache: CacheStore
    records: RecordStore
    database: Database | None = None  # the records' SQL database (None for memory://)

    async def close(self) -> None:
        """Close every store, even when one of them fails to close."""
        errors: list[BaseException] = []
        for store in (self.counters, self.cache, self.records):
            try:
                await store.close()
            except Exception as exc:  # close the others first, then report
                errors.append(exc)
        if errors:
            raise errors[0]


def _scheme(url: str, setting: str) -> str:
    scheme, separator, _ = url.partition("://")
    if not separator:
        raise ConfigError(f"{setting}: {url!r} is not a URL (expected scheme://...)")
    return scheme.lower()


async def _open_records_and_cache(
    url: str, *, migrate: bool
) -> tuple[RecordStore, CacheStore, Database | None]:
    scheme = _scheme(url, "store.url")
    if scheme == "memory":
        return MemoryRecordStore(), MemoryCacheStore(), None
    if scheme not in _SQL_SCHEMES:
        raise ConfigError(
            f"store.url: unsupported scheme {scheme!r}; use memory://, "
            "sqlite:///path.db, sqlite:///:memory: or postgresql://user@host:port/db"
        )
    from steadyllm.stores.sql import SqlCacheStore, SqlRecordStore, open_database, upgrade_database

    database = open_database(url)
    if migrate:
        try:
            await upgrade_database(database)
        except BaseException:
            await database.dispose()
            raise
    return SqlRecordStore(database), SqlCacheStore(database), database


async def _open_redis(url: str, prefix: str | None) -> tuple[CounterStore, CacheStore]:
    try:
        from steadyllm.stores.redis import (
            DEFAULT_PREFIX,
            RedisCacheStore,
            RedisCounterStore,
            redis_client,
        )
    except ImportError:
        raise ConfigError(
            "store.redis_url needs the redis package: pip install 'steadyllm[redis]'"
        ) from None
    try:
        client = redis_client(url)
    except ValueError as exc:
        raise ConfigError(f"store.redis_url: {exc}") from None
    try:
        await client.ping()  # fail at startup, not on the first request
    except BaseException:
        await client.aclose()
        raise
    prefix = DEFAULT_PREFIX if prefix is None else prefix
    return RedisCounterStore(client, prefix=prefix), RedisCacheStore(client, prefix=prefix)


async def open_stores(
    settings: StoreSettings, *, migrate: bool = True, redis_prefix: str | None = None
) -> Stores:
    """Open the stores ``settings`` name, migrating SQL schemas first unless told not to.

    ``redis_prefix`` starts every Redis key (default ``store.redis_prefix``), so several
    gateways or test runs can share one Redis.

    Raises :class:`~steadyllm.config.ConfigError` for a URL no backend serves.
    """
    records, cache, database = await _open_records_and_cache(settings.url, migrate=migrate)
    if redis_prefix is None:
        redis_prefix = settings.redis_prefix
    if settings.redis_url is None:
        return Stores(
            counters=MemoryCounterStore(), cache=cache, records=records, database=database
        )
    try:
        counters, shared_cache = await _open_redis(settings.redis_url, redis_prefix)
    except BaseException:
        await records.close()
        raise
    # The SQL cache store shares its engine with the records, so nothing to close.
    return Stores(counters=counters, cache=shared_cache, records=records, database=database)
