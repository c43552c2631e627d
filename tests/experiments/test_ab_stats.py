"""The A/B statistics against known values (tables of cases, no event loop)."""

from __future__ import annotations

import math

import pytest

from steadyllm.policy import ab_stats


@pytest.mark.parametrize(
    ("sa", "na", "sb", "nb", "z"),
    [
        (100, 1000, 100, 1000, 0.0),
        (300, 1000, 350, 1000, 2.3871),  # pooled 0.325: 0.05 / sqrt(0.325*0.675*0.002)
        (50, 500, 30, 500, -2.3313),  # pooled 0.08: -0.04 / sqrt(0.08*0.92*0.004)
    ],
)
def test_two_proportion_z_matches_the_formula(sa: int, na: int, sb: int, nb: int, z: float) -> None:
    result = ab_stats.two_proportion_z(sa, na, sb, nb)
    assert result.statistic == pytest.approx(z, abs=1e-3)
    assert result.p_value == pytest.approx(math.erfc(abs(z) / math.sqrt(2)), abs=1e-4)
    low, high = result.interval
    assert low < result.difference < high


def test_two_proportion_z_without_data_is_not_significant() -> None:
    assert ab_stats.two_proportion_z(0, 0, 0, 0).p_value == 1.0
    assert ab_stats.two_proportion_z(0, 10, 0, 10).p_value == 1.0


def test_chi_squared_on_two_arms_is_z_squared() -> None:
    z = ab_stats.two_proportion_z(300, 1000, 350, 1000)
    statistic, p = ab_stats.chi_squared([300, 350], [1000, 1000])
    assert statistic == pytest.approx(z.statistic**2, rel=1e-6)
    assert p == pytest.approx(z.p_value, rel=1e-6)


def test_wilson_interval_is_inside_zero_one_and_covers_the_rate() -> None:
    low, high = ab_stats.wilson_interval(0, 20)
    assert low == 0.0
    assert 0.1 < high < 0.2  # 0.161 for 0/20
    low, high = ab_stats.wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-3)
    assert high == pytest.approx(0.5962, abs=1e-3)


def test_welch_and_mann_whitney_see_a_shift_and_not_noise() -> None:
    a = [100.0 + (i % 7) for i in range(60)]
    shifted = [x + 10 for x in a]
    assert ab_stats.welch_t(a, shifted).p_value < 1e-6
    assert ab_stats.welch_t(a, shifted).difference == pytest.approx(10.0)
    assert ab_stats.mann_whitney(a, shifted).p_value < 1e-6
    assert ab_stats.welch_t(a, list(a)).p_value > 0.5
    assert ab_stats.mann_whitney(a, list(a)).p_value > 0.5


def test_sample_ratio_mismatch_alarms_only_on_a_real_imbalance() -> None:
    assert ab_stats.sample_ratio_mismatch([5000, 5050], [1, 1]) > 0.1
    assert ab_stats.sample_ratio_mismatch([5000, 5400], [1, 1]) < ab_stats.SRM_ALARM_P
    assert ab_stats.sample_ratio_mismatch([9000, 1000], [9, 1]) > 0.1


def test_sequential_p_value_is_stricter_than_the_fixed_one() -> None:
    fixed = ab_stats.two_proportion_z(300, 1000, 345, 1000).p_value
    sequential = ab_stats.sequential_rate_test(300, 1000, 345, 1000)
    assert fixed < 0.05
    assert sequential > fixed


def test_sequential_sample_size_grows_as_the_lift_shrinks() -> None:
    ten = ab_stats.sequential_sample_size(0.3, 0.10)
    five = ab_stats.sequential_sample_size(0.3, 0.05)
    assert 500 <= ten <= 900
    assert five > 3 * ten
