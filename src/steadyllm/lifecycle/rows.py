"""Lifecycle records behind one small protocol, in memory or in SQL.

Each kind of record (outcomes, versions, drift detections, retraining sessions,
exports) is a frozen dataclass whose fields are its table's columns. :class:`Rows`
stores one kind: memory for tests and ``memory://``, SQL (SQLite, PostgreSQL) for
everything else, through the records' :class:`~steadyllm.stores.sql.engine.Database`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from steadyllm.stores.sql.engine import Database

__all__ = ["MemoryRows", "Rows", "SqlRows", "open_rows"]

T = TypeVar("T")


class Rows(Protocol[T]):
    async def put(self, *records: T) -> None:
        """Insert or replace each record (by ``id``), all in one transaction."""
        ...

    async def get(self, record_id: str) -> T | None: ...

    async def find(
        self,
        *,
        where: Mapping[str, Any] | None = None,
        where_in: Mapping[str, Sequence[Any]] | None = None,
        order_by: str | None = None,
        since: float | None = None,
        newest_first: bool = False,
        limit: int = 1000,
    ) -> list[T]:
        """Records whose columns equal ``where`` (or are in ``where_in``), with
        ``order_by >= since``, in that order."""
        ...


def _matches(record: Any, where: Mapping[str, Any]) -> bool:
    return all(getattr(record, key) == value for key, value in where.items())


class MemoryRows(Generic[T]):
    """Records in a dict, bounded by ``max_records`` (oldest inserted dropped first)."""

    def __init__(self, *, max_records: int = 100_000) -> None:
        self._records: dict[str, T] = {}
        self._max = max_records
        self.lock = asyncio.Lock()

    async def put(self, *records: T) -> None:
        for record in records:
            key = str(getattr(record, "id"))  # noqa: B009 - T is any record dataclass
            self._records.pop(key, None)
            self._records[key] = record
        while len(self._records) > self._max:
            del self._records[next(iter(self._records))]

    async def get(self, record_id: str) -> T | None:
        return self._records.get(record_id)

    async def find(
        self,
        *,
        where: Mapping[str, Any] | None = None,
        where_in: Mapping[str, Sequence[Any]] | None = None,
        order_by: str | None = None,
        since: float | None = None,
        newest_first: bool = False,
        limit: int = 1000,
    ) -> list[T]:
        found = [r for r in self._records.values() if _matches(r, where or {})]
        for key, values in (where_in or {}).items():
            wanted = set(values)
            found = [r for r in found if getattr(r, key) in wanted]
        if order_by is not None:
            if since is not None:
                found = [r for r in found if getattr(r, order_by) >= since]
            found.sort(key=lambda r: (getattr(r, order_by), getattr(r, "id")))  # noqa: B009
        if newest_first:
            found.reverse()
        return found[:limit]


class SqlRows(Generic[T]):
    """Records of dataclass ``kind`` in ``table``; column names are the field names."""

    def __init__(self, database: Database, table: sa.Table, kind: type[T]) -> None:
        self.database = database
        self.table = table
        self._kind = kind
        self._fields = tuple(f.name for f in dataclasses.fields(kind))  # type: ignore[arg-type]
        insert = (postgresql.insert if database.dialect == "postgresql" else sqlite.insert)(table)
        self._upsert = insert.on_conflict_do_update(
            index_elements=["id"],
            set_={name: insert.excluded[name] for name in self._fields if name != "id"},
        )

    def _row(self, record: T) -> dict[str, Any]:
        row = {name: getattr(record, name) for name in self._fields}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in row.items()}

    def record(self, row: sa.RowMapping) -> T:
        values: dict[str, Any] = {}
        for name in self._fields:
            value = row[name]
            column_type = self.table.c[name].type
            if value is not None and isinstance(column_type, sa.Double):
                value = float(value)
            elif value is not None and isinstance(column_type, sa.Boolean):
                value = bool(value)
            elif isinstance(value, list) and name == "tags":
                value = tuple(value)
            values[name] = value
        return self._kind(**values)

    async def put(self, *records: T) -> None:
        if not records:
            return
        async with self.database.transaction() as conn:
            for record in records:
                await conn.execute(self._upsert, self._row(record))

    async def get(self, record_id: str) -> T | None:
        query = sa.select(self.table).where(self.table.c.id == record_id)
        async with self.database.transaction() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else self.record(row)

    async def find(
        self,
        *,
        where: Mapping[str, Any] | None = None,
        where_in: Mapping[str, Sequence[Any]] | None = None,
        order_by: str | None = None,
        since: float | None = None,
        newest_first: bool = False,
        limit: int = 1000,
    ) -> list[T]:
        query = sa.select(self.table)
        for key, value in (where or {}).items():
            column = self.table.c[key]
            query = query.where(column.is_(None) if value is None else column == value)
        for key, values in (where_in or {}).items():
            query = query.where(self.table.c[key].in_(list(values)))
        if order_by is not None:
            column = self.table.c[order_by]
            if since is not None:
                query = query.where(column >= since)
            ids = self.table.c.id
            query = query.order_by(*(column.desc(), ids.desc()) if newest_first else (column, ids))
        query = query.limit(limit)
        async with self.database.transaction() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [self.record(row) for row in rows]


def open_rows(database: Database | None, table: sa.Table, kind: type[T]) -> Rows[T]:
    if database is None:
        return MemoryRows[T]()
    return SqlRows(database, table, kind)
