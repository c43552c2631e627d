"""Whether an hour's cost is a spike: over ``factor`` times its usual level.

The usual level is the mean hourly cost over the hours before it, but never less
than ``floor``: without a floor the first dollar after a quiet night would be an
infinite spike.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["is_spike", "usual_level"]


def usual_level(previous_hours: Sequence[float], floor: float) -> float:
    mean = sum(previous_hours) / len(previous_hours) if previous_hours else 0.0
    return max(mean, floor)


def is_spike(
    hour_cost: float, previous_hours: Sequence[float], *, factor: float, floor: float
) -> bool:
    return hour_cost > factor * usual_level(previous_hours, floor)
