"""Alert rules evaluated in the process: conditions, then pending -> firing -> resolved.

The same rules, with the same thresholds and ``for`` durations, are in
``deploy/prometheus/rules.yml`` for teams that alert from Prometheus instead:

==============================  ===============================================  =========
alert                           condition (defaults)                             for
==============================  ===============================================  =========
SteadyllmHighErrorRate          failures / requests over 5 min > 5%, per model   5 min
SteadyllmHighLatencyP99         p99 latency over 5 min > 10 s, per model         5 min
SteadyllmCircuitBreakerOpen     a deployment's breaker open                      5 min
SteadyllmDailyCostOverBudget    cost over the last 24 h > ``daily_budget_usd``   at once
SteadyllmLowCacheHitRate        cache hits / lookups over 15 min < 50%           15 min
SteadyllmHighRateLimitRefusals  429 refusals / requests over 5 min > 10%         5 min
==============================  ===============================================  =========

Ratio rules need ``min_requests`` events in their window. A condition must hold
for its ``for`` duration before the alert fires; a firing alert is notified once
(again every ``repeat_interval`` while it lasts) and once more when it resolves.
A condition that clears while pending is dropped without a word. Pure: the
clock comes in as ``now``; the monitor sends what :meth:`AlertBook.update` returns.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from steadyllm.telemetry.components import Sample
from steadyllm.telemetry.settings import AlertSettings
from steadyllm.telemetry.window import RollingStats

__all__ = ["Alert", "AlertBook", "Condition", "conditions", "webhook_payload"]

State = Literal["pending", "firing", "resolved"]


@dataclass(frozen=True, slots=True)
class Condition:
    rule: str
    labels: tuple[tuple[str, str], ...]
    value: float
    threshold: float
    severity: str
    summary: str
    for_seconds: float

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return (self.rule, self.labels)


def conditions(
    now: float,
    stats: RollingStats,
    models: Iterable[str],
    samples: Iterable[Sample],
    settings: AlertSettings,
) -> list[Condition]:
    """Every rule's condition that holds at ``now``."""
    s = settings
    out: list[Condition] = []
    for model in models:
        labels = (("model", model),)
        five = stats.summary(now, 300, model)
        if five.requests >= s.min_requests:
            rate = five.failures / five.requests
            if rate > s.error_rate:
                out.append(
                    Condition(
                        "SteadyllmHighErrorRate", labels, rate, s.error_rate, "critical",
                        f"{model}: {rate:.1%} of requests failed over 5 minutes",
                        s.error_rate_for,
                    )
                )  # fmt: skip
            refused = five.rate_limited / five.requests
            if refused > s.rate_limited:
                out.append(
                    Condition(
                        "SteadyllmHighRateLimitRefusals", labels, refused, s.rate_limited,
                        "warning", f"{model}: {refused:.1%} of requests refused (429)",
                        s.rate_limited_for,
                    )
                )  # fmt: skip
        p99 = five.latency.quantile(0.99)
        if p99 is not None and five.latency.total >= s.min_requests and p99 > s.latency_p99_ms:
            out.append(
                Condition(
                    "SteadyllmHighLatencyP99", labels, p99, s.latency_p99_ms, "warning",
                    f"{model}: p99 latency {p99 / 1000:.1f}s over 5 minutes", s.latency_for,
                )
            )  # fmt: skip
        fifteen = stats.summary(now, 900, model)
        hit_rate = fifteen.cache_hit_rate
        if (
            hit_rate is not None
            and fifteen.cache_lookups >= s.min_requests
            and hit_rate < s.cache_hit_rate
        ):
            out.append(
                Condition(
                    "SteadyllmLowCacheHitRate", labels, hit_rate, s.cache_hit_rate, "info",
                    f"{model}: cache hit rate {hit_rate:.0%} over 15 minutes", s.cache_for,
                )
            )  # fmt: skip
    for sample in samples:
        if sample.name == "breaker_state" and sample.value >= 2:
            deployment = sample.label_map.get("deployment", "")
            out.append(
                Condition(
                    "SteadyllmCircuitBreakerOpen", (("deployment", deployment),), sample.value,
                    2, "critical", f"the circuit breaker of {deployment} is open",
                    s.breaker_open_for,
                )
            )  # fmt: skip
    if s.daily_budget_usd is not None:
        cost = stats.cost_last_day(now)
        if cost > s.daily_budget_usd:
            out.append(
                Condition(
                    "SteadyllmDailyCostOverBudget", (), cost, s.daily_budget_usd, "critical",
                    f"${cost:.2f} spent over 24 hours (budget ${s.daily_budget_usd:.2f})", 0.0,
                )
            )  # fmt: skip
    return out


@dataclass(slots=True)
class Alert:
    rule: str
    labels: tuple[tuple[str, str], ...]
    severity: str
    summary: str
    value: float
    threshold: float
    state: State
    since: float  # when the condition started holding
    fired_at: float | None = None
    resolved_at: float | None = None
    notified_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "alertname": self.rule,
            "labels": dict(self.labels),
            "severity": self.severity,
            "summary": self.summary,
            "value": self.value,
            "threshold": self.threshold,
            "state": self.state,
            "since": self.since,
            "firedAt": self.fired_at,
            "resolvedAt": self.resolved_at,
        }


class AlertBook:
    """Which alerts are pending and firing, and which notifications are due."""

    def __init__(self, *, repeat_interval: float, history: int = 200) -> None:
        self.repeat_interval = repeat_interval
        self._current: dict[tuple[str, tuple[tuple[str, str], ...]], Alert] = {}
        self.history: deque[Alert] = deque(maxlen=history)  # fired alerts, newest last

    def update(self, now: float, holding: Iterable[Condition]) -> list[Alert]:
        """Apply one evaluation; returns the alerts to notify (firing or resolved)."""
        notify: list[Alert] = []
        seen = set()
        for condition in holding:
            seen.add(condition.key)
            alert = self._current.get(condition.key)
            if alert is None:
                alert = Alert(
                    condition.rule,
                    condition.labels,
                    condition.severity,
                    condition.summary,
                    condition.value,
                    condition.threshold,
                    "pending",
                    since=now,
                )
                self._current[condition.key] = alert
            alert.value, alert.summary = condition.value, condition.summary
            if alert.state == "pending" and now - alert.since >= condition.for_seconds:
                alert.state, alert.fired_at, alert.notified_at = "firing", now, now
                self.history.append(alert)
                notify.append(alert)
            elif (
                alert.state == "firing"
                and alert.notified_at is not None
                and now - alert.notified_at >= self.repeat_interval
            ):
                alert.notified_at = now
                notify.append(alert)
        for key in [key for key in self._current if key not in seen]:
            alert = self._current.pop(key)
            if alert.state == "firing":
                alert.state, alert.resolved_at = "resolved", now
                notify.append(alert)
        return notify

    def current(self) -> list[Alert]:
        return list(self._current.values())

    def firing(self) -> list[Alert]:
        return [a for a in self._current.values() if a.state == "firing"]


def webhook_payload(alerts: list[Alert], *, external_url: str = "") -> dict[str, Any]:
    """An Alertmanager-style webhook body, which most receivers understand."""
    status = "firing" if any(a.state == "firing" for a in alerts) else "resolved"
    return {
        "version": "4",
        "receiver": "steadyllm",
        "status": status,
        "externalURL": external_url,
        "alerts": [
            {
                "status": "firing" if a.state == "firing" else "resolved",
                "labels": {"alertname": a.rule, "severity": a.severity, **dict(a.labels)},
                "annotations": {
                    "summary": a.summary,
                    "value": f"{a.value:g}",
                    "threshold": f"{a.threshold:g}",
                },
                "startsAt": a.fired_at,
                "endsAt": a.resolved_at,
                "fingerprint": "|".join([a.rule, *(f"{k}={v}" for k, v in a.labels)]),
            }
            for a in alerts
        ],
    }
