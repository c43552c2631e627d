"""Ordering one model's deployments: by weight, least latency or least in flight.

Pure: the load figures and the random source are passed in. Each function returns
indices into the deployments it was given, best first; ties are broken at random so
equal deployments share the traffic.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Literal

from steadyllm.policy.weighted import weighted_order

__all__ = [
    "Strategy",
    "ewma",
    "least_in_flight_order",
    "least_latency_order",
    "order",
    "quantile",
]

Strategy = Literal["weighted", "least_latency", "least_in_flight"]


def least_latency_order(latencies: Sequence[float | None], rng: random.Random) -> list[int]:
    """Fastest first. ``None`` (no recent sample) counts as fastest, so a deployment
    nobody has measured lately gets a request and a fresh figure."""
    keys = [
        (0.0 if latency is None else latency, rng.random(), index)
        for index, latency in enumerate(latencies)
    ]
    keys.sort()
    return [index for _, _, index in keys]


def least_in_flight_order(
    in_flight: Sequence[int], weights: Sequence[float], rng: random.Random
) -> list[int]:
    """Fewest requests in flight per unit of weight first."""
    keys = [
        (count / weight if weight > 0 else math.inf, rng.random(), index)
        for index, (count, weight) in enumerate(zip(in_flight, weights, strict=True))
    ]
    keys.sort()
    return [index for _, _, index in keys]


def order(
    strategy: Strategy,
    *,
    weights: Sequence[float],
    latencies: Sequence[float | None],
    in_flight: Sequence[int],
    rng: random.Random,
) -> list[int]:
    if strategy == "least_latency":
        return least_latency_order(latencies, rng)
    if strategy == "least_in_flight":
        return least_in_flight_order(in_flight, weights, rng)
    return weighted_order(weights, rng)


def ewma(previous: float | None, sample: float, alpha: float) -> float:
    """Exponentially weighted moving average; the first sample stands alone."""
    if previous is None:
        return sample
    return previous + alpha * (sample - previous)


def quantile(samples: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (nearest rank) of ``samples``; ``None`` when empty."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]
