"""Keys: the KeyStore contract on every backend, hashing, the cached lookup, admin rules."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from steadyllm.errors import Conflict, InvalidRequest, NotFound
from steadyllm.keys.admin import KeyAdmin
from steadyllm.keys.keyring import KeyRing
from steadyllm.keys.secrets import KEY_PREFIX, hash_secret
from steadyllm.keys.settings import AccessSettings, Limits
from steadyllm.keys.store import ApiKey, KeyStore, MemoryKeyStore, SqlKeyStore
from tests.limits.conftest import Clock, sql_database


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def key_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[KeyStore]:
    if request.param == "memory":
        yield MemoryKeyStore()
        return
    database = await sql_database(request, request.param, tmp_path)
    yield SqlKeyStore(database)
    await database.dispose()


def admin_for(store: KeyStore, keyring: KeyRing | None = None) -> KeyAdmin:
    return KeyAdmin(
        store, AccessSettings(), models=["fast", "smart"], keyring=keyring, clock=Clock()
    )


async def test_a_created_key_is_stored_hashed_and_found_by_its_secret(key_store: KeyStore) -> None:
    key, secret = await admin_for(key_store).create(
        {
            "name": "ci",
            "tenant": "acme",
            "user": "ana",
            "allowed_models": ["fast"],
            "limits": {"requests_per_minute": 30},
        }
    )
    assert secret.startswith(KEY_PREFIX)
    assert key.key_hash == hash_secret(secret)
    assert secret not in repr(key.public())
    assert "key_hash" not in key.public()
    found = await key_store.find(hash_secret(secret))
    assert found == key
    assert found.allowed_models == ("fast",)
    assert found.limits == {"requests_per_minute": 30}
    assert found.tier == "free"
    assert await key_store.find(hash_secret(secret + "x")) is None


async def test_keys_are_listed_by_tenant_and_revoked_ones_hidden(key_store: KeyStore) -> None:
    admin = admin_for(key_store)
    a, _ = await admin.create({"tenant": "t1"})
    b, _ = await admin.create({"tenant": "t2"})
    c, _ = await admin.create({"tenant": "t1"})
    await admin.revoke(c.id)
    assert [k.id for k in await admin.list(tenant="t1")] == [a.id]
    assert {k.id for k in await admin.list(include_revoked=True)} == {a.id, b.id, c.id}
    revoked = await key_store.get(c.id)
    assert revoked is not None
    assert revoked.revoked_at is not None


async def test_update_changes_only_what_it_names(key_store: KeyStore) -> None:
    admin = admin_for(key_store)
    key, _ = await admin.create({"user": "ana", "allowed_models": ["fast"]})
    updated = await admin.update(key.id, {"tier": "premium", "allowed_models": None})
    assert (updated.tier, updated.allowed_models, updated.user) == ("premium", None, "ana")
    again = await admin.update(key.id, {"limits": {"budget_per_day": 2.5}})
    assert again.limits == {"budget_per_day": 2.5}
    assert again.tier == "premium"
    assert await key_store.get(key.id) == again


async def test_a_duplicate_key_is_a_conflict(key_store: KeyStore) -> None:
    key = ApiKey(id="key_1", key_hash="h", hint="sk-...", tenant="t", tier="free")
    await key_store.create(key)
    with pytest.raises(Conflict):
        await key_store.create(key)


@pytest.mark.parametrize(
    "body",
    [
        {"tier": "gold"},
        {"allowed_models": ["nope"]},
        {"limits": {"requests_per_minute": 0}},
        {"limits": {"rpm": 5}},
        {"surprise": 1},
        {"tenant": ""},
        ["not", "an", "object"],
    ],
)
async def test_bad_input_is_a_400(body: object) -> None:
    with pytest.raises(InvalidRequest):
        await admin_for(MemoryKeyStore()).create(body)


async def test_unknown_ids_are_404() -> None:
    admin = admin_for(MemoryKeyStore())
    with pytest.raises(NotFound):
        await admin.revoke("key_missing")
    with pytest.raises(NotFound):
        await admin.update("key_missing", {"name": "x"})


async def test_the_keyring_caches_lookups_and_forgets_on_change() -> None:
    store = MemoryKeyStore()
    clock = Clock(0.0)
    keyring = KeyRing(store, ttl=5.0, clock=clock)
    admin = admin_for(store, keyring)
    key, secret = await admin.create({})
    found = await asyncio.gather(*(keyring.resolve(secret) for _ in range(50)))
    assert all(k == key for k in found)
    assert keyring.lookups == 1  # concurrent first lookups share one query
    assert await keyring.resolve("sk-steady-unknown") is None
    assert await keyring.resolve("sk-steady-unknown") is None
    assert keyring.lookups == 2  # unknown secrets are cached too
    await admin.revoke(key.id)  # through this replica: forgotten at once
    revoked = await keyring.resolve(secret)
    assert revoked is not None
    assert revoked.revoked_at is not None


async def test_a_change_elsewhere_is_seen_after_the_ttl() -> None:
    store = MemoryKeyStore()
    clock = Clock(0.0)
    keyring = KeyRing(store, ttl=5.0, clock=clock)
    key, secret = await admin_for(store).create({})  # another replica's admin: no keyring
    await keyring.resolve(secret)
    await admin_for(store).revoke(key.id)
    cached = await keyring.resolve(secret)
    assert cached is not None
    assert cached.revoked_at is None
    clock.now += 5.1
    fresh = await keyring.resolve(secret)
    assert fresh is not None
    assert fresh.revoked_at is not None


def test_key_limits_override_the_tier_field_by_field() -> None:
    tier = AccessSettings().tier("free")
    merged = Limits(requests_per_minute=30).over(tier)
    assert merged.requests_per_minute == 30
    assert merged.requests_per_hour == tier.requests_per_hour == 100
    assert AccessSettings().tier("removed-tier") == tier


async def test_a_key_store_outage_is_a_503_not_a_401() -> None:
    from steadyllm.call import Call
    from steadyllm.errors import ServiceUnavailable
    from steadyllm.stages.auth import AuthStage

    class DownStore(MemoryKeyStore):
        async def find(self, key_hash: str) -> ApiKey | None:
            raise ConnectionError("database is down")

    stage = AuthStage(KeyRing(DownStore()), require_keys=True)
    call = Call(
        request_id="r", kind="chat", body={"model": "fast"}, headers={"x-api-key": "sk-steady-x"}
    )

    async def never(call: Call) -> None:
        raise AssertionError("must not be reached")

    with pytest.raises(ServiceUnavailable):
        await stage(call, never)  # type: ignore[arg-type]
