"""Breaker transitions (pure, clock passed in), and the breaker as library users use it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from steadyllm.errors import UpstreamFailure
from steadyllm.policy.breaker import (
    Admission,
    BreakerPolicy,
    BreakerState,
    admit,
    counts_as_failure,
    next_attempt_time,
    record,
    release,
)
from steadyllm.resilience import BreakerRegistry, CircuitOpen

POLICY = BreakerPolicy(failure_threshold=3, recovery_timeout=10.0)


def run(
    events: list[tuple[str, float]], policy: BreakerPolicy = POLICY
) -> tuple[BreakerState, list[str]]:
    """Play (event, time) pairs: "ok"/"fail" = admit then record; "try" = admit only."""
    state = BreakerState()
    seen: list[str] = []
    for event, now in events:
        admission, state = admit(state, policy, now)
        if not admission.allowed:
            seen.append("rejected")
            continue
        seen.append("probe" if admission.probe else "allowed")
        if event != "try":
            state = record(state, policy, now, admission, failed=event == "fail")
    return state, seen


@pytest.mark.parametrize(
    ("events", "state", "seen"),
    [
        ([("fail", 0), ("fail", 1)], "closed", ["allowed"] * 2),
        ([("fail", 0), ("fail", 1), ("fail", 2)], "open", ["allowed"] * 3),
        (
            [("fail", 0), ("fail", 1), ("ok", 2), ("fail", 3), ("fail", 4)],
            "closed",
            ["allowed"] * 5,
        ),
        (
            [("fail", 0), ("fail", 0), ("fail", 0), ("ok", 5), ("ok", 9.9)],
            "open",
            ["allowed"] * 3 + ["rejected"] * 2,
        ),
        (
            [("fail", 0)] * 3 + [("ok", 10)],
            "closed",
            ["allowed"] * 3 + ["probe"],
        ),
        (
            [("fail", 0)] * 3 + [("fail", 10), ("ok", 19)],  # the probe fails: timer restarts
            "open",
            ["allowed"] * 3 + ["probe", "rejected"],
        ),
        (
            [("fail", 0)] * 3 + [("try", 10), ("ok", 10.5), ("ok", 11)],  # one probe at a time
            "half_open",
            ["allowed"] * 3 + ["probe", "rejected", "rejected"],
        ),
        (
            [("fail", 0)] * 3 + [("try", 10), ("ok", 20)],  # a probe that never reported
            "closed",
            ["allowed"] * 3 + ["probe", "probe"],
        ),
    ],
)
def test_transitions(events: list[tuple[str, float]], state: str, seen: list[str]) -> None:
    final, got = run(events)
    assert (final.state, got) == (state, seen)


def test_success_threshold_needs_several_probes() -> None:
    policy = replace(POLICY, success_threshold=2)
    final, seen = run([("fail", 0)] * 3 + [("ok", 10), ("ok", 11)], policy)
    assert final.state == "closed"
    assert seen[-2:] == ["probe", "probe"]
    halfway, _ = run([("fail", 0)] * 3 + [("ok", 10)], policy)
    assert halfway.state == "half_open"


def test_rate_mode_opens_on_a_share_of_failures_once_there_are_enough() -> None:
    policy = BreakerPolicy(mode="rate", failure_rate=0.5, minimum_requests=4, window=60)
    state, _ = run([("ok", 0), ("fail", 1), ("ok", 2), ("fail", 3)], policy)
    assert state.state == "open"  # 2 of 4
    state, _ = run([("ok", 0), ("ok", 1), ("ok", 2), ("fail", 3)], policy)
    assert state.state == "closed"  # 1 of 4
    state, _ = run([("fail", 0), ("fail", 1), ("fail", 2)], policy)
    assert state.state == "closed"  # too few results to judge


def test_results_from_before_the_breaker_opened_are_ignored() -> None:
    state = BreakerState()
    early, state = admit(state, POLICY, 0)
    for now in (1, 2, 3):
        admission, state = admit(state, POLICY, now)
        state = record(state, POLICY, now, admission, failed=True)
    assert state.state == "open"
    assert record(state, POLICY, 4, early, failed=False) == state


def test_release_frees_the_probe_slot() -> None:
    state = BreakerState(state="open", opened_at=0.0)
    probe, state = admit(state, POLICY, 10)
    assert probe.probe
    assert state.probes == 1
    state = release(state, probe)
    assert state.probes == 0
    assert admit(state, POLICY, 10.1)[0].probe


def test_next_attempt_time() -> None:
    assert next_attempt_time(BreakerState(), POLICY) is None
    assert next_attempt_time(BreakerState(state="open", opened_at=5.0), POLICY) == 15.0
    refused, _ = admit(BreakerState(state="open", opened_at=5.0), POLICY, 7.0)
    assert refused == Admission(False, generation=0, retry_after=8.0)


@pytest.mark.parametrize(
    ("kind", "status", "counts"),
    [
        ("status", 500, True),
        ("status", 503, True),
        ("timeout", None, True),
        ("reset", None, True),
        ("connect", None, True),
        ("malformed", None, True),
        ("invalid", None, True),
        ("stream_cut", None, True),
        ("status", 400, False),
        ("status", 401, False),
        ("status", 404, False),
        ("status", 422, False),
        ("status", 429, False),
    ],
)
def test_failure_predicate(kind: str, status: int | None, counts: bool) -> None:
    assert counts_as_failure(kind, status) is counts


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_decorator_and_context_manager_share_one_breaker() -> None:
    clock = Clock()
    registry = BreakerRegistry(
        policy=BreakerPolicy(failure_threshold=2, recovery_timeout=5), clock=clock
    )
    breaker = registry.get("search")
    assert registry.get("search") is breaker
    calls = 0

    @breaker
    async def flaky(fail: bool) -> str:
        nonlocal calls
        calls += 1
        if fail:
            raise UpstreamFailure("down", kind="status", upstream_status=503)
        return "ok"

    assert await flaky(False) == "ok"
    with pytest.raises(UpstreamFailure):
        await flaky(True)
    with pytest.raises(UpstreamFailure):
        async with breaker:
            raise UpstreamFailure("down", kind="timeout")
    assert (await breaker.state()).state == "open"

    with pytest.raises(CircuitOpen) as refused:
        await flaky(False)
    assert calls == 2  # the open breaker did not run it
    assert refused.value.http_status == 503
    assert refused.value.headers["retry-after"] == "5"

    clock.now += 5
    async with breaker:  # the probe
        pass
    assert (await breaker.state()).state == "closed"
    assert (breaker.totals.opens, breaker.totals.closes) == (1, 1)


async def test_client_errors_and_cancellation_do_not_count() -> None:
    registry = BreakerRegistry(policy=BreakerPolicy(failure_threshold=1), clock=Clock())
    breaker = registry.get("x")
    for _ in range(3):
        with pytest.raises(UpstreamFailure):
            async with breaker:
                raise UpstreamFailure("bad request", kind="status", upstream_status=400)
    assert (await breaker.state()).state == "closed"
    with pytest.raises(ValueError, match="boom"):  # any other exception counts as a failure
        async with breaker:
            raise ValueError("boom")
    assert (await breaker.state()).state == "open"


async def test_registry_is_bounded() -> None:
    registry = BreakerRegistry(max_breakers=2)
    registry.get("a")
    registry.get("b")
    with pytest.raises(ValueError, match="too many"):
        registry.get("c")
