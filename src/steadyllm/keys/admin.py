"""Creating, changing and revoking keys: the rules the admin API and the CLI share.

Input is checked here (pydantic, off the request path); a problem is an
``InvalidRequest`` naming the field. The secret exists only in ``create``'s return
value: it is shown once and stored as a hash.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from steadyllm.errors import InvalidRequest, NotFound
from steadyllm.keys.keyring import KeyRing
from steadyllm.keys.secrets import hash_secret, hint_of, new_key_id, new_secret
from steadyllm.keys.settings import AccessSettings, Limits
from steadyllm.keys.store import ApiKey, KeyStore

__all__ = ["KeyAdmin"]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _KeyCreate(_Input):
    name: str = ""
    tenant: str = Field("default", min_length=1)
    user: str | None = Field(None, min_length=1)
    tier: str | None = None
    allowed_models: list[str] | None = None
    limits: Limits = Limits()
    expires_at: float | None = None


class _KeyUpdate(_Input):
    name: str | None = None
    user: str | None = Field(None, min_length=1)
    tier: str | None = None
    allowed_models: list[str] | None = None
    limits: Limits | None = None
    expires_at: float | None = None


def _parse(model: type[_Input], data: Any) -> Any:
    if not isinstance(data, Mapping):
        raise InvalidRequest("The request body must be a JSON object.")
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        ]
        first = exc.errors()[0]["loc"]
        raise InvalidRequest(
            "Invalid key: " + "; ".join(problems), param=".".join(str(p) for p in first) or None
        ) from None


class KeyAdmin:
    def __init__(
        self,
        store: KeyStore,
        settings: AccessSettings,
        *,
        models: Collection[str],
        keyring: KeyRing | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._settings = settings
        self._models = frozenset(models)
        self._keyring = keyring
        self._clock = clock

    def _check(self, tier: str | None, allowed_models: list[str] | None) -> None:
        if tier is not None and tier not in self._settings.tiers:
            raise InvalidRequest(
                f"Unknown tier {tier!r}; the tiers are {', '.join(sorted(self._settings.tiers))}.",
                param="tier",
            )
        unknown = sorted(set(allowed_models or ()) - self._models)
        if unknown:
            raise InvalidRequest(
                f"Unknown models in allowed_models: {', '.join(unknown)}.", param="allowed_models"
            )

    async def create(self, data: Any) -> tuple[ApiKey, str]:
        """A new key and its secret (the only time the secret is known)."""
        spec: _KeyCreate = _parse(_KeyCreate, data)
        self._check(spec.tier, spec.allowed_models)
        secret = new_secret()
        now = self._clock()
        key = ApiKey(
            id=new_key_id(),
            key_hash=hash_secret(secret),
            hint=hint_of(secret),
            tenant=spec.tenant,
            tier=spec.tier or self._settings.default_tier,
            name=spec.name,
            user=spec.user,
            allowed_models=tuple(spec.allowed_models) if spec.allowed_models is not None else None,
            limits=spec.limits.model_dump(exclude_none=True),
            created_at=now,
            updated_at=now,
            expires_at=spec.expires_at,
        )
        await self._store.create(key)
        return key, secret

    async def get(self, key_id: str) -> ApiKey:
        key = await self._store.get(key_id)
        if key is None:
            raise NotFound(f"No key with id {key_id}.", code="key_not_found")
        return key

    async def list(
        self, *, tenant: str | None = None, include_revoked: bool = False
    ) -> list[ApiKey]:
        return await self._store.list(tenant=tenant, include_revoked=include_revoked)

    async def update(self, key_id: str, data: Any) -> ApiKey:
        changes: _KeyUpdate = _parse(_KeyUpdate, data)
        self._check(changes.tier, changes.allowed_models)
        values: dict[str, Any] = {}
        for name in changes.model_fields_set:  # an explicit null clears user, models, expiry
            value = getattr(changes, name)
            if name in ("name", "tier", "limits") and value is None:
                raise InvalidRequest(f"'{name}' cannot be null.", param=name)
            if name == "limits":
                value = value.model_dump(exclude_none=True)
            values[name] = value
        if not values:
            return await self.get(key_id)
        values["updated_at"] = self._clock()
        return await self._apply(key_id, values)

    async def revoke(self, key_id: str) -> ApiKey:
        key = await self.get(key_id)
        if key.revoked_at is not None:
            return key
        now = self._clock()
        return await self._apply(key_id, {"revoked_at": now, "updated_at": now})

    async def _apply(self, key_id: str, values: Mapping[str, Any]) -> ApiKey:
        key = await self._store.update(key_id, values)
        if key is None:
            raise NotFound(f"No key with id {key_id}.", code="key_not_found")
        if self._keyring is not None:
            self._keyring.forget(key.key_hash)
        return key
