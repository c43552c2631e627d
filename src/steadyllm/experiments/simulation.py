"""Monte Carlo check of the sequential test: false positives under A/A, power under A/B.

Vectorised with numpy (the ``experiments`` extra): every run's arms grow in blocks
of ``look_every`` subjects, and the mSPRT is evaluated at each block, as a team that
looks at the results every day would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SimulationResult", "simulate_sequential"]


@dataclass(frozen=True, slots=True)
class SimulationResult:
    runs: int
    declared: int  # runs whose test crossed the line at some look

    @property
    def share(self) -> float:
        return self.declared / self.runs


def simulate_sequential(
    rng: np.random.Generator,
    *,
    rate_a: float,
    rate_b: float,
    samples_per_arm: int,
    look_every: int = 50,
    runs: int = 1000,
    alpha: float = 0.05,
    tau: float = 0.1,
) -> SimulationResult:
    looks = np.arange(look_every, samples_per_arm + 1, look_every)
    if looks.size == 0 or looks[-1] != samples_per_arm:
        looks = np.append(looks, samples_per_arm)
    blocks = np.diff(np.concatenate(([0], looks)))
    succ_a = np.cumsum(rng.binomial(blocks, rate_a, size=(runs, blocks.size)), axis=1)
    succ_b = np.cumsum(rng.binomial(blocks, rate_b, size=(runs, blocks.size)), axis=1)
    n = looks.astype(float)
    pooled = (succ_a + succ_b) / (2 * n)
    variance = pooled * (1 - pooled) * (2 / n)
    difference = (succ_b - succ_a) / n
    tau2 = tau * tau
    with np.errstate(divide="ignore", invalid="ignore"):
        log_lambda = 0.5 * np.log(variance / (variance + tau2)) + (
            difference**2 * tau2 / (2 * variance * (variance + tau2))
        )
    log_lambda = np.where(variance > 0, log_lambda, 0.0)
    crossed = (log_lambda >= np.log(1 / alpha)).any(axis=1)
    return SimulationResult(runs=runs, declared=int(crossed.sum()))
