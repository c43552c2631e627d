"""Call records and cached answers in SQLite or PostgreSQL.

Each method is one transaction. Atomicity comes from the statement, not from
reading then writing in Python: a cache hit is one ``UPDATE ... RETURNING``, a put
one ``INSERT ... ON CONFLICT DO UPDATE``, a record batch one ``executemany`` of one
insert. The schema must be at head first (``steadyllm.stores.sql.migrate``).

Record batches are the hot path (one row per request), so their insert is compiled
once and run with ``exec_driver_sql`` and positional tuples read straight off the
records: SQLAlchemy's per-row dict, parameter processing and compile-cache lookup
were 40 to 50 % of the write's CPU (docs/BENCHMARKS.md). JSON columns go through the
engine's own serializer, so the stored rows are those SQLAlchemy's insert would have
written (tests/stores/test_record_rows.py), and driver-level events (PostgreSQL's NUL
scrub) still see every statement.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from steadyllm.stores.base import CacheEntry, CallRecord
from steadyllm.stores.memory import eviction_size
from steadyllm.stores.sql.engine import Database
from steadyllm.stores.sql.schema import CALL_RECORDS, RESPONSE_CACHE

__all__ = ["SqlCacheStore", "SqlRecordStore"]

_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(CallRecord))
# The JSON columns, serialized by hand for the driver; they are the record's last fields.
_RECORD_JSON = ("fallback_path", "metadata")
_record_plain = operator.attrgetter(*_RECORD_FIELDS[: -len(_RECORD_JSON)])
# SQLite hands back a REAL that has an integral value as an int; the records promise floats.
_RECORD_FLOATS = ("created_at", "cost_usd", "latency_ms", "ttft_ms", "overhead_ms")
# Any fixed 64-bit number names the lock; this one spells "evictLRU".
_EVICTION_LOCK_KEY = 0x65766963_744C5255


def _insert(database: Database, table: sa.Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (the generic one does not)."""
    if database.dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


class SqlRecordStore:
    """Call records in the ``call_records`` table.

    A record whose id is already stored is skipped, so a writer may safely retry a
    batch whose first attempt it never heard back from.
    """

    def __init__(self, database: Database) -> None:
        self._database = database
        insert = _insert(database, CALL_RECORDS).on_conflict_do_nothing(index_elements=["id"])
        compiled = insert.compile(dialect=database.engine.dialect)
        order = tuple(compiled.positiontup or ())
        if order != _RECORD_FIELDS or _RECORD_FIELDS[-len(_RECORD_JSON) :] != _RECORD_JSON:
            raise RuntimeError(f"call_records columns {order} do not follow CallRecord's fields")
        self._insert_sql = compiled.string
        self._json_dumps = database.json_dumps

    async def write_calls(self, records: Sequence[CallRecord]) -> None:
        if not records:
            return
        dumps = self._json_dumps
        rows = [_record_row(record, dumps) for record in records]
        async with self._database.transaction() as conn:
            await conn.exec_driver_sql(self._insert_sql, rows)

    async def get_call(self, record_id: str) -> CallRecord | None:
        query = sa.select(CALL_RECORDS).where(CALL_RECORDS.c.id == record_id)
        async with self._database.transaction() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else _record_from(row)

    async def list_calls(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        tenant: str | None = None,
        request_id: str | None = None,
        limit: int = 1000,
    ) -> list[CallRecord]:
        columns = CALL_RECORDS.c
        query = sa.select(CALL_RECORDS)
        if since is not None:
            query = query.where(columns.created_at >= since)
        if until is not None:
            query = query.where(columns.created_at < until)
        if tenant is not None:
            query = query.where(columns.tenant == tenant)
        if request_id is not None:
            query = query.where(columns.request_id == request_id)
        query = query.order_by(columns.created_at, columns.id).limit(limit)
        async with self._database.transaction() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_record_from(row) for row in rows]

    async def count_calls(self) -> int:
        query = sa.select(sa.func.count()).select_from(CALL_RECORDS)
        async with self._database.transaction() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def close(self) -> None:
        await self._database.dispose()


def _record_row(record: CallRecord, json_dumps: Callable[[Any], str]) -> tuple[Any, ...]:
    """The insert's parameters, in ``_RECORD_FIELDS`` order."""
    return (
        *_record_plain(record),
        json_dumps(list(record.fallback_path)),
        json_dumps(record.metadata),
    )


def _record_from(row: sa.RowMapping) -> CallRecord:
    values = {name: row[name] for name in _RECORD_FIELDS}
    values["fallback_path"] = tuple(values["fallback_path"])
    values["stream"] = bool(values["stream"])
    for name in _RECORD_FLOATS:
        if values[name] is not None:
            values[name] = float(values[name])
    return CallRecord(**values)


class SqlCacheStore:
    """Cached answers in the ``response_cache`` table, keyed by ``message_hash``."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._puts_unchecked = 0  # puts since the last eviction check
        insert = _insert(database, RESPONSE_CACHE)
        self._upsert = insert.on_conflict_do_update(
            index_elements=["message_hash"],
            set_={
                column.name: insert.excluded[column.name]
                for column in RESPONSE_CACHE.columns
                if not column.primary_key
            },
        )

    async def get(self, key: str, *, now: float) -> CacheEntry | None:
        columns = RESPONSE_CACHE.c
        hit = (
            sa.update(RESPONSE_CACHE)
            .where(columns.message_hash == key, columns.expires_at > now)
            .values(hit_count=columns.hit_count + 1, last_accessed=now)
            .returning(RESPONSE_CACHE)
        )
        async with self._database.transaction() as conn:
            row = (await conn.execute(hit)).mappings().first()
        return None if row is None else _entry_from(row)

    async def put(self, entry: CacheEntry, *, max_entries: int | None = None) -> None:
        async with self._database.transaction() as conn:
            await conn.execute(self._upsert, _entry_row(entry))
        if max_entries is None:
            return
        # Counting the table is a scan, so the bound is checked every 1 % of it (every
        # put for a bound under 200): a full table may run over by that much between
        # checks, instead of every miss paying a count that grows with the cache.
        self._puts_unchecked += 1
        if self._puts_unchecked >= max(1, max_entries // 100):
            self._puts_unchecked = 0
            await self._evict(max_entries)

    async def _evict(self, max_entries: int) -> None:
        # A transaction of its own, after the put committed, so the put never waits on
        # eviction; on PostgreSQL one replica evicts at a time, the others skip.
        columns = RESPONSE_CACHE.c
        async with self._database.transaction() as conn:
            if self._database.dialect == "postgresql":
                locked = sa.select(sa.func.pg_try_advisory_xact_lock(_EVICTION_LOCK_KEY))
                if not (await conn.execute(locked)).scalar_one():
                    return
            count = sa.select(sa.func.count()).select_from(RESPONSE_CACHE)
            evict = eviction_size(int((await conn.execute(count)).scalar_one()), max_entries)
            if not evict:
                return
            victims = (
                sa.select(columns.message_hash)
                .order_by(columns.last_accessed, columns.message_hash)
                .limit(evict)
            )
            await conn.execute(
                sa.delete(RESPONSE_CACHE).where(columns.message_hash.in_(victims.scalar_subquery()))
            )

    async def scan(self, tenant: str, scope: str, *, now: float, limit: int) -> list[CacheEntry]:
        columns = RESPONSE_CACHE.c
        query = (
            sa.select(RESPONSE_CACHE)
            .where(columns.tenant == tenant, columns.scope == scope, columns.expires_at > now)
            .order_by(columns.last_accessed.desc(), columns.message_hash.desc())
            .limit(limit)
        )
        async with self._database.transaction() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_entry_from(row) for row in rows]

    async def clear(
        self, *, variant: str | None = None, expired_before: float | None = None
    ) -> int:
        columns = RESPONSE_CACHE.c
        statement = sa.delete(RESPONSE_CACHE)
        if variant is not None:
            statement = statement.where(columns.variant == variant)
        if expired_before is not None:
            statement = statement.where(columns.expires_at < expired_before)
        async with self._database.transaction() as conn:
            result = await conn.execute(statement)
        return int(result.rowcount)

    async def close(self) -> None:
        await self._database.dispose()


def _entry_row(entry: CacheEntry) -> dict[str, Any]:
    message, action = _answer_summary(entry.response)
    return {
        "message_hash": entry.key,
        "tenant": entry.tenant,
        "scope": entry.scope,
        "variant": entry.variant,
        "model": entry.model,
        "user_message": entry.user_message,
        "response_message": message,
        "response_action": action,
        "response_data": entry.response,
        "tokens": entry.input_tokens + entry.output_tokens,
        "input_tokens": entry.input_tokens,
        "output_tokens": entry.output_tokens,
        "cost_usd": entry.cost_usd,
        "response_time_ms": entry.response_time_ms,
        "streamed": entry.streamed,
        "created_at": entry.created_at,
        "expires_at": entry.expires_at,
        "hit_count": entry.hit_count,
        "last_accessed": entry.last_accessed,
    }


def _entry_from(row: sa.RowMapping) -> CacheEntry:
    return CacheEntry(
        key=row["message_hash"],
        tenant=row["tenant"],
        scope=row["scope"],
        model=row["model"],
        variant=row["variant"],
        user_message=row["user_message"],
        response=row["response_data"],
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        cost_usd=float(row["cost_usd"]),
        response_time_ms=float(row["response_time_ms"]),
        created_at=float(row["created_at"]),
        expires_at=float(row["expires_at"]),
        hit_count=row["hit_count"],
        last_accessed=float(row["last_accessed"]),
        streamed=bool(row["streamed"]),
    )


def _answer_summary(response: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The answer's text and the name of the first tool it calls, when it has them."""
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None, None
    message = choices[0].get("message")
    if not isinstance(message, dict):
        return None, None
    content = message.get("content")
    text = content if isinstance(content, str) else None
    action = None
    tool_calls = message.get("tool_calls")
    if isinstance(tool_calls, list) and tool_calls and isinstance(tool_calls[0], dict):
        function = tool_calls[0].get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            action = function["name"]
    return text, action
