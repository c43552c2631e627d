"""The pure decisions, as tables of cases: backoff, retry decision, budget, balancing,
fallback rules. No event loop, no clock but the one passed in."""

from __future__ import annotations

import random

import pytest

from steadyllm.policy.backoff import PRESETS, BackoffPolicy, backoff_delay, decide_retry
from steadyllm.policy.balancing import least_in_flight_order, least_latency_order, quantile
from steadyllm.policy.fallback_rules import (
    estimate_request_tokens,
    is_content_filtered,
    is_content_policy_error,
    is_context_length_error,
)
from steadyllm.policy.retry_budget import BudgetPolicy, refusal, sliding_count, window_position

STANDARD = PRESETS["standard"]


@pytest.mark.parametrize(
    ("preset", "attempt", "random_value", "expected"),
    [
        ("standard", 1, 0.5, 1.0),
        ("standard", 1, 0.0, 0.9),  # - 10 %
        ("standard", 1, 1.0, 1.1),  # + 10 %
        ("standard", 2, 0.5, 2.0),
        ("standard", 2, 0.0, 1.8),
        ("standard", 3, 1.0, 4.4),
        ("standard", 6, 0.5, 32.0),  # capped at max_delay
        ("standard", 10_000, 0.5, 32.0),  # no overflow
        ("aggressive", 1, 0.5, 0.5),
        ("aggressive", 2, 0.5, 0.75),
        ("aggressive", 9, 0.5, 8.0),
        ("conservative", 1, 0.5, 2.0),
        ("conservative", 2, 0.5, 6.0),
        ("conservative", 4, 0.5, 54.0),
        ("conservative", 5, 0.5, 60.0),
    ],
)
def test_backoff_delay(preset: str, attempt: int, random_value: float, expected: float) -> None:
    policy = PRESETS[preset]  # type: ignore[index]
    assert backoff_delay(policy, attempt, random_value) == pytest.approx(expected)


def test_presets_match_the_documented_numbers() -> None:
    assert [
        (p.max_retries, p.initial_delay, p.max_delay, p.multiplier)
        for p in (PRESETS["aggressive"], PRESETS["standard"], PRESETS["conservative"])
    ] == [(5, 0.5, 8.0, 1.5), (3, 1.0, 32.0, 2.0), (2, 2.0, 60.0, 3.0)]


@pytest.mark.parametrize("bad", [{"multiplier": 0.5}, {"max_retries": -1}, {"jitter_factor": 2}])
def test_backoff_policy_refuses_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        BackoffPolicy(**bad)  # type: ignore[arg-type]


BASE = {
    "retries_done": 0,
    "retryable": True,
    "client_error": False,
    "retry_after": None,
    "retry_after_cap": 30.0,
    "remaining": 100.0,
    "alternative_available": False,
    "random_value": 0.5,
}


@pytest.mark.parametrize(
    ("changes", "retry", "delay", "reason"),
    [
        ({}, True, 1.0, "retry"),
        ({"retries_done": 2}, True, 4.0, "retry"),
        ({"retries_done": 3}, False, 0.0, "exhausted"),
        ({"client_error": True, "retryable": False}, False, 0.0, "client_error"),
        ({"retryable": False}, False, 0.0, "not_retryable"),
        ({"alternative_available": True}, False, 0.0, "failover"),
        ({"retry_after": 2.0}, True, 2.0, "retry"),  # Retry-After is a floor
        ({"retry_after": 0.2}, True, 1.0, "retry"),  # backoff when longer
        ({"retry_after": 31.0}, False, 0.0, "retry_after_too_long"),
        ({"remaining": 0.5}, False, 1.0, "deadline"),
        ({"retry_after": 2.0, "remaining": 1.5}, False, 2.0, "deadline"),
    ],
)
def test_decide_retry(changes: dict[str, object], retry: bool, delay: float, reason: str) -> None:
    decision = decide_retry(STANDARD, **{**BASE, **changes})  # type: ignore[arg-type]
    assert (decision.retry, decision.delay, decision.reason) == (
        retry,
        pytest.approx(delay),
        reason,
    )


POLICY = BudgetPolicy(max_retries_per_window=10, ratio=0.2, min_retries=5, window=60)


@pytest.mark.parametrize(
    ("retries", "first_attempts", "expected"),
    [
        (0, 0, None),  # a quiet gateway may still retry...
        (4, 0, None),
        (5, 0, "ratio"),  # ...up to min_retries
        (5, 30, None),  # 20 % of 30 = 6
        (6, 30, "ratio"),
        (9, 100, None),
        (10, 100, "count"),  # the count cap comes first
        (10, 10_000, "count"),
    ],
)
def test_budget_refusal(retries: float, first_attempts: float, expected: str | None) -> None:
    assert refusal(POLICY, retries=retries, first_attempts=first_attempts) == expected


@pytest.mark.parametrize(
    ("now", "index", "elapsed"), [(0.0, 0, 0.0), (30.0, 0, 0.5), (60.0, 1, 0.0), (135.0, 2, 0.25)]
)
def test_window_position(now: float, index: int, elapsed: float) -> None:
    assert window_position(now, 60.0) == (index, pytest.approx(elapsed))


@pytest.mark.parametrize(
    ("previous", "current", "elapsed", "expected"),
    [(10, 0, 0.0, 10), (10, 0, 0.5, 5), (10, 4, 0.75, 6.5), (0, 3, 0.9, 3)],
)
def test_sliding_count(previous: int, current: int, elapsed: float, expected: float) -> None:
    assert sliding_count(previous, current, elapsed) == pytest.approx(expected)


def test_least_latency_puts_fastest_and_unknown_first() -> None:
    rng = random.Random(1)
    assert least_latency_order([0.3, 0.1, 0.2], rng) == [1, 2, 0]
    assert least_latency_order([0.3, None, 0.2], rng)[0] == 1


def test_least_in_flight_weighs_by_weight() -> None:
    rng = random.Random(1)
    assert least_in_flight_order([4, 1, 3], [1.0, 1.0, 1.0], rng) == [1, 2, 0]
    assert least_in_flight_order([4, 3], [4.0, 1.0], rng) == [0, 1]  # 1 per weight vs 3


def test_ties_are_shared_at_random() -> None:
    rng = random.Random(7)
    firsts = {least_in_flight_order([0, 0], [1.0, 1.0], rng)[0] for _ in range(50)}
    assert firsts == {0, 1}


@pytest.mark.parametrize(
    ("samples", "q", "expected"),
    [([], 0.95, None), ([1.0], 0.95, 1.0), (list(range(1, 101)), 0.95, 95), ([3, 1, 2], 0.5, 2)],
)
def test_quantile(samples: list[float], q: float, expected: float | None) -> None:
    assert quantile(samples, q) == expected


def test_token_estimate_counts_text_and_the_answer_room() -> None:
    body = {"messages": [{"role": "user", "content": "x" * 400}], "max_tokens": 50}
    assert estimate_request_tokens(body) == 100 + 4 + 50
    parts = {"messages": [{"role": "user", "content": [{"type": "text", "text": "y" * 40}]}]}
    assert estimate_request_tokens(parts) == 10 + 4


@pytest.mark.parametrize(
    ("status", "code", "message", "context", "policy"),
    [
        (400, "context_length_exceeded", "", True, False),
        (400, None, "This model's maximum context length is 8192 tokens", True, False),
        (400, "content_filter", "", False, True),
        (400, None, "filtered by the content management policy", False, True),
        (400, None, "messages must be an array", False, False),
        (500, "context_length_exceeded", "", False, False),  # not a refusal of the request
    ],
)
def test_refusal_kinds(
    status: int, code: str | None, message: str, context: bool, policy: bool
) -> None:
    assert is_context_length_error(status, code, message) is context
    assert is_content_policy_error(status, code, message) is policy


def test_content_filtered_answer() -> None:
    filtered = {"choices": [{"finish_reason": "content_filter", "message": {}}]}
    assert is_content_filtered(filtered)
    assert not is_content_filtered({"choices": [{"finish_reason": "stop"}]})
    assert not is_content_filtered(None)
