"""The limiter around a store: refusals, headers, and a shared store that fails."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from steadyllm.errors import RateLimited, ServiceUnavailable
from steadyllm.keys.settings import AccessSettings
from steadyllm.limits.limiter import Limiter
from steadyllm.limits.rules import Rule
from steadyllm.limits.store import MemoryLimitStore, Outcome, Settlement
from tests.limits.conftest import Clock

MINUTE = Rule("sliding", "requests_per_minute", "rq:m", 2, 1, 60, "key")
HOUR = Rule("sliding", "requests_per_hour", "rq:h", 100, 1, 3600, "key")
BUDGET = Rule(
    "fixed",
    "budget_per_day",
    "usd:1:t:u:20250101",
    1.0,
    0.4,
    86400,
    "user",
    settles="cost",
    period_ends_in=500.0,
)


class BrokenStore:
    def __init__(self) -> None:
        self.calls = 0

    async def acquire(self, rules: Sequence[Rule], member: str) -> Outcome:
        self.calls += 1
        raise ConnectionError("redis is down")

    async def settle(self, settlements: Sequence[Settlement], member: str) -> list[float]:
        raise ConnectionError("redis is down")

    async def close(self) -> None:
        pass


async def test_refusal_is_a_429_with_retry_after_and_ratelimit_headers() -> None:
    limiter = Limiter(AccessSettings(), MemoryLimitStore(clock=Clock()))
    ticket = await limiter.acquire([MINUTE, HOUR], "a")
    assert ticket.headers() == {
        "x-ratelimit-limit": "2",
        "x-ratelimit-remaining": "1",
        "x-ratelimit-reset": ticket.headers()["x-ratelimit-reset"],
    }
    await limiter.acquire([MINUTE, HOUR], "b")
    with pytest.raises(RateLimited) as refused:
        await limiter.acquire([MINUTE, HOUR], "c")
    headers = refused.value.headers
    assert headers["x-ratelimit-limit"] == "2"
    assert headers["x-ratelimit-remaining"] == "0"
    assert int(headers["retry-after"]) >= 1
    assert refused.value.code == "rate_limit_exceeded"
    assert limiter.refusals[("requests_per_minute", "key")] == 1


async def test_budget_refusal_says_when_it_resets() -> None:
    limiter = Limiter(AccessSettings(), MemoryLimitStore(clock=Clock()))
    await limiter.acquire([BUDGET], "a")
    await limiter.acquire([BUDGET], "b")
    with pytest.raises(RateLimited) as refused:
        await limiter.acquire([BUDGET], "c")
    assert refused.value.code == "budget_exceeded"
    assert refused.value.headers["retry-after"] == "500"


async def test_settle_gives_back_the_unused_estimate() -> None:
    limiter = Limiter(AccessSettings(), MemoryLimitStore(clock=Clock()))
    first = await limiter.acquire([BUDGET], "a")
    await limiter.acquire([BUDGET], "b")
    await limiter.settle(first, tokens=0, cost=0.1)  # 0.1 + 0.4 now
    await limiter.settle(first, tokens=0, cost=0.1)  # settling twice changes nothing
    await limiter.acquire([BUDGET], "c")  # 0.9
    with pytest.raises(RateLimited):
        await limiter.acquire([BUDGET], "d")


async def test_fail_open_uses_local_limits_and_says_so() -> None:
    broken = BrokenStore()
    now = [0.0]
    limiter = Limiter(AccessSettings(on_counter_failure="open"), broken, monotonic=lambda: now[0])
    await limiter.acquire([MINUTE], "a")
    await limiter.acquire([MINUTE], "b")
    with pytest.raises(RateLimited):  # local counters still limit
        await limiter.acquire([MINUTE], "c")
    status = limiter.status()
    assert (status["degraded"], status["counter_failures"]) == (True, 1)
    assert broken.calls == 1  # not tried again within a second
    now[0] = 2.0
    with pytest.raises(RateLimited):
        await limiter.acquire([MINUTE], "d")
    assert broken.calls == 2


async def test_fail_closed_refuses_with_503() -> None:
    limiter = Limiter(AccessSettings(on_counter_failure="closed"), BrokenStore())
    with pytest.raises(ServiceUnavailable) as refused:
        await limiter.acquire([MINUTE], "a")
    assert refused.value.code == "limits_unavailable"
    assert limiter.status()["degraded"] is True


async def test_a_store_that_answers_again_ends_the_degraded_state() -> None:
    store = MemoryLimitStore(clock=Clock())
    now = [0.0]
    limiter = Limiter(AccessSettings(), store, monotonic=lambda: now[0])
    limiter._state.failed(ConnectionError("blip"))
    now[0] = 2.0  # past the retry interval
    await limiter.acquire([HOUR], "a")
    assert limiter.status()["degraded"] is False


async def test_a_failed_settle_is_counted_not_raised() -> None:
    limiter = Limiter(AccessSettings(), MemoryLimitStore(clock=Clock()))
    ticket = await limiter.acquire([BUDGET], "a")
    ticket.store = BrokenStore()
    await limiter.settle(ticket, tokens=0, cost=0.0)
    assert limiter.settle_failures == 1
