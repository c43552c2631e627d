"""Simulated conversation outcomes for drift tests: seeded, pure."""

from __future__ import annotations

import random

from steadyllm.policy.drift import WindowSample

ACTIONS = ("collect_info", "check_availability", "book_appointment", "confirm")
MIX = (0.3, 0.3, 0.25, 0.15)


def day(
    rng: random.Random,
    n: int,
    *,
    booking: float = 0.75,
    escalation: float = 0.10,
    cost: float = 0.002,
    latency: float = 800.0,
) -> list[tuple[bool, bool, float, float, str]]:
    """``n`` conversations: (booked, escalated, cost, latency ms, action)."""
    return [
        (
            rng.random() < booking,
            rng.random() < escalation,
            cost * rng.lognormvariate(0, 0.3),
            latency * rng.lognormvariate(0, 0.3),
            rng.choices(ACTIONS, MIX)[0],
        )
        for _ in range(n)
    ]


def sample(rows: list[tuple[bool, bool, float, float, str]]) -> WindowSample:
    actions: dict[str, int] = {}
    for row in rows:
        actions[row[4]] = actions.get(row[4], 0) + 1
    return WindowSample(
        conversations=len(rows),
        bookings=sum(1 for r in rows if r[0]),
        escalations=sum(1 for r in rows if r[1]),
        costs=tuple(r[2] for r in rows),
        latencies=tuple(r[3] for r in rows),
        actions=actions,
    )
