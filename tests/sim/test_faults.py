"""The fault plan: validated values and a pure, seeded decision."""

from __future__ import annotations

import dataclasses
import random
import statistics
from typing import Any

import pytest

from steadyllm.sim.faults import FAULT_KINDS, FaultKind, FaultPlan, decide, latency_seconds


def test_the_default_plan_never_fails_and_never_waits() -> None:
    rng = random.Random(0)
    for _ in range(200):
        decision = decide(FaultPlan(), rng)
        assert decision.fault is None
        assert decision.delay == 0
        assert decision.plan == FaultPlan()


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_a_rate_of_one_always_gives_that_fault(kind: FaultKind) -> None:
    plan = FaultPlan.from_dict({kind: 1.0})
    assert plan.rate(kind) == 1.0
    rng = random.Random(1)
    assert {decide(plan, rng).fault for _ in range(50)} == {kind}


def test_rates_are_drawn_in_proportion() -> None:
    plan = FaultPlan(rate_503=0.3, reset_rate=0.1)
    rng = random.Random(42)
    faults = [decide(plan, rng).fault for _ in range(20_000)]
    assert faults.count("503") / len(faults) == pytest.approx(0.3, abs=0.02)
    assert faults.count("reset") / len(faults) == pytest.approx(0.1, abs=0.015)
    assert faults.count(None) / len(faults) == pytest.approx(0.6, abs=0.02)


def test_the_same_seed_gives_the_same_decisions() -> None:
    plan = FaultPlan(rate_500=0.2, hang_rate=0.2, jitter_ms=50)
    first, again = random.Random(7), random.Random(7)
    assert [decide(plan, first) for _ in range(100)] == [decide(plan, again) for _ in range(100)]


def test_fail_next_scripts_an_outage_and_its_end() -> None:
    plan = FaultPlan(fail_next=2, fail_kind="reset")
    rng = random.Random(0)
    first = decide(plan, rng)
    second = decide(first.plan, rng)
    third = decide(second.plan, rng)
    assert [first.fault, second.fault, third.fault] == ["reset", "reset", None]
    assert third.plan.fail_next == 0
    assert plan.fail_next == 2  # plans are values; the decision carries the next one


def test_fail_next_wins_over_rates() -> None:
    plan = FaultPlan(rate_429=1.0, fail_next=1, fail_kind="500")
    decision = decide(plan, random.Random(0))
    assert decision.fault == "500"
    assert decide(decision.plan, random.Random(0)).fault == "429"


def test_uniform_latency_stays_in_its_band() -> None:
    plan = FaultPlan(latency_ms=100, jitter_ms=20)
    rng = random.Random(3)
    draws = [latency_seconds(plan, rng) for _ in range(500)]
    assert min(draws) >= 0.1
    assert max(draws) <= 0.12
    assert decide(plan, rng).delay >= 0.1


def test_lognormal_latency_has_the_asked_median_and_p95() -> None:
    plan = FaultPlan(latency_p50_ms=100, latency_p95_ms=400)
    rng = random.Random(5)
    draws = sorted(latency_seconds(plan, rng) for _ in range(20_000))
    assert statistics.median(draws) == pytest.approx(0.1, rel=0.05)
    assert draws[int(0.95 * len(draws))] == pytest.approx(0.4, rel=0.1)
    assert max(draws) <= 4.0  # clamped at ten p95s


def test_from_dict_accepts_kind_names_and_round_trips() -> None:
    plan = FaultPlan.from_dict(
        {"503": 0.25, "429": 0.25, "retry_after": 2, "fail_next": 3, "fail_kind": 502}
    )
    assert plan.rate_503 == 0.25
    assert plan.rate_429 == 0.25
    assert plan.fail_kind == "502"
    assert FaultPlan.from_dict(plan.to_dict()) == plan


def test_from_spec_reads_a_command_line_option() -> None:
    plan = FaultPlan.from_spec("503=0.2, reset=0.05,latency_ms=20,fail_kind=hang,fail_next=1")
    assert plan == FaultPlan(
        rate_503=0.2, reset_rate=0.05, latency_ms=20, fail_kind="hang", fail_next=1
    )
    assert FaultPlan.from_spec("") == FaultPlan()
    with pytest.raises(ValueError, match="key=value"):
        FaultPlan.from_spec("503")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"unknown": 1}, "not a fault plan field"),
        ({"503": "lots"}, "must be a number"),
        ({"503": True}, "must be a number"),
        ({"503": 1.5}, "between 0 and 1"),
        ({"503": 0.6, "500": 0.6}, "add up"),
        ({"reset": -0.1}, "at least 0"),
        ({"fail_kind": "explode"}, "fail_kind"),
        ({"fail_next": 1.5}, "whole number"),
        ({"latency_p95_ms": 10}, "needs latency_p50_ms"),
        ({"latency_p50_ms": 10, "latency_p95_ms": 5}, "at least latency_p50_ms"),
        ({"latency_p50_ms": 10, "jitter_ms": 5}, "not both"),
        ({"hang_seconds": float("inf")}, "finite"),
    ],
)
def test_bad_plans_are_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultPlan.from_dict(data)


def test_plans_are_frozen() -> None:
    plan = FaultPlan()
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.reset_rate = 1.0  # type: ignore[misc]
