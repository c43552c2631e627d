"""The LimitStore contract, on memory and on Redis: all-or-nothing, never over-grants."""

from __future__ import annotations

import asyncio

import pytest

from steadyllm.limits.rules import Rule
from steadyllm.limits.store import Settlement
from tests.limits.conftest import LimitBackend


def sliding(key: str, limit: float, amount: float = 1, window: float = 60) -> Rule:
    return Rule("sliding", "requests_per_minute", key, limit, amount, window, "key")


def budget(key: str, limit: float, amount: float, ttl: float = 60) -> Rule:
    return Rule("fixed", "budget_per_day", key, limit, amount, ttl, "user", settles="cost")


def lease(key: str, limit: int, seconds: float = 60) -> Rule:
    return Rule("lease", "max_concurrent", key, limit, 1, seconds, "global", settles="release")


async def test_sliding_window_grants_up_to_its_limit(limit_backend: LimitBackend) -> None:
    store = limit_backend.store
    rule = sliding("rq", 3)
    outcomes = [await store.acquire([rule], f"m{i}") for i in range(4)]
    assert [o.granted for o in outcomes] == [True, True, True, False]
    assert [o.rules[0].remaining for o in outcomes[:3]] == pytest.approx([2, 1, 0], abs=0.01)
    refused = outcomes[3]
    assert refused.refused == 0
    assert refused.retry_after_ms is not None
    assert 0 < refused.retry_after_ms <= 120_000
    assert 0 < outcomes[0].rules[0].reset_ms <= 60_000


async def test_one_refusal_takes_nothing(limit_backend: LimitBackend) -> None:
    store = limit_backend.store
    minute, hour = sliding("m", 10), sliding("h", 1, window=3600)
    assert (await store.acquire([minute, hour], "a")).granted
    refused = await store.acquire([minute, hour], "b")
    assert (refused.granted, refused.refused) == (False, 1)
    # The refused call did not use a minute slot: 9 of 10 are still there.
    nine = await asyncio.gather(*(store.acquire([minute], f"c{i}") for i in range(10)))
    assert sum(o.granted for o in nine) == 9


async def test_amount_over_the_limit_never_fits(limit_backend: LimitBackend) -> None:
    outcome = await limit_backend.store.acquire([sliding("tk", 100, amount=101)], "m")
    assert (outcome.granted, outcome.retry_after_ms) == (False, None)


async def test_concurrent_acquires_never_over_grant(limit_backend: LimitBackend) -> None:
    store = limit_backend.store
    rules = [sliding("burst", 20), budget("usd", 1.0, 0.05)]
    outcomes = await asyncio.gather(*(store.acquire(rules, f"m{i}") for i in range(200)))
    assert sum(o.granted for o in outcomes) == 20


async def test_budget_settles_to_the_actual_cost(limit_backend: LimitBackend) -> None:
    store = limit_backend.store
    rule = budget("usd:u", 1.0, 0.6)
    first = await store.acquire([rule], "a")
    assert first.granted
    assert not (await store.acquire([rule], "b")).granted  # 0.6 + 0.6 > 1
    totals = await store.settle([Settlement(rule, first.rules[0].slot, 0.1 - 0.6)], "a")
    assert totals == pytest.approx([0.1])
    assert (await store.acquire([rule], "b")).granted  # 0.1 + 0.6 fits


async def test_tokens_settle_into_the_bucket_they_were_taken_from(
    limit_backend: LimitBackend,
) -> None:
    store = limit_backend.store
    rule = sliding("tk", 1000, amount=800)
    taken = await store.acquire([rule], "a")
    assert taken.granted
    await store.settle([Settlement(rule, taken.rules[0].slot, 50 - 800)], "a")
    again = await store.acquire([rule], "b")  # 50 + 800 <= 1000
    assert again.granted
    assert again.rules[0].remaining == pytest.approx(150, abs=1)


async def test_settling_an_expired_counter_leaves_it_alone(limit_backend: LimitBackend) -> None:
    store = limit_backend.store
    rule = budget("usd:short", 1.0, 0.5, ttl=0.2)
    taken = await store.acquire([rule], "a")
    await limit_backend.advance(0.3)
    assert await store.settle([Settlement(rule, taken.rules[0].slot, -0.5)], "a") == [0.0]
    assert (await store.acquire([budget("usd:short", 1.0, 1.0, ttl=0.2)], "b")).granted


async def test_leases_cap_concurrency_and_come_back(limit_backend: LimitBackend) -> None:
    store = limit_backend.store
    rule = lease("cc", 2)
    a, b, c = [await store.acquire([rule], m) for m in "abc"]
    assert (a.granted, b.granted, c.granted) == (True, True, False)
    await store.settle([Settlement(rule, 0, 0)], "a")
    assert (await store.acquire([rule], "c")).granted


async def test_a_lease_never_given_back_lapses(limit_backend: LimitBackend) -> None:
    store = limit_backend.store
    rule = lease("cc", 1, seconds=0.2)
    assert (await store.acquire([rule], "crashed")).granted
    assert not (await store.acquire([rule], "b")).granted
    await limit_backend.advance(0.3)
    assert (await store.acquire([rule], "b")).granted


async def test_the_window_slides(limit_backend: LimitBackend) -> None:
    store = limit_backend.store
    rule = sliding("slide", 2, window=0.4)
    assert all([(await store.acquire([rule], m)).granted for m in "ab"])
    assert not (await store.acquire([rule], "c")).granted
    await limit_backend.advance(0.85)  # two windows on: nothing of the burst counts
    assert (await store.acquire([rule], "d")).granted
