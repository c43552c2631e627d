"""SLO evaluation, violations with history, and trends (pure, clock passed in)."""

from __future__ import annotations

import pytest

from steadyllm.telemetry.settings import SloSettings, SloTargets
from steadyllm.telemetry.slo import SloTracker, trend
from steadyllm.telemetry.window import CallOutcome, RollingStats

SETTINGS = SloSettings(
    windows=[300],
    default=SloTargets(
        success_rate=0.9, latency_p95_ms=1000, latency_p99_ms=None, ttft_p95_ms=None
    ),
    min_requests=10,
)


def traffic(
    stats: RollingStats, now: float, *, n: int, failed: int = 0, latency: float = 100
) -> None:
    for i in range(n):
        stats.add(now, "fast", CallOutcome(failed=i < failed, latency_ms=latency))


def statuses(tracker: SloTracker, now: float) -> dict[str, tuple[float | None, bool | None, str]]:
    return {s.objective: (s.value, s.met, s.trend) for s in tracker.evaluate(now)}


def test_objectives_met_violated_and_not_enough_data() -> None:
    stats = RollingStats()
    tracker = SloTracker(SETTINGS, stats, ["fast"])
    traffic(stats, 1000.0, n=5)
    assert statuses(tracker, 1000.0)["success_rate"] == (1.0, None, "unknown")
    traffic(stats, 1000.0, n=15, failed=4)  # 4 of 20 failed
    found = statuses(tracker, 1000.0)
    assert found["success_rate"][:2] == (0.8, False)
    assert found["latency_p95_ms"][1] is True


@pytest.mark.parametrize(
    ("objective", "current", "previous", "expected"),
    [
        ("success_rate", 0.99, 0.90, "improving"),
        ("success_rate", 0.90, 0.99, "worsening"),
        ("latency_p95_ms", 500, 1000, "improving"),
        ("latency_p95_ms", 1000, 500, "worsening"),
        ("latency_p95_ms", 1010, 1000, "steady"),
        ("latency_p95_ms", None, 1000, "unknown"),
    ],
)
def test_trend(
    objective: str, current: float | None, previous: float | None, expected: str
) -> None:
    assert trend(objective, current, previous) == expected


def test_violations_open_close_and_keep_history() -> None:
    stats = RollingStats()
    tracker = SloTracker(SETTINGS, stats, ["fast"])
    traffic(stats, 1000.0, n=20)
    tracker.update(1000.0)
    assert tracker.active() == []
    traffic(stats, 1400.0, n=20, failed=6, latency=2000)  # the next window goes bad
    tracker.update(1400.0)
    active = {v.objective: v for v in tracker.active()}
    assert set(active) == {"success_rate", "latency_p95_ms"}
    assert statuses(tracker, 1400.0)["success_rate"][2] == "worsening"
    traffic(stats, 1410.0, n=20, failed=10)
    tracker.update(1410.0)
    assert active["success_rate"].worst == pytest.approx(24 / 40)  # 16 of 40 failed by then
    assert active["success_rate"].evaluations == 2
    traffic(stats, 1800.0, n=20)  # recovered
    tracker.update(1800.0)
    assert tracker.active() == []
    report = tracker.report(1800.0)
    ended = {v["objective"]: v for v in report["violations"]}
    assert ended["success_rate"]["startedAt"] == 1400.0
    assert ended["success_rate"]["endedAt"] == 1800.0
    assert ended["success_rate"]["durationSeconds"] == 400.0
    assert report["compliant"] is True


def test_resource_objectives() -> None:
    tracker = SloTracker(SloSettings(), RollingStats(), [])
    process = {"cpu": {"percent": 95.0}, "memory": {"rss": 100 * 1_048_576}}
    found = {s.objective: s.met for s in tracker.evaluate(0.0, process)}
    assert found == {"cpu_percent": False, "memory_mb": True}
