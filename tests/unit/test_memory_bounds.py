"""In-memory maps that grew with traffic and now have a bound (found by the soak's audit)."""

from __future__ import annotations

from steadyllm.limits.rules import Rule
from steadyllm.limits.store import MemoryLimitStore, Settlement
from steadyllm.safety.log import MemorySafetyLog, hour_of
from steadyllm.stores.memory import MemoryRecordStore
from tests.stores.values import make_record


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def lease(user: int) -> Rule:
    return Rule(
        kind="lease",
        name="max_concurrent",
        key=f"concurrent:user:{user}",
        limit=2,
        amount=1,
        window=60,
        scope="user",
        settles="release",
    )


async def test_a_released_lease_leaves_no_key_behind() -> None:
    """A concurrency-only config used to keep one empty map per user ever seen."""
    store = MemoryLimitStore()
    for user in range(3000):
        outcome = await store.acquire([lease(user)], f"call-{user}")
        assert outcome.granted
        assert len(store._leases) == 1
        await store.settle([Settlement(lease(user), 0, 0.0)], f"call-{user}")
    assert store._leases == {}


async def test_leases_that_never_settle_are_swept_once_expired() -> None:
    clock = Clock()
    store = MemoryLimitStore(clock=clock)
    for user in range(1500):  # calls that died before settling
        assert (await store.acquire([lease(user)], f"lost-{user}")).granted
    assert len(store._leases) == 1500
    clock.now += 61  # past the lease window
    for user in range(1500, 2600):
        assert (await store.acquire([lease(user)], f"live-{user}")).granted
    assert len(store._leases) <= 1100  # the expired ones were swept
    assert "concurrent:user:2599" in store._leases


async def test_a_held_lease_still_counts_against_its_limit() -> None:
    store = MemoryLimitStore()
    rule = lease(1)
    assert (await store.acquire([rule], "a")).granted
    assert (await store.acquire([rule], "b")).granted
    assert not (await store.acquire([rule], "c")).granted
    await store.settle([Settlement(rule, 0, 0.0)], "a")
    assert (await store.acquire([rule], "c")).granted


async def test_memory_record_store_keeps_the_newest_records() -> None:
    store = MemoryRecordStore(max_records=100)
    for batch in range(10):
        await store.write_calls(
            [make_record(f"r{batch * 50 + n}", 1000.0 + batch * 50 + n) for n in range(50)]
        )
    assert await store.count_calls() == 100
    assert store.evicted == 400
    assert await store.get_call("r0") is None
    assert await store.get_call("r499") is not None
    listed = await store.list_calls(limit=1000)
    assert [r.id for r in listed] == [f"r{n}" for n in range(400, 500)]


async def test_memory_safety_log_folds_old_hours_and_keeps_totals() -> None:
    store = MemorySafetyLog(max_hours=3)
    start = hour_of(1_700_000_000.0)
    for h in range(10):
        hour = start + h * 3600
        await store.write([], {("input", hour): 2, ("output", hour): 1})
    assert store.hours_held == 3
    assert len(store._checks) <= 2 * 4  # two check types x (3 hours + the folded total)
    assert await store.check_counts() == {"input": 20, "output": 10}
    recent = start + 7 * 3600  # inside the hours kept apart: still exact
    assert await store.check_counts(since=recent) == {"input": 6, "output": 3}
