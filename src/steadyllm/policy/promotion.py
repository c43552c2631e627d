"""Promotion criteria for a shadow variant, and the traffic ramp (pure).

A shadow variant is promoted when it has enough samples, few errors, costs not
much more and performs measurably better than the primary. ``performance`` is the
relative latency improvement: ``(primary - shadow) / primary``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PromotionCriteria", "PromotionDecision", "ShadowFigures", "check", "next_ramp"]


@dataclass(frozen=True, slots=True)
class PromotionCriteria:
    min_samples: int = 50
    max_error_rate: float = 0.05
    max_cost_increase: float = 0.10  # relative
    min_performance_improvement: float = 0.05  # relative latency improvement


@dataclass(frozen=True, slots=True)
class ShadowFigures:
    samples: int
    shadow_errors: int
    avg_primary_ms: float
    avg_shadow_ms: float
    avg_primary_cost: float
    avg_shadow_cost: float

    @property
    def error_rate(self) -> float:
        return self.shadow_errors / self.samples if self.samples else 0.0

    @property
    def performance_delta(self) -> float:
        if self.avg_primary_ms <= 0:
            return 0.0
        return (self.avg_primary_ms - self.avg_shadow_ms) / self.avg_primary_ms

    @property
    def cost_increase(self) -> float:
        if self.avg_primary_cost <= 0:
            return 0.0 if self.avg_shadow_cost <= 0 else float("inf")
        return (self.avg_shadow_cost - self.avg_primary_cost) / self.avg_primary_cost


@dataclass(frozen=True, slots=True)
class PromotionDecision:
    should_promote: bool
    reasons: list[str] = field(default_factory=list)


def check(figures: ShadowFigures, criteria: PromotionCriteria) -> PromotionDecision:
    """Every criterion with its reason; promote only when all of them hold."""
    reasons: list[str] = []
    ok = True
    if figures.samples < criteria.min_samples:
        ok = False
        reasons.append(f"samples {figures.samples} < {criteria.min_samples}")
    else:
        reasons.append(f"samples {figures.samples} >= {criteria.min_samples}")
    if figures.error_rate > criteria.max_error_rate:
        ok = False
        reasons.append(f"error rate {figures.error_rate:.1%} > {criteria.max_error_rate:.1%}")
    else:
        reasons.append(f"error rate {figures.error_rate:.1%} <= {criteria.max_error_rate:.1%}")
    if figures.cost_increase > criteria.max_cost_increase:
        ok = False
        reasons.append(
            f"cost increase {figures.cost_increase:.1%} > {criteria.max_cost_increase:.1%}"
        )
    else:
        reasons.append(
            f"cost increase {figures.cost_increase:.1%} <= {criteria.max_cost_increase:.1%}"
        )
    improvement = figures.performance_delta
    if improvement < criteria.min_performance_improvement:
        ok = False
        reasons.append(
            f"performance improvement {improvement:.1%} < "
            f"{criteria.min_performance_improvement:.1%}"
        )
    else:
        reasons.append(
            f"performance improvement {improvement:.1%} >= "
            f"{criteria.min_performance_improvement:.1%}"
        )
    return PromotionDecision(ok, reasons)


def next_ramp(percent: float, step: float = 10.0) -> float:
    """The next traffic share of the ramp 10 -> 20 -> ... -> 100 (clamped)."""
    if percent < step:
        return step
    return min(100.0, (int(percent // step) + 1) * step)
