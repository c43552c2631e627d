"""Rolling windows and the log histogram (pure, clock passed in)."""

from __future__ import annotations

import pytest

from steadyllm.telemetry.window import CallOutcome, LogHistogram, RollingStats


@pytest.mark.parametrize(
    ("values", "q", "low", "high"),
    [
        ([100.0] * 10, 0.5, 100.0, 105.0),
        ([float(v) for v in range(1, 101)], 0.95, 95.0, 99.75),
        ([float(v) for v in range(1, 101)], 0.99, 99.0, 103.95),
        ([0.2, 0.5], 0.5, 1.0, 1.0),
        ([10_000.0] * 99 + [20_000.0], 0.99, 10_000.0, 10_500.0),
        ([10_000.0] * 98 + [20_000.0] * 2, 0.99, 20_000.0, 21_000.0),
    ],
)
def test_quantiles_within_five_percent(
    values: list[float], q: float, low: float, high: float
) -> None:
    histogram = LogHistogram()
    for value in values:
        histogram.add(value)
    found = histogram.quantile(q)
    assert found is not None
    assert low <= found <= high


def test_empty_histogram_has_no_quantile() -> None:
    assert LogHistogram().quantile(0.5) is None


def ok(latency: float = 100.0, **fields: object) -> CallOutcome:
    return CallOutcome(failed=False, latency_ms=latency, **fields)  # type: ignore[arg-type]


def test_windows_count_only_their_buckets_and_forget_old_ones() -> None:
    stats = RollingStats(bucket_seconds=10, retention=600)
    stats.add(1000.0, "fast", ok())
    stats.add(1005.0, "fast", CallOutcome(failed=True, latency_ms=900.0, cost_usd=0.5))
    stats.add(1100.0, "fast", ok(cache="hit"))
    stats.add(1100.0, "smart", ok(cache="miss", rate_limited=True))
    recent = stats.summary(1105.0, 60)
    assert (recent.requests, recent.cache_hits, recent.cache_misses) == (2, 1, 1)
    assert recent.cache_hit_rate == 0.5
    assert recent.rate_limited == 1
    fast = stats.summary(1105.0, 300, "fast")
    assert (fast.requests, fast.failures, fast.error_rate) == (3, 1, pytest.approx(1 / 3))
    assert fast.cost_usd == 0.5
    previous = stats.summary(1105.0, 60, "fast", end=1045.0)
    assert previous.requests == 2  # the two calls at 1000 and 1005
    series = stats.series(1105.0, 120, 60, "fast")
    assert [point.requests for point in series] == [2, 1]
    assert stats.summary(5000.0, 600).requests == 0  # past the retention
    stats.add(5000.0, "fast", ok())
    assert stats.summary(5000.0, 10_000).requests == 1  # old buckets were dropped
    assert stats.cost_last_day(1005.0 + 23 * 3600) == 0.5
    assert stats.cost_last_day(1005.0 + 25 * 3600) == 0.0


def test_models_are_bounded() -> None:
    stats = RollingStats(max_models=2)
    for name in ("a", "b", "c", "d"):
        stats.add(0.0, name, ok())
    assert stats.models() == ["a", "b", "other"]
