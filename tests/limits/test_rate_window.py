"""The sliding-window arithmetic, as plain tables."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from steadyllm.policy.rate_window import (
    day_period,
    exceeds,
    hour_period,
    reset_after_ms,
    retry_after_ms,
    weighted_count,
)

W = 60_000  # a one-minute window, in ms
T0 = 1_000 * W  # the start of a bucket


@pytest.mark.parametrize(
    ("previous", "current", "now", "expected"),
    [
        (0, 0, T0, 0.0),
        (10, 0, T0, 10.0),  # at the bucket's start the previous bucket counts fully
        (10, 0, T0 + W // 2, 5.0),  # halfway: half of it
        (10, 3, T0 + W // 4, 10.5),
        (10, 3, T0 + W - 1, 3 + 10 / W),  # just before the next bucket
    ],
)
def test_weighted_count(previous: float, current: float, now: int, expected: float) -> None:
    assert weighted_count(previous, current, now, W) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("total", "limit", "over"),
    [
        (10, 10, False),
        (10.000000001, 10, False),
        (10.1, 10, True),
        (0.30000000000000004, 0.3, False),
    ],
)
def test_exceeds_forgives_float_rounding(total: float, limit: float, over: bool) -> None:
    assert exceeds(total, limit) is over


@pytest.mark.parametrize(
    ("previous", "current", "amount", "limit", "now", "expected"),
    [
        # Room in this bucket once the previous one's weight falls from 10 to 7.
        (10, 2, 1, 10, T0, round(0.3 * W)),
        (10, 2, 1, 10, T0 + W // 10, round(0.2 * W)),
        # This bucket alone is full: wait for the next one, then for current's weight.
        (0, 10, 1, 10, T0, W + round(0.1 * W)),
        (5, 10, 1, 10, T0 + W // 2, W // 2 + round(0.1 * W)),
        # Nothing in the previous bucket and room now: no wait.
        (0, 3, 1, 10, T0, 0),
        # More than the limit at once never fits.
        (0, 0, 11, 10, T0, None),
    ],
)
def test_retry_after(
    previous: float, current: float, amount: float, limit: float, now: int, expected: int | None
) -> None:
    assert retry_after_ms(previous, current, amount, limit, now, W) == expected


def test_waiting_retry_after_makes_room() -> None:
    previous, current, now = 8.0, 3.0, T0 + 1234
    wait = retry_after_ms(previous, current, 1, 10, now, W)
    assert wait is not None
    assert weighted_count(previous, current, now, W) + 1 > 10
    assert weighted_count(previous, current, now + wait, W) + 1 <= 10 + 1e-9
    assert weighted_count(previous, current, now + wait - 10, W) + 1 > 10


@pytest.mark.parametrize(("now", "expected"), [(T0, W), (T0 + 1, W - 1), (T0 + W - 1, 1)])
def test_reset_after(now: int, expected: int) -> None:
    assert reset_after_ms(now, W) == expected


def test_periods_are_utc() -> None:
    moment = datetime(2025, 3, 9, 23, 30, tzinfo=UTC).timestamp()
    assert day_period(moment) == ("20250309", pytest.approx(1800.0))
    assert hour_period(moment) == "2025030923"
    assert hour_period(moment, 24) == "2025030823"
