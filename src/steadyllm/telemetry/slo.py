"""Service-level objectives per model over rolling windows, with violation history.

Objectives (``telemetry.slo``; per model, else ``default``): success rate (share of
requests that did not fail on the gateway's side: no 5xx, no cut stream),
latency p95 and p99, time to first token p95 (streams), and for the process CPU
and resident memory. Each is evaluated over every window in ``slo.windows``; a
window with fewer than ``min_requests`` requests says "not enough data" rather
than pass or fail. The trend compares a window with the one just before it.

:class:`SloTracker` turns evaluations into violations: one opens when an
objective stops being met and closes when it is met again; the last
``slo.history`` are kept. Pure bookkeeping: the clock comes in as ``now``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from steadyllm.telemetry.settings import SloSettings, SloTargets
from steadyllm.telemetry.window import RollingStats, WindowSummary

__all__ = ["ObjectiveStatus", "SloTracker", "Violation", "evaluate_window", "trend"]

Trend = Literal["improving", "worsening", "steady", "unknown"]
PROCESS = "process"  # the "model" of the resource objectives
_STEADY = 0.05  # a relative change under 5% is steady


@dataclass(frozen=True, slots=True)
class ObjectiveStatus:
    model: str
    objective: str
    window: int
    target: float
    value: float | None
    met: bool | None  # None: not enough data
    samples: int
    trend: Trend = "unknown"

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.model, self.objective, self.window)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "objective": self.objective,
            "window": self.window,
            "target": self.target,
            "value": self.value,
            "met": self.met,
            "samples": self.samples,
            "trend": self.trend,
        }


def _higher_is_better(objective: str) -> bool:
    return objective == "success_rate"


def _value(summary: WindowSummary, objective: str) -> tuple[float | None, int]:
    if objective == "success_rate":
        return summary.success_rate, summary.requests
    if objective == "latency_p95_ms":
        return summary.latency.quantile(0.95), summary.latency.total
    if objective == "latency_p99_ms":
        return summary.latency.quantile(0.99), summary.latency.total
    if objective == "ttft_p95_ms":
        return summary.ttft.quantile(0.95), summary.ttft.total
    raise ValueError(f"unknown objective {objective!r}")


def evaluate_window(
    summary: WindowSummary, targets: SloTargets, *, min_requests: int
) -> list[tuple[str, float, float | None, bool | None, int]]:
    """``(objective, target, value, met, samples)`` for each objective ``targets`` sets."""
    out: list[tuple[str, float, float | None, bool | None, int]] = []
    for objective, target in targets.model_dump().items():
        if target is None:
            continue
        value, samples = _value(summary, objective)
        if value is None or samples < min_requests:
            out.append((objective, target, value, None, samples))
            continue
        met = value >= target if _higher_is_better(objective) else value <= target
        out.append((objective, target, value, met, samples))
    return out


def trend(objective: str, current: float | None, previous: float | None) -> Trend:
    if current is None or previous is None:
        return "unknown"
    scale = max(abs(previous), 1e-9)
    change = (current - previous) / scale
    if abs(change) < _STEADY:
        return "steady"
    better = change > 0 if _higher_is_better(objective) else change < 0
    return "improving" if better else "worsening"


@dataclass(slots=True)
class Violation:
    model: str
    objective: str
    window: int
    target: float
    value: float | None
    worst: float | None
    started_at: float
    ended_at: float | None = None
    evaluations: int = 1
    history: list[float] = field(default_factory=list)  # values while it lasted (last 60)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "objective": self.objective,
            "window": self.window,
            "target": self.target,
            "value": self.value,
            "worst": self.worst,
            "startedAt": self.started_at,
            "endedAt": self.ended_at,
            "active": self.ended_at is None,
            "durationSeconds": None
            if self.ended_at is None
            else round(self.ended_at - self.started_at, 3),
            "values": list(self.history),
        }


class SloTracker:
    def __init__(self, settings: SloSettings, stats: RollingStats, models: Iterable[str]) -> None:
        self.settings = settings
        self.stats = stats
        self.models = sorted(models)
        self.history: deque[Violation] = deque(maxlen=settings.history)
        self._active: dict[tuple[str, str, int], Violation] = {}

    def evaluate(self, now: float, process: dict[str, Any] | None = None) -> list[ObjectiveStatus]:
        """Every objective of every model over every window, as of ``now``."""
        out: list[ObjectiveStatus] = []
        s = self.settings
        for model in self.models:
            targets = s.models.get(model, s.default)
            for window in s.windows:
                current = self.stats.summary(now, window, model)
                previous = self.stats.summary(now, window, model, end=now - window)
                before = {
                    objective: value
                    for objective, _, value, _, _ in evaluate_window(
                        previous, targets, min_requests=s.min_requests
                    )
                }
                for objective, target, value, met, samples in evaluate_window(
                    current, targets, min_requests=s.min_requests
                ):
                    out.append(
                        ObjectiveStatus(
                            model,
                            objective,
                            window,
                            target,
                            value,
                            met,
                            samples,
                            trend(objective, value, before.get(objective)),
                        )
                    )
        if process is not None:
            out.extend(self._resources(process))
        return out

    def _resources(self, process: dict[str, Any]) -> list[ObjectiveStatus]:
        limits = self.settings.resources
        window = min(self.settings.windows)
        out = []
        if limits.cpu_percent is not None:
            cpu = float(process["cpu"]["percent"])
            out.append(
                ObjectiveStatus(
                    PROCESS, "cpu_percent", window, limits.cpu_percent, cpu,
                    cpu <= limits.cpu_percent, 1,
                )
            )  # fmt: skip
        if limits.memory_mb is not None:
            memory = process["memory"]["rss"] / 1_048_576
            out.append(
                ObjectiveStatus(
                    PROCESS, "memory_mb", window, limits.memory_mb, round(memory, 1),
                    memory <= limits.memory_mb, 1,
                )
            )  # fmt: skip
        return out

    def update(self, now: float, process: dict[str, Any] | None = None) -> list[ObjectiveStatus]:
        """Evaluate, then open and close violations; returns the evaluation."""
        statuses = self.evaluate(now, process)
        for status in statuses:
            active = self._active.get(status.key)
            if status.met is False:
                if active is None:
                    active = Violation(
                        status.model,
                        status.objective,
                        status.window,
                        status.target,
                        status.value,
                        status.value,
                        started_at=now,
                    )
                    self._active[status.key] = active
                    self.history.append(active)
                else:
                    active.evaluations += 1
                    active.value = status.value
                    active.worst = _worse(status.objective, active.worst, status.value)
                if status.value is not None:
                    active.history.append(status.value)
                    del active.history[:-60]
            elif status.met is True and active is not None:
                active.ended_at = now
                del self._active[status.key]
        return statuses

    def active(self) -> list[Violation]:
        return list(self._active.values())

    def report(self, now: float, process: dict[str, Any] | None = None) -> dict[str, Any]:
        """The ``GET /api/slo`` body."""
        statuses = self.evaluate(now, process)
        s = self.settings
        return {
            "timestamp": now,
            "windows": s.windows,
            "targets": {
                "default": s.default.model_dump(),
                "models": {name: t.model_dump() for name, t in s.models.items()},
                "resources": s.resources.model_dump(),
            },
            "minRequests": s.min_requests,
            "objectives": [status.to_json() for status in statuses],
            "compliant": all(status.met is not False for status in statuses),
            "activeViolations": [v.to_json() for v in self.active()],
            "violations": [v.to_json() for v in reversed(self.history)],
        }


def _worse(objective: str, a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return a if b is None else b
    return min(a, b) if _higher_is_better(objective) else max(a, b)
