"""Statistics for A/B experiments and shadow comparisons (pure; scipy does the maths).

- rates: two-proportion z-test, chi-squared on the 2xk table, Wilson and difference
  confidence intervals;
- latency and cost: Welch's t-test and Mann-Whitney U;
- peeking: a mixture sequential probability ratio test (mSPRT, Johari et al. 2017) on
  the difference of two rates. Its p-value is valid at every look, so checking the
  results every hour does not inflate false positives;
- sample-ratio mismatch: a chi-squared goodness-of-fit of the arm counts against the
  configured weights, alarm at p < 0.001.

scipy (the ``experiments`` extra) is imported inside the functions that need it, so
the gateway itself never loads it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "SRM_ALARM_P",
    "Comparison",
    "RateTest",
    "chi_squared",
    "difference_interval",
    "mann_whitney",
    "msprt_lambda",
    "sample_ratio_mismatch",
    "sequential_rate_test",
    "sequential_sample_size",
    "two_proportion_z",
    "welch_t",
    "wilson_interval",
]

SRM_ALARM_P = 0.001


@dataclass(frozen=True, slots=True)
class RateTest:
    statistic: float
    p_value: float
    difference: float  # rate_b - rate_a
    interval: tuple[float, float]  # confidence interval of the difference


@dataclass(frozen=True, slots=True)
class Comparison:
    statistic: float
    p_value: float
    difference: float  # mean_b - mean_a (Welch) or median_b - median_a (Mann-Whitney)


def _norm_ppf(q: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(q))


def _norm_sf(z: float) -> float:
    from scipy.stats import norm

    return float(norm.sf(z))


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for one rate (sane near 0 and 1, unlike the Wald one)."""
    if n <= 0:
        return (0.0, 1.0)
    z = _norm_ppf(0.5 + confidence / 2)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def difference_interval(
    successes_a: int, n_a: int, successes_b: int, n_b: int, *, confidence: float = 0.95
) -> tuple[float, float]:
    """Normal (unpooled) interval of ``rate_b - rate_a``."""
    if n_a <= 0 or n_b <= 0:
        return (-1.0, 1.0)
    p_a, p_b = successes_a / n_a, successes_b / n_b
    se = math.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    z = _norm_ppf(0.5 + confidence / 2)
    difference = p_b - p_a
    return (difference - z * se, difference + z * se)


def two_proportion_z(
    successes_a: int, n_a: int, successes_b: int, n_b: int, *, confidence: float = 0.95
) -> RateTest:
    """Fixed-horizon two-sided z-test with the pooled variance (valid at ONE look)."""
    interval = difference_interval(successes_a, n_a, successes_b, n_b, confidence=confidence)
    if n_a <= 0 or n_b <= 0:
        return RateTest(0.0, 1.0, 0.0, interval)
    p_a, p_b = successes_a / n_a, successes_b / n_b
    pooled = (successes_a + successes_b) / (n_a + n_b)
    variance = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    if variance <= 0:
        return RateTest(0.0, 1.0, p_b - p_a, interval)
    z = (p_b - p_a) / math.sqrt(variance)
    return RateTest(z, min(1.0, 2 * _norm_sf(abs(z))), p_b - p_a, interval)


def chi_squared(successes: Sequence[int], totals: Sequence[int]) -> tuple[float, float]:
    """Chi-squared test of equal rates over k arms: ``(statistic, p_value)``."""
    from scipy.stats import chi2_contingency

    table = [[s, t - s] for s, t in zip(successes, totals, strict=True) if t > 0]
    if len(table) < 2 or any(sum(col) == 0 for col in zip(*table, strict=True)):
        return (0.0, 1.0)
    result = chi2_contingency(table, correction=False)
    return (float(result.statistic), float(result.pvalue))


def welch_t(a: Sequence[float], b: Sequence[float]) -> Comparison:
    """Welch's t-test of means (unequal variances)."""
    from scipy.stats import ttest_ind

    if len(a) < 2 or len(b) < 2:
        return Comparison(0.0, 1.0, 0.0)
    difference = sum(b) / len(b) - sum(a) / len(a)
    result = ttest_ind(b, a, equal_var=False)
    p = float(result.pvalue)
    return Comparison(float(result.statistic), 1.0 if math.isnan(p) else p, difference)


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> Comparison:
    """Mann-Whitney U (two-sided): robust to the long tails of latency and cost."""
    from statistics import median

    from scipy.stats import mannwhitneyu

    if not a or not b:
        return Comparison(0.0, 1.0, 0.0)
    result = mannwhitneyu(b, a, alternative="two-sided")
    return Comparison(float(result.statistic), float(result.pvalue), median(b) - median(a))


def sample_ratio_mismatch(counts: Sequence[int], weights: Sequence[float]) -> float:
    """p-value that the arm counts follow the weights; below ``SRM_ALARM_P`` is an alarm."""
    from scipy.stats import chisquare

    total = sum(counts)
    weight_sum = sum(weights)
    if total == 0 or len(counts) < 2 or weight_sum <= 0:
        return 1.0
    expected = [total * w / weight_sum for w in weights]
    return float(chisquare(list(counts), expected).pvalue)


def msprt_lambda(difference: float, variance: float, tau: float) -> float:
    """Mixture likelihood ratio for a normal statistic with prior N(0, tau^2) on the effect."""
    if variance <= 0:
        return 1.0
    tau2 = tau * tau
    exponent = difference * difference * tau2 / (2 * variance * (variance + tau2))
    return math.sqrt(variance / (variance + tau2)) * math.exp(min(exponent, 700.0))


def sequential_rate_test(
    successes_a: int, n_a: int, successes_b: int, n_b: int, *, tau: float = 0.1
) -> float:
    """Always-valid p-value of the mSPRT at this look: ``min(1, 1 / Lambda)``.

    The caller keeps the running minimum over looks (``min(previous, this)``); the
    test declares a difference once it falls below alpha.
    """
    if n_a <= 0 or n_b <= 0:
        return 1.0
    pooled = (successes_a + successes_b) / (n_a + n_b)
    variance = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    difference = successes_b / n_b - successes_a / n_a
    return min(1.0, 1.0 / msprt_lambda(difference, variance, tau))


def sequential_sample_size(
    base_rate: float,
    lift: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    tau: float = 0.1,
) -> int:
    """Samples per arm for the mSPRT to reach ``power`` against ``lift`` by its last look.

    Conservative: it counts only the last look (interim looks only add detections).
    """
    other = base_rate + lift
    pooled = (base_rate + other) / 2
    z_power = _norm_ppf(power)
    for n in range(10, 1_000_000, 10):
        null_variance = 2 * pooled * (1 - pooled) / n
        true_sd = math.sqrt((base_rate * (1 - base_rate) + other * (1 - other)) / n)
        tau2 = tau * tau
        # |difference| needed for Lambda >= 1/alpha at this n
        log_term = math.log(1 / alpha) + 0.5 * math.log((null_variance + tau2) / null_variance)
        needed = math.sqrt(2 * null_variance * (null_variance + tau2) * log_term / tau2)
        if (abs(lift) - needed) / true_sd >= z_power:
            return n
    raise ValueError("the lift is too small to detect")
