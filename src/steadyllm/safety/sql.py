"""The safety log in SQLite or PostgreSQL (tables ``safety_events`` and ``safety_checks``).

A write is one transaction: a multi-row insert of events (an id already stored is
skipped, so a retried batch does not duplicate) and one upsert per (check type,
hour) adding to its count.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from steadyllm.safety.log import CheckType, SafetyEvent, SummaryRow, hour_of
from steadyllm.stores.sql.engine import Database
from steadyllm.stores.sql.schema import SAFETY_CHECKS, SAFETY_EVENTS

__all__ = ["SqlSafetyLog"]

_FIELDS = tuple(f.name for f in dataclasses.fields(SafetyEvent))


class SqlSafetyLog:
    def __init__(self, database: Database) -> None:
        self._database = database
        dialect = postgresql if database.dialect == "postgresql" else sqlite
        self._insert_events = dialect.insert(SAFETY_EVENTS).on_conflict_do_nothing(
            index_elements=["id"]
        )
        upsert = dialect.insert(SAFETY_CHECKS)
        self._add_checks = upsert.on_conflict_do_update(
            index_elements=["check_type", "hour"],
            set_={"checks": SAFETY_CHECKS.c.checks + upsert.excluded.checks},
        )

    async def write(
        self, events: Sequence[SafetyEvent], checks: Mapping[tuple[str, float], int]
    ) -> None:
        if not events and not checks:
            return
        async with self._database.transaction() as conn:
            if events:
                await conn.execute(self._insert_events, [_row(event) for event in events])
            for (check_type, hour), count in sorted(checks.items()):
                await conn.execute(
                    self._add_checks, {"check_type": check_type, "hour": hour, "checks": count}
                )

    async def check_counts(self, *, since: float | None = None) -> dict[CheckType, int]:
        columns = SAFETY_CHECKS.c
        query = sa.select(columns.check_type, sa.func.sum(columns.checks)).group_by(
            columns.check_type
        )
        if since is not None:
            query = query.where(columns.hour >= hour_of(since))
        async with self._database.transaction() as conn:
            rows = (await conn.execute(query)).all()
        return {str(check): int(total or 0) for check, total in rows}

    async def summary(self, *, since: float | None = None) -> list[SummaryRow]:
        columns = SAFETY_EVENTS.c
        query = (
            sa.select(
                columns.check_type,
                columns.violation_type,
                sa.func.count(),
                sa.func.sum(sa.case((columns.blocked, 1), else_=0)),
                sa.func.count(sa.distinct(columns.conversation)),
            )
            .group_by(columns.check_type, columns.violation_type)
            .order_by(columns.check_type, columns.violation_type)
        )
        if since is not None:
            query = query.where(columns.created_at >= since)
        async with self._database.transaction() as conn:
            rows = (await conn.execute(query)).all()
        return [SummaryRow(str(c), str(v), int(n), int(b or 0), int(k)) for c, v, n, b, k in rows]

    async def recent(
        self, *, limit: int = 50, since: float | None = None, check_type: str | None = None
    ) -> list[SafetyEvent]:
        columns = SAFETY_EVENTS.c
        query = (
            sa.select(SAFETY_EVENTS)
            .order_by(columns.created_at.desc(), columns.id.desc())
            .limit(limit)
        )
        if since is not None:
            query = query.where(columns.created_at >= since)
        if check_type is not None:
            query = query.where(columns.check_type == check_type)
        async with self._database.transaction() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_event(row) for row in rows]

    async def close(self) -> None:
        return None  # the database belongs to the gateway's stores


def _row(event: SafetyEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in _FIELDS}


def _event(row: sa.RowMapping) -> SafetyEvent:
    values = {name: row[name] for name in _FIELDS}
    values["created_at"] = float(values["created_at"])
    values["blocked"] = bool(values["blocked"])
    if values["score"] is not None:
        values["score"] = float(values["score"])
    return SafetyEvent(**values)
