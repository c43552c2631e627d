"""Where usage reports are read from: the :class:`UsageStore` protocol.

- :class:`SqlUsageStore` reads ``usage_daily`` (SQLite, PostgreSQL): one row per day
  and combination of dimensions, kept by a trigger as call records are inserted
  (migration ``0002_keys_usage``), so a report over months reads days, not calls.
- :class:`RecordsUsageStore` adds up the call records themselves (``memory://``,
  where records live only as long as the process).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from typing import Protocol

import sqlalchemy as sa

from steadyllm.stores.base import CallRecord, RecordStore
from steadyllm.stores.sql.engine import Database
from steadyllm.stores.sql.schema import USAGE_DAILY
from steadyllm.usage.report import UsageQuery, UsageRow

__all__ = ["RecordsUsageStore", "SqlUsageStore", "UsageStore"]

_COLUMN = {"key": "key_id"}  # report dimension -> usage_daily column, where they differ


class UsageStore(Protocol):
    async def report(self, query: UsageQuery) -> list[UsageRow]:
        """One row per combination of ``query.group_by``, ordered by it."""
        ...


def _column(dimension: str) -> sa.ColumnElement[str]:
    return USAGE_DAILY.c[_COLUMN.get(dimension, dimension)]


class SqlUsageStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def report(self, query: UsageQuery) -> list[UsageRow]:
        c = USAGE_DAILY.c
        groups = [_column(d) for d in query.group_by]
        statement = sa.select(
            *groups,
            sa.func.coalesce(sa.func.sum(c.requests), 0),
            sa.func.coalesce(sa.func.sum(c.errors), 0),
            sa.func.coalesce(sa.func.sum(c.input_tokens), 0),
            sa.func.coalesce(sa.func.sum(c.output_tokens), 0),
            sa.func.coalesce(sa.func.sum(c.cost_usd), 0.0),
            sa.func.coalesce(sa.func.sum(c.unpriced_requests), 0),
        ).where(c.day >= query.start.isoformat(), c.day <= query.end.isoformat())
        for dimension, value in query.filters.items():
            statement = statement.where(_column(dimension) == value)
        if groups:
            statement = statement.group_by(*groups).order_by(*groups)
        async with self._database.transaction() as conn:
            rows = (await conn.execute(statement)).all()
        width = len(groups)
        report = []
        for row in rows:
            if not groups and not row[0]:
                continue  # no usage at all: no rows, as when grouped
            report.append(
                UsageRow(
                    group={d: (row[i] or None) for i, d in enumerate(query.group_by)},
                    requests=int(row[width]),
                    errors=int(row[width + 1]),
                    input_tokens=int(row[width + 2]),
                    output_tokens=int(row[width + 3]),
                    cost_usd=float(row[width + 4]),
                    unpriced_requests=int(row[width + 5]),
                )
            )
        return report


def _dimension(record: CallRecord, dimension: str) -> str | None:
    """A record's value for a report dimension, as the SQL trigger computes it."""
    if dimension == "day":
        return datetime.fromtimestamp(record.created_at, UTC).date().isoformat()
    if dimension == "key":
        return record.key_id
    if dimension in ("project_id", "agent_type"):
        value = record.metadata.get(dimension)
        return None if value is None or value == "" else str(value)
    value = getattr(record, dimension)
    return None if value is None or value == "" else str(value)


def aggregate(records: Iterable[CallRecord], query: UsageQuery) -> list[UsageRow]:
    rows: dict[tuple[str | None, ...], UsageRow] = {}
    for record in records:
        if any(_dimension(record, d) != v for d, v in query.filters.items()):
            continue
        group = tuple(_dimension(record, d) for d in query.group_by)
        row = rows.get(group)
        if row is None:
            row = rows[group] = UsageRow(group=dict(zip(query.group_by, group, strict=True)))
        tokens = record.input_tokens + record.output_tokens
        row.requests += 1
        row.errors += record.status >= 400
        row.input_tokens += record.input_tokens
        row.output_tokens += record.output_tokens
        row.cost_usd += record.cost_usd or 0.0
        row.unpriced_requests += record.cost_usd is None and tokens > 0
    return [rows[k] for k in sorted(rows, key=lambda g: tuple(v or "" for v in g))]


class RecordsUsageStore:
    """Reports added up from the call records (for stores without ``usage_daily``)."""

    def __init__(self, records: RecordStore) -> None:
        self._records = records

    async def report(self, query: UsageQuery) -> list[UsageRow]:
        since = datetime.combine(query.start, time(), UTC).timestamp()
        until = datetime.combine(query.end + timedelta(days=1), time(), UTC).timestamp()
        records = await self._records.list_calls(
            since=since, until=until, tenant=query.filters.get("tenant"), limit=10**9
        )
        return aggregate(records, query)
