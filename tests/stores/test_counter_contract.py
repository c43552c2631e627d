"""The CounterStore contract, run against every backend (memory, Redis)."""

from __future__ import annotations

import asyncio

import pytest

from steadyllm.stores.base import Reservation
from tests.stores.conftest import CounterBackend


async def test_missing_key_reads_zero(counter_backend: CounterBackend) -> None:
    assert await counter_backend.store.get("nothing-here") == 0.0


async def test_incr_returns_the_new_total(counter_backend: CounterBackend) -> None:
    store = counter_backend.store
    assert await store.incr("requests") == 1.0
    assert await store.incr("requests", 4) == 5.0
    assert await store.incr("requests", -2) == 3.0
    assert await store.get("requests") == 3.0


async def test_keys_are_independent(counter_backend: CounterBackend) -> None:
    store = counter_backend.store
    await store.incr("a", 2)
    await store.incr("b", 7)
    assert (await store.get("a"), await store.get("b")) == (2.0, 7.0)


async def test_fractional_amounts_add_up(counter_backend: CounterBackend) -> None:
    store = counter_backend.store
    for _ in range(10):
        await store.incr("dollars", 0.1)
    assert await store.get("dollars") == pytest.approx(1.0)


async def test_ttl_expires_the_key(counter_backend: CounterBackend) -> None:
    store = counter_backend.store
    await store.incr("window", 3, ttl=0.2)
    assert await store.get("window") == 3.0
    await counter_backend.advance(0.3)
    assert await store.get("window") == 0.0
    assert await store.incr("window", 1, ttl=0.2) == 1.0  # a new window starts from zero


async def test_ttl_is_set_on_creation_only(counter_backend: CounterBackend) -> None:
    store = counter_backend.store
    await store.incr("window", 1, ttl=0.2)
    await counter_backend.advance(0.1)
    await store.incr("window", 1, ttl=60)  # must not extend the window
    assert await store.get("window") == 2.0
    await counter_backend.advance(0.15)
    assert await store.get("window") == 0.0


async def test_without_ttl_the_key_stays(counter_backend: CounterBackend) -> None:
    store = counter_backend.store
    await store.incr("forever", 1)
    await counter_backend.advance(0.3)
    assert await store.get("forever") == 1.0


async def test_reserve_grants_up_to_the_limit_inclusive(counter_backend: CounterBackend) -> None:
    store = counter_backend.store
    assert await store.reserve("budget", 6, limit=10) == Reservation(granted=True, total=6.0)
    assert await store.reserve("budget", 4, limit=10) == Reservation(granted=True, total=10.0)


async def test_refused_reservation_leaves_the_total(counter_backend: CounterBackend) -> None:
    store = counter_backend.store
    await store.reserve("budget", 8, limit=10)
    assert await store.reserve("budget", 3, limit=10) == Reservation(granted=False, total=8.0)
    assert await store.get("budget") == 8.0
    refused_fresh = await store.reserve("fresh", 11, limit=10)
    assert refused_fresh == Reservation(granted=False, total=0.0)
    assert await store.get("fresh") == 0.0


async def test_reserve_forgives_float_rounding(counter_backend: CounterBackend) -> None:
    store = counter_backend.store
    assert (await store.reserve("dollars", 0.1, limit=0.3)).granted
    assert (await store.reserve("dollars", 0.2, limit=0.3)).granted  # 0.1 + 0.2 "> 0.3"
    assert not (await store.reserve("dollars", 0.01, limit=0.3)).granted


async def test_negative_reservation_settles_back(counter_backend: CounterBackend) -> None:
    store = counter_backend.store
    await store.reserve("tokens", 100, limit=100)
    settled = await store.reserve("tokens", -40, limit=100)  # the call used less
    assert settled == Reservation(granted=True, total=60.0)


async def test_reserve_ttl_is_set_on_creation(counter_backend: CounterBackend) -> None:
    store = counter_backend.store
    await store.reserve("minute", 5, limit=10, ttl=0.2)
    await counter_backend.advance(0.3)
    assert await store.get("minute") == 0.0
    assert (await store.reserve("minute", 10, limit=10, ttl=0.2)).granted


async def test_concurrent_reservations_never_over_grant(counter_backend: CounterBackend) -> None:
    store = counter_backend.store
    results = await asyncio.gather(*(store.reserve("slots", 1, limit=20) for _ in range(200)))
    assert sum(result.granted for result in results) == 20
    assert await store.get("slots") == 20.0
    assert sorted(r.total for r in results if r.granted) == [float(n) for n in range(1, 21)]
