"""Virtual keys at rest: the :class:`KeyStore` protocol, in memory and in SQL.

Only the SHA-256 of a key is stored (``keys.secrets``). Revoking keeps the row (with
``revoked_at``) so usage stays attributable and a revoked key is told apart from an
unknown one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from steadyllm.errors import Conflict
from steadyllm.stores.sql.engine import Database
from steadyllm.stores.sql.schema import API_KEYS

__all__ = ["ApiKey", "KeyStore", "MemoryKeyStore", "SqlKeyStore"]


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One virtual key. ``limits`` holds only the fields that override the tier's."""

    id: str
    key_hash: str
    hint: str
    tenant: str
    tier: str
    name: str = ""
    user: str | None = None
    allowed_models: tuple[str, ...] | None = None  # None: every model
    limits: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    revoked_at: float | None = None
    expires_at: float | None = None

    def public(self) -> dict[str, Any]:
        """What the API and the CLI show: everything but the hash."""
        shown = dataclasses.asdict(self)
        del shown["key_hash"]
        shown["allowed_models"] = list(self.allowed_models) if self.allowed_models else None
        shown["revoked"] = self.revoked_at is not None
        return shown


# Fields an update may change (the hash, id and creation time never change).
UPDATABLE = ("name", "user", "tier", "allowed_models", "limits", "expires_at", "revoked_at")


class KeyStore(Protocol):
    async def create(self, key: ApiKey) -> None:
        """Store a new key; ``Conflict`` if its id or hash exists."""
        ...

    async def get(self, key_id: str) -> ApiKey | None: ...

    async def find(self, key_hash: str) -> ApiKey | None:
        """The key with this hash, revoked or not; ``None`` if there is none."""
        ...

    async def list(
        self, *, tenant: str | None = None, include_revoked: bool = False
    ) -> list[ApiKey]:
        """Keys, oldest first."""
        ...

    async def update(self, key_id: str, changes: Mapping[str, Any]) -> ApiKey | None:
        """Apply ``changes`` (fields in ``UPDATABLE``); ``None`` for an unknown id."""
        ...

    async def close(self) -> None: ...


class MemoryKeyStore:
    def __init__(self) -> None:
        self._keys: dict[str, ApiKey] = {}
        self._by_hash: dict[str, str] = {}

    async def create(self, key: ApiKey) -> None:
        if key.id in self._keys or key.key_hash in self._by_hash:
            raise Conflict(f"a key with id {key.id} or the same secret exists")
        self._keys[key.id] = key
        self._by_hash[key.key_hash] = key.id

    async def get(self, key_id: str) -> ApiKey | None:
        return self._keys.get(key_id)

    async def find(self, key_hash: str) -> ApiKey | None:
        key_id = self._by_hash.get(key_hash)
        return None if key_id is None else self._keys[key_id]

    async def list(
        self, *, tenant: str | None = None, include_revoked: bool = False
    ) -> list[ApiKey]:
        return [
            k
            for k in self._keys.values()
            if (tenant is None or k.tenant == tenant) and (include_revoked or k.revoked_at is None)
        ]

    async def update(self, key_id: str, changes: Mapping[str, Any]) -> ApiKey | None:
        key = self._keys.get(key_id)
        if key is None:
            return None
        updated = dataclasses.replace(key, **_checked(changes))
        self._keys[key_id] = updated
        return updated

    async def close(self) -> None:
        """Nothing to release."""


class SqlKeyStore:
    """Keys in the ``api_keys`` table (SQLite or PostgreSQL)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def create(self, key: ApiKey) -> None:
        try:
            async with self._database.transaction() as conn:
                await conn.execute(sa.insert(API_KEYS).values(**_row(key)))
        except IntegrityError:
            raise Conflict(f"a key with id {key.id} or the same secret exists") from None

    async def _one(self, where: sa.ColumnElement[bool]) -> ApiKey | None:
        async with self._database.transaction() as conn:
            row = (await conn.execute(sa.select(API_KEYS).where(where))).mappings().first()
        return None if row is None else _key(row)

    async def get(self, key_id: str) -> ApiKey | None:
        return await self._one(API_KEYS.c.id == key_id)

    async def find(self, key_hash: str) -> ApiKey | None:
        return await self._one(API_KEYS.c.key_hash == key_hash)

    async def list(
        self, *, tenant: str | None = None, include_revoked: bool = False
    ) -> list[ApiKey]:
        columns = API_KEYS.c
        query = sa.select(API_KEYS).order_by(columns.created_at, columns.id)
        if tenant is not None:
            query = query.where(columns.tenant == tenant)
        if not include_revoked:
            query = query.where(columns.revoked_at.is_(None))
        async with self._database.transaction() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_key(row) for row in rows]

    async def update(self, key_id: str, changes: Mapping[str, Any]) -> ApiKey | None:
        values = _checked(changes)
        if "allowed_models" in values and values["allowed_models"] is not None:
            values["allowed_models"] = list(values["allowed_models"])
        statement = (
            sa.update(API_KEYS).where(API_KEYS.c.id == key_id).values(**values).returning(API_KEYS)
        )
        async with self._database.transaction() as conn:
            row = (await conn.execute(statement)).mappings().first()
        return None if row is None else _key(row)

    async def close(self) -> None:
        """The database belongs to the record store, which disposes of it."""


def _checked(changes: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(changes) - {*UPDATABLE, "updated_at"}
    if unknown:
        raise ValueError(f"cannot update key fields {sorted(unknown)}")
    values = dict(changes)
    if values.get("allowed_models") is not None:
        values["allowed_models"] = tuple(values["allowed_models"])
    return values


def _row(key: ApiKey) -> dict[str, Any]:
    row = {f.name: getattr(key, f.name) for f in dataclasses.fields(ApiKey)}
    row["allowed_models"] = list(key.allowed_models) if key.allowed_models is not None else None
    return row


def _key(row: sa.RowMapping) -> ApiKey:
    values = {f.name: row[f.name] for f in dataclasses.fields(ApiKey)}
    if values["allowed_models"] is not None:
        values["allowed_models"] = tuple(values["allowed_models"])
    for name in ("created_at", "updated_at", "revoked_at", "expires_at"):
        if values[name] is not None:
            values[name] = float(values[name])
    return ApiKey(**values)
