"""Circuit breaker transitions: pure functions over an immutable state and the clock.

::

    CLOSED --(failure_threshold consecutive failures, or a failure rate)--> OPEN
    OPEN --(recovery_timeout passed: the next request is a probe)--> HALF_OPEN
    HALF_OPEN --(success_threshold probe successes)--> CLOSED
    HALF_OPEN --(a probe fails)--> OPEN (the timer restarts)

At most ``half_open_max_attempts`` probes are in flight at once. Each admission
carries the state's ``generation``, which changes on every transition; a result that
comes back from an earlier generation (a request let through before the breaker
opened) is ignored. A probe that never reports (its replica died) frees its slot after
another ``recovery_timeout``, so a shared breaker cannot stick half-open.

Which failures count is :func:`counts_as_failure`: 5xx, timeouts, resets, malformed
and invalid answers, broken streams; never the caller's own mistakes (4xx) nor 429,
which says the upstream is busy, not broken.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from steadyllm.policy.retry_budget import sliding_count, window_position

__all__ = [
    "Admission",
    "BreakerPolicy",
    "BreakerState",
    "StateName",
    "admit",
    "counts_as_failure",
    "failure_count",
    "next_attempt_time",
    "record",
    "release",
]

StateName = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerPolicy:
    failure_threshold: int = 5
    mode: Literal["consecutive", "rate"] = "consecutive"
    failure_rate: float = 0.5  # rate mode: open at this share of failures...
    minimum_requests: int = 10  # ...once the window holds this many results
    window: float = 60.0  # rate mode: seconds
    recovery_timeout: float = 60.0
    half_open_max_attempts: int = 1
    success_threshold: int = 1

    def __post_init__(self) -> None:
        for name in ("failure_threshold", "half_open_max_attempts", "success_threshold"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1")
        if not 0 < self.failure_rate <= 1:
            raise ValueError("failure_rate: must be in (0, 1]")
        for name in ("window", "recovery_timeout"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name}: must be a positive number of seconds")


@dataclass(frozen=True, slots=True)
class BreakerState:
    state: StateName = "closed"
    generation: int = 0
    failures: int = 0  # consecutive failures while closed
    successes: int = 0  # probe successes while half-open
    opened_at: float | None = None
    probes: int = 0  # probes in flight while half-open
    probe_started_at: float | None = None
    window_index: int = 0  # rate mode: the current bucket and the one before it
    requests: int = 0
    window_failures: int = 0
    previous_requests: int = 0
    previous_failures: int = 0


@dataclass(frozen=True, slots=True)
class Admission:
    allowed: bool
    probe: bool = False
    generation: int = 0
    retry_after: float = 0.0  # refused: seconds until a probe may go


def next_attempt_time(state: BreakerState, policy: BreakerPolicy) -> float | None:
    """When an open breaker lets its next probe through (``None`` unless open)."""
    if state.state != "open" or state.opened_at is None:
        return None
    return state.opened_at + policy.recovery_timeout


def admit(state: BreakerState, policy: BreakerPolicy, now: float) -> tuple[Admission, BreakerState]:
    """Whether one request may go through now, and the state after letting it."""
    if state.state == "closed":
        return Admission(True, generation=state.generation), state
    if state.state == "open":
        due = next_attempt_time(state, policy)
        if due is not None and now < due:
            return Admission(False, generation=state.generation, retry_after=due - now), state
        state = replace(
            state,
            state="half_open",
            generation=state.generation + 1,
            successes=0,
            probes=0,
            probe_started_at=None,
        )
    # half-open: a probe slot, or a slot left by probes that never reported
    if state.probes >= policy.half_open_max_attempts:
        started = state.probe_started_at if state.probe_started_at is not None else now
        if now < started + policy.recovery_timeout:
            wait = max(started + policy.recovery_timeout - now, 0.0)
            return Admission(False, generation=state.generation, retry_after=wait), state
        state = replace(state, probes=0)
    state = replace(state, probes=state.probes + 1, probe_started_at=now)
    return Admission(True, probe=True, generation=state.generation), state


def _open(state: BreakerState, now: float) -> BreakerState:
    return replace(
        state,
        state="open",
        generation=state.generation + 1,
        opened_at=now,
        failures=0,
        successes=0,
        probes=0,
        probe_started_at=None,
        requests=0,
        window_failures=0,
        previous_requests=0,
        previous_failures=0,
    )


def _roll(state: BreakerState, policy: BreakerPolicy, now: float) -> tuple[BreakerState, float]:
    index, elapsed = window_position(now, policy.window)
    if index == state.window_index:
        return state, elapsed
    if index == state.window_index + 1:
        previous = (state.requests, state.window_failures)
    else:
        previous = (0, 0)
    rolled = replace(
        state,
        window_index=index,
        previous_requests=previous[0],
        previous_failures=previous[1],
        requests=0,
        window_failures=0,
    )
    return rolled, elapsed


def record(
    state: BreakerState,
    policy: BreakerPolicy,
    now: float,
    admission: Admission,
    *,
    failed: bool,
) -> BreakerState:
    """The state after the admitted request ended in success or (counted) failure."""
    if admission.generation != state.generation or not admission.allowed:
        return state
    if state.state == "half_open":
        if not admission.probe:
            return state
        probes = max(state.probes - 1, 0)
        if failed:
            return _open(state, now)
        successes = state.successes + 1
        if successes >= policy.success_threshold:
            return BreakerState(
                generation=state.generation + 1, window_index=window_position(now, policy.window)[0]
            )
        return replace(state, successes=successes, probes=probes)
    if state.state != "closed":
        return state
    if policy.mode == "consecutive":
        if not failed:
            return state if state.failures == 0 else replace(state, failures=0)
        if state.failures + 1 >= policy.failure_threshold:
            return _open(state, now)
        return replace(state, failures=state.failures + 1)
    state, elapsed = _roll(state, policy, now)
    state = replace(
        state,
        requests=state.requests + 1,
        window_failures=state.window_failures + (1 if failed else 0),
        failures=state.failures + 1 if failed else 0,
    )
    requests = sliding_count(state.previous_requests, state.requests, elapsed)
    failures = sliding_count(state.previous_failures, state.window_failures, elapsed)
    if (
        failed
        and requests >= policy.minimum_requests
        and failures >= policy.failure_rate * requests
    ):
        return _open(state, now)
    return state


def release(state: BreakerState, admission: Admission) -> BreakerState:
    """The admitted request ended with no verdict (cancelled): free its probe slot."""
    if (
        admission.probe
        and admission.generation == state.generation
        and state.state == "half_open"
        and state.probes > 0
    ):
        return replace(state, probes=state.probes - 1)
    return state


def failure_count(state: BreakerState, policy: BreakerPolicy, now: float) -> int:
    """Failures that count toward opening: consecutive ones, or the window's in rate mode."""
    if policy.mode == "consecutive" or state.state != "closed":
        return state.failures
    rolled, elapsed = _roll(state, policy, now)
    return round(sliding_count(rolled.previous_failures, rolled.window_failures, elapsed))


def counts_as_failure(kind: str, upstream_status: int | None) -> bool:
    """Whether an upstream failure says the deployment is unhealthy."""
    if kind == "status":
        return upstream_status is not None and upstream_status >= 500
    return kind in ("connect", "timeout", "reset", "malformed", "stream_cut", "invalid")
