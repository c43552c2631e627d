"""Drift between a baseline window and a recent one: pure statistics, no I/O.

Each metric needs both a practical change (relative, past its threshold) and a
statistically significant one (a test that accounts for sample size), so small
windows and daily noise do not raise alarms:

- booking rate: two-proportion z-test, alarm on a relative drop of 10% or more;
- escalation rate: two-proportion z-test, alarm on a relative rise of 15% or more;
- cost per conversation and response time: Mann-Whitney U on the two samples,
  alarm on a relative rise of the mean of 20% / 25% or more;
- action distribution: chi-squared on the 2 x k table against the critical value
  for its degrees of freedom at 95%, plus a minimum shift of the mix (total
  variation distance) so that the test's own 5% false-positive rate does not ring.

The four rate and distribution tests share ``alpha`` (Bonferroni: each runs at
``alpha / 4``), so a quiet day raises an alarm with probability at most about ``alpha``.

Severity is how far past its threshold the change is: below 1.5x low, below 2x
medium, 2x or more high. scipy (the ``lifecycle`` extra) is imported only here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "DriftReport",
    "DriftThresholds",
    "MetricDrift",
    "Severity",
    "WindowSample",
    "detect_drift",
    "severity_of",
    "two_proportion_p",
]

Severity = Literal["low", "medium", "high"]


@dataclass(frozen=True, slots=True)
class DriftThresholds:
    booking_drop: float = 0.10
    escalation_rise: float = 0.15
    cost_rise: float = 0.20
    latency_rise: float = 0.25
    action_min_shift: float = 0.15  # total variation distance between the action mixes
    alpha: float = 0.05
    min_conversations: int = 50


@dataclass(frozen=True, slots=True)
class WindowSample:
    """The conversations of one window, reduced to what the tests need."""

    conversations: int
    bookings: int
    escalations: int
    costs: Sequence[float] = ()
    latencies: Sequence[float] = ()
    actions: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MetricDrift:
    metric: str
    baseline: float
    recent: float
    change: float  # relative, e.g. -0.2 for a 20% drop
    drift: bool
    severity: Severity | None
    p_value: float
    test: str

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "recent": self.recent,
            "change": self.change,
            "drift": self.drift,
            "severity": self.severity,
            "pValue": self.p_value,
            "test": self.test,
        }


@dataclass(frozen=True, slots=True)
class DriftReport:
    sufficient_data: bool
    metrics: tuple[MetricDrift, ...]
    baseline_conversations: int
    recent_conversations: int

    @property
    def drift_detected(self) -> bool:
        return any(metric.drift for metric in self.metrics)

    @property
    def severity(self) -> Severity | None:
        order: dict[Severity, int] = {"low": 0, "medium": 1, "high": 2}
        found = [order[m.severity] for m in self.metrics if m.drift and m.severity is not None]
        if not found:
            return None
        highest = max(found)
        return next(name for name, rank in order.items() if rank == highest)


def severity_of(change: float, threshold: float) -> Severity:
    ratio = abs(change) / threshold + 1e-9  # 0.15 / 0.10 is 1.4999... in floats
    if ratio >= 2.0:
        return "high"
    if ratio >= 1.5:
        return "medium"
    return "low"


def _relative(baseline: float, recent: float) -> float:
    if baseline == 0:
        return 0.0 if recent == 0 else math.inf
    return (recent - baseline) / baseline


def two_proportion_p(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test."""
    if n1 == 0 or n2 == 0:
        return 1.0
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (x2 / n2 - x1 / n1) / se
    return math.erfc(abs(z) / math.sqrt(2))


def _rate(
    metric: str, x1: int, n1: int, x2: int, n2: int, threshold: float, direction: int, alpha: float
) -> MetricDrift:
    baseline, recent = x1 / n1, x2 / n2
    change = _relative(baseline, recent)
    p_value = two_proportion_p(x1, n1, x2, n2)
    drift = direction * change >= threshold and p_value < alpha
    return MetricDrift(
        metric,
        baseline,
        recent,
        change,
        drift,
        severity_of(change, threshold) if drift else None,
        p_value,
        "two_proportion_z",
    )


def _distribution(
    metric: str, base: Sequence[float], recent: Sequence[float], threshold: float, alpha: float
) -> MetricDrift:
    from scipy import stats

    base_mean = sum(base) / len(base) if base else 0.0
    recent_mean = sum(recent) / len(recent) if recent else 0.0
    change = _relative(base_mean, recent_mean)
    p_value = 1.0
    if (
        base
        and recent
        and (min(base) != max(base) or min(recent) != max(recent) or base_mean != recent_mean)
    ):
        p_value = float(stats.mannwhitneyu(base, recent, alternative="two-sided").pvalue)
    drift = change >= threshold and p_value < alpha
    return MetricDrift(
        metric,
        base_mean,
        recent_mean,
        change,
        drift,
        severity_of(change, threshold) if drift else None,
        p_value,
        "mann_whitney_u",
    )


def _actions(
    base: Mapping[str, int], recent: Mapping[str, int], min_shift: float, alpha: float
) -> MetricDrift:
    from scipy import stats

    names = sorted(
        name for name in set(base) | set(recent) if base.get(name, 0) + recent.get(name, 0)
    )
    n1, n2 = sum(base.values()), sum(recent.values())
    if len(names) < 2 or n1 == 0 or n2 == 0:
        return MetricDrift("action_distribution", 0.0, 0.0, 0.0, False, None, 1.0, "chi_squared")
    total = n1 + n2
    statistic = 0.0
    for name in names:
        column = base.get(name, 0) + recent.get(name, 0)
        for observed, row in ((base.get(name, 0), n1), (recent.get(name, 0), n2)):
            expected = row * column / total
            statistic += (observed - expected) ** 2 / expected
    freedom = len(names) - 1
    critical = float(stats.chi2.ppf(1 - alpha, freedom))
    p_value = float(stats.chi2.sf(statistic, freedom))
    shift = 0.5 * sum(abs(base.get(n, 0) / n1 - recent.get(n, 0) / n2) for n in names)
    drift = statistic > critical and shift >= min_shift
    return MetricDrift(
        "action_distribution",
        critical,
        statistic,
        shift,
        drift,
        severity_of(shift, min_shift) if drift else None,
        p_value,
        "chi_squared",
    )


def detect_drift(
    baseline: WindowSample, recent: WindowSample, thresholds: DriftThresholds = DriftThresholds()
) -> DriftReport:
    """Compare ``recent`` with ``baseline``; no metric drifts below the minimum sample."""
    enough = min(baseline.conversations, recent.conversations) >= thresholds.min_conversations
    if not enough:
        return DriftReport(False, (), baseline.conversations, recent.conversations)
    # Four tests run at once on the same windows: Bonferroni keeps their joint false
    # alarm rate at ``alpha`` (the action mix has its own guard, the minimum shift).
    t, alpha = thresholds, thresholds.alpha / 4
    b, r = baseline, recent
    metrics = (
        _rate(
            "booking_rate",
            b.bookings,
            b.conversations,
            r.bookings,
            r.conversations,
            t.booking_drop,
            -1,
            alpha,
        ),
        _rate(
            "escalation_rate",
            b.escalations,
            b.conversations,
            r.escalations,
            r.conversations,
            t.escalation_rise,
            1,
            alpha,
        ),
        _distribution("cost_per_conversation", b.costs, r.costs, t.cost_rise, alpha),
        _distribution("response_time", b.latencies, r.latencies, t.latency_rise, alpha),
        _actions(b.actions, r.actions, t.action_min_shift, t.alpha),
    )
    return DriftReport(True, metrics, b.conversations, r.conversations)
