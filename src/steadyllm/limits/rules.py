"""What one call must be allowed: a list of rules, checked and taken all at once.

Three kinds of rule, each held by a :class:`~steadyllm.limits.store.LimitStore`:

``sliding``
    A sliding-window counter (``policy.rate_window``): requests or tokens per
    ``window`` seconds. Tokens are reserved from the estimate and settled later.
``fixed``
    A counter for a named period (``key`` includes it, e.g. the UTC day) that
    expires ``window`` seconds after it is created: dollar budgets. Reserved from
    the estimate, settled with the actual cost.
``lease``
    Concurrent calls: one slot per call, given back when it ends; a slot a crashed
    replica never gave back lapses after ``window`` seconds.

``build_rules`` turns a caller's limits into rules; it is pure (the day comes in).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from steadyllm.keys.settings import GlobalLimits, Limits
from steadyllm.policy.rate_window import day_period

__all__ = ["Rule", "RuleKind", "Subject", "build_rules"]

RuleKind = Literal["sliding", "fixed", "lease"]

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


@dataclass(frozen=True, slots=True)
class Rule:
    kind: RuleKind
    name: str  # what it limits: "requests_per_minute", "budget_per_day", ...
    key: str  # the counter, without the store's prefix
    limit: float
    amount: float
    window: float  # seconds: the sliding window, the period's TTL, or the lease
    scope: str  # "key", "user", "anonymous" or "global": for messages and alerts
    settles: Literal["none", "tokens", "cost", "release"] = "none"
    period_ends_in: float | None = None  # fixed: seconds until the period ends


@dataclass(frozen=True, slots=True)
class Subject:
    """Whose counters a call uses: ``rate`` for request and token limits, ``budget``
    for dollars (a user's keys share one budget)."""

    rate: str
    budget: str
    scope: Literal["key", "anonymous"]


def build_rules(
    subject: Subject,
    limits: Limits,
    global_limits: GlobalLimits,
    *,
    tokens: int,
    cost: float,
    now: float,
    lease: float,
) -> list[Rule]:
    """The rules of one call, cheapest to refuse first (a refusal takes nothing)."""
    day, day_left = day_period(now)
    # A budget counter outlives its day by a day, so a call that started just before
    # midnight still settles against the counter it reserved from.
    budget_ttl = day_left + DAY
    rules: list[Rule] = []
    scope = subject.scope
    windows = (
        ("requests_per_minute", limits.requests_per_minute, MINUTE, "m"),
        ("requests_per_hour", limits.requests_per_hour, HOUR, "h"),
        ("requests_per_day", limits.requests_per_day, DAY, "d"),
    )
    for name, limit, window, suffix in windows:
        if limit is not None:
            rules.append(
                Rule("sliding", name, f"rq:{subject.rate}:{suffix}", limit, 1, window, scope)
            )
    if limits.tokens_per_minute is not None:
        rules.append(
            Rule(
                "sliding",
                "tokens_per_minute",
                f"tk:{subject.rate}:m",
                limits.tokens_per_minute,
                tokens,
                MINUTE,
                scope,
                settles="tokens",
            )
        )
    if limits.budget_per_day is not None:
        rules.append(
            Rule(
                "fixed",
                "budget_per_day",
                f"usd:{subject.budget}:{day}",
                limits.budget_per_day,
                cost,
                budget_ttl,
                "user" if scope == "key" else scope,
                settles="cost",
                period_ends_in=day_left,
            )
        )
    if global_limits.requests_per_hour is not None:
        rules.append(
            Rule(
                "sliding",
                "requests_per_hour",
                "rq:global:h",
                global_limits.requests_per_hour,
                1,
                HOUR,
                "global",
            )
        )
    if global_limits.budget_per_day is not None:
        rules.append(
            Rule(
                "fixed",
                "budget_per_day",
                f"usd:global:{day}",
                global_limits.budget_per_day,
                cost,
                budget_ttl,
                "global",
                settles="cost",
                period_ends_in=day_left,
            )
        )
    if global_limits.max_concurrent is not None:
        rules.append(
            Rule(
                "lease",
                "max_concurrent",
                "cc:global",
                global_limits.max_concurrent,
                1,
                lease,
                "global",
                settles="release",
            )
        )
    return rules
