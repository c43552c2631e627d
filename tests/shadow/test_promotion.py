from __future__ import annotations

import pytest

from steadyllm.policy.promotion import PromotionCriteria, ShadowFigures, check, next_ramp

CRITERIA = PromotionCriteria()


def figures(
    samples: int = 100,
    errors: int = 0,
    primary_ms: float = 100.0,
    shadow_ms: float = 90.0,
    primary_cost: float = 1.0,
    shadow_cost: float = 1.05,
) -> ShadowFigures:
    return ShadowFigures(samples, errors, primary_ms, shadow_ms, primary_cost, shadow_cost)


@pytest.mark.parametrize(
    ("case", "promote", "failing"),
    [
        (figures(), True, None),
        (figures(samples=49), False, "samples 49 < 50"),
        (figures(errors=6), False, "error rate 6.0% > 5.0%"),
        (figures(errors=5), True, None),
        (figures(shadow_cost=1.11), False, "cost increase"),
        (figures(shadow_ms=96.0), False, "performance improvement 4.0% < 5.0%"),
        (figures(shadow_ms=95.0), True, None),
        (figures(primary_cost=0.0, shadow_cost=0.0), True, None),
    ],
)
def test_criteria(case: ShadowFigures, promote: bool, failing: str | None) -> None:
    decision = check(case, CRITERIA)
    assert decision.should_promote is promote
    assert len(decision.reasons) == 4
    if failing is not None:
        assert any(reason.startswith(failing) for reason in decision.reasons)


@pytest.mark.parametrize(
    ("now", "after"), [(0.0, 10.0), (5.0, 10.0), (10.0, 20.0), (90.0, 100.0), (100.0, 100.0)]
)
def test_ramp(now: float, after: float) -> None:
    assert next_ramp(now) == after
