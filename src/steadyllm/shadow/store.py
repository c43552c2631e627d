"""Where shadow comparisons and the tests' history are kept: memory (bounded), or the
records' SQL database (so every replica's samples count)."""

from __future__ import annotations

import dataclasses
import uuid
from collections import deque
from typing import Any, Protocol

import sqlalchemy as sa

from steadyllm.shadow.comparison import ShadowComparison
from steadyllm.stores.sql.engine import Database
from steadyllm.stores.sql.schema import SHADOW_COMPARISONS, SHADOW_HISTORY

__all__ = [
    "ComparisonStore",
    "HistoryStore",
    "MemoryComparisonStore",
    "MemoryHistoryStore",
    "SqlComparisonStore",
    "SqlHistoryStore",
]

_FIELDS = tuple(f.name for f in dataclasses.fields(ShadowComparison))


class ComparisonStore(Protocol):
    async def add(self, comparison: ShadowComparison) -> None: ...

    async def list(self, session_id: str, *, limit: int = 10_000) -> list[ShadowComparison]:
        """The session's comparisons, oldest first."""
        ...


class MemoryComparisonStore:
    def __init__(self, limit: int = 10_000) -> None:
        self._items: deque[ShadowComparison] = deque(maxlen=limit)

    async def add(self, comparison: ShadowComparison) -> None:
        self._items.append(comparison)

    async def list(self, session_id: str, *, limit: int = 10_000) -> list[ShadowComparison]:
        found = [c for c in self._items if c.session_id == session_id]
        return found[-limit:]


class SqlComparisonStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def add(self, comparison: ShadowComparison) -> None:
        row = {name: getattr(comparison, name) for name in _FIELDS}
        async with self._database.transaction() as conn:
            await conn.execute(sa.insert(SHADOW_COMPARISONS), [row])

    async def list(self, session_id: str, *, limit: int = 10_000) -> list[ShadowComparison]:
        columns = SHADOW_COMPARISONS.c
        query = (
            sa.select(SHADOW_COMPARISONS)
            .where(columns.session_id == session_id)
            .order_by(columns.created_at.desc())
            .limit(limit)
        )
        async with self._database.transaction() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [ShadowComparison(**{name: row[name] for name in _FIELDS}) for row in reversed(rows)]


class HistoryStore(Protocol):
    async def add(self, entry: dict[str, Any]) -> None: ...

    async def list(self, *, limit: int = 1000) -> list[dict[str, Any]]:
        """The latest entries, oldest first."""
        ...


class MemoryHistoryStore:
    def __init__(self, limit: int = 1000) -> None:
        self._items: deque[dict[str, Any]] = deque(maxlen=limit)

    async def add(self, entry: dict[str, Any]) -> None:
        self._items.append(entry)

    async def list(self, *, limit: int = 1000) -> list[dict[str, Any]]:
        return list(self._items)[-limit:]


class SqlHistoryStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def add(self, entry: dict[str, Any]) -> None:
        row = {
            "id": uuid.uuid4().hex,
            "at": float(entry["at"]),
            "session_id": str(entry["sessionId"]),
            "action": str(entry["action"]),
            "entry": entry,
        }
        async with self._database.transaction() as conn:
            await conn.execute(sa.insert(SHADOW_HISTORY), [row])

    async def list(self, *, limit: int = 1000) -> list[dict[str, Any]]:
        columns = SHADOW_HISTORY.c
        query = sa.select(columns.entry).order_by(columns.at.desc()).limit(limit)
        async with self._database.transaction() as conn:
            rows = (await conn.execute(query)).scalars().all()
        return [dict(row) for row in reversed(rows)]
