"""1,000 simulated experiments with a look every 25 or 50 subjects per arm.

A/A (no true difference): the sequential test declares at most 5 % of them.
A/B with a true 10-point lift in booking rate (30 % -> 40 %) at the sample size
docs/EXPERIMENTS.md recommends (``sequential_sample_size``): at least 80 % detected.
"""

from __future__ import annotations

import numpy as np

from steadyllm.experiments.simulation import simulate_sequential
from steadyllm.policy.ab_stats import sequential_sample_size

BASE = 0.30
LIFT = 0.10


def test_a_a_experiments_with_interim_looks_stay_under_five_percent() -> None:
    rng = np.random.default_rng(20261121)
    n = sequential_sample_size(BASE, LIFT)
    result = simulate_sequential(
        rng, rate_a=BASE, rate_b=BASE, samples_per_arm=n, look_every=25, runs=1000
    )
    assert result.runs == 1000
    assert result.share <= 0.05


def test_peeking_with_a_fixed_z_test_would_have_inflated_false_positives() -> None:
    """The control: the same looks with a plain z-test at 1.96 cross far more often."""
    rng = np.random.default_rng(7)
    n, step, runs = 700, 25, 1000
    looks = np.arange(step, n + 1, step)
    a = np.cumsum(rng.binomial(step, BASE, size=(runs, looks.size)), axis=1)
    b = np.cumsum(rng.binomial(step, BASE, size=(runs, looks.size)), axis=1)
    pooled = (a + b) / (2 * looks)
    z = (b - a) / looks / np.sqrt(pooled * (1 - pooled) * 2 / looks)
    assert (np.abs(z) >= 1.96).any(axis=1).mean() > 0.10


def test_a_true_ten_point_lift_is_detected_at_least_eighty_percent_of_the_time() -> None:
    rng = np.random.default_rng(20261122)
    n = sequential_sample_size(BASE, LIFT)
    result = simulate_sequential(
        rng, rate_a=BASE, rate_b=BASE + LIFT, samples_per_arm=n, look_every=50, runs=1000
    )
    assert result.share >= 0.80
