"""From a user's database URL to an async engine with the settings steadyllm relies on.

Users write driver-less URLs (``sqlite:///steadyllm.db``, ``postgresql://host/db``);
this module picks the async driver (aiosqlite, asyncpg) and owns every engine knob:

- SQLite: WAL (readers never block the writer), a busy timeout (writers queue instead
  of failing), and ``BEGIN IMMEDIATE`` for every transaction. The default deferred
  BEGIN takes the write lock only at the first write, and in WAL mode a transaction
  that read first and then wants to write fails at once with "database is locked"
  when another connection wrote in between; the busy timeout cannot help it.
- ``sqlite:///:memory:`` lives in one connection (a second connection would see an
  empty database), so its transactions are serialized by a lock here.
- PostgreSQL: pre-ping, so connections dropped by a server restart are replaced.
  PostgreSQL text and JSONB cannot hold NUL (U+0000), which is valid in JSON and so
  in what clients send: it is stored as U+FFFD, in every string parameter and in
  every JSON value, instead of failing the write (a lost record, a 500).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from steadyllm.config import ConfigError

__all__ = ["Database", "async_url", "open_database"]

_SQLITE_SCHEMES = {"sqlite", "sqlite+aiosqlite"}
_POSTGRES_SCHEMES = {"postgresql", "postgres", "postgresql+asyncpg"}
_BUSY_TIMEOUT_MS = 15_000


def async_url(url: str) -> URL:
    """The SQLAlchemy async URL for a user's ``sqlite://`` or ``postgresql://`` URL."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"store.url: cannot parse database URL {url!r}") from None
    if parsed.drivername in _SQLITE_SCHEMES:
        return parsed.set(drivername="sqlite+aiosqlite")
    if parsed.drivername in _POSTGRES_SCHEMES:
        return parsed.set(drivername="postgresql+asyncpg")
    raise ConfigError(
        f"store.url: unsupported database URL scheme {parsed.drivername!r}; "
        "use sqlite:///path.db, sqlite:///:memory: or postgresql://user@host:port/db"
    )


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:")


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _without_nul(value: Any) -> Any:
    """``value`` with every NUL in its strings (and keys) replaced by U+FFFD."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_without_nul(v) for v in value)
    return value


def _may_hold_nul(parameters: Any, many: bool) -> bool:
    """False only when no string in ``parameters`` holds a NUL: the usual case, in which
    the statement's parameters are passed on as they are instead of copied.

    Containers, string subclasses and unexpected shapes answer True, leaving the
    decision to :func:`_without_nul`'s full walk.
    """
    for row in parameters if many else (parameters,):
        if isinstance(row, dict):
            row = row.values()
        elif not isinstance(row, (tuple, list)):
            return True
        for value in row:
            if type(value) is str:
                if "\x00" in value:
                    return True
            elif isinstance(value, (str, dict, list, tuple)):
                return True
    return False


def _postgres_json_dumps(value: Any) -> str:
    text = orjson.dumps(value).decode()
    if "\\u0000" in text:  # a NUL (or a literal backslash-u0000): scrub the value itself
        text = orjson.dumps(_without_nul(value)).decode()
    return text


class Database:
    """An async engine plus the way to open a transaction on it.

    ``json_dumps`` is the engine's JSON serializer, for statements that bypass
    SQLAlchemy's parameter processing (``exec_driver_sql``) and so serialize JSON
    columns themselves, exactly as the engine would.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        single_connection: bool = False,
        json_dumps: Callable[[Any], str] = _json_dumps,
    ) -> None:
        self.engine = engine
        self.dialect: str = engine.dialect.name
        self.json_dumps = json_dumps
        self._lock = asyncio.Lock() if single_connection else None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction: committed on exit, rolled back on error."""
        async with contextlib.AsyncExitStack() as stack:
            if self._lock is not None:
                await stack.enter_async_context(self._lock)
            conn = await stack.enter_async_context(self.engine.begin())
            yield conn

    async def dispose(self) -> None:
        """Close pooled connections; safe to call more than once."""
        await self.engine.dispose()


def open_database(url: str) -> Database:
    """A :class:`Database` for ``url``; connects lazily, on first use."""
    target = async_url(url)
    options: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}
    if target.get_backend_name() == "postgresql":
        options["json_serializer"] = _postgres_json_dumps
        try:
            engine = create_async_engine(target, pool_pre_ping=True, **options)
        except ImportError:
            raise ConfigError(
                "store.url: PostgreSQL needs the asyncpg package: pip install 'steadyllm[postgres]'"
            ) from None
        _configure_postgres(engine)
        return Database(engine, json_dumps=_postgres_json_dumps)
    memory = _is_memory(target)
    if memory:
        options["poolclass"] = StaticPool
    engine = create_async_engine(target, **options)
    _configure_sqlite(engine)
    return Database(engine, single_connection=memory)


def _configure_postgres(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "before_cursor_execute", retval=True)
    def _no_nul(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool
    ) -> tuple[str, Any]:
        if not _may_hold_nul(parameters, many):
            return statement, parameters
        return statement, _without_nul(parameters)


def _use_wal(cursor: Any) -> None:
    """Put the database in WAL mode (it stays so: the mode is kept in the file).

    Switching needs the database to itself, and SQLite may refuse it at once with
    "database is locked" rather than wait (its deadlock avoidance skips the busy
    handler) while another connection is switching or writing: replicas creating a
    new database together. So: nothing to do when it is WAL already, else try again
    for up to the busy timeout. Runs when a connection is made, not per request.
    """
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    while True:
        cursor.execute("PRAGMA journal_mode")
        row = cursor.fetchone()
        if row is not None and str(row[0]).lower() == "wal":
            return
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver; _on_begin issues BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # The busy timeout first: switching a new database to WAL takes its write lock,
        # and replicas starting together would otherwise fail "database is locked".
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable enough with WAL, much faster
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
