"""Component state read at scrape time: the ``telemetry_snapshot`` protocol.

A stage, store or worker the gateway holds may define::

    def telemetry_snapshot(self) -> Iterable[tuple[str, Mapping[str, str], float]]:
        yield ("breaker_state", {"deployment": "fast/openai:gpt#0"}, 2.0)

Each sample is ``(name, labels, value)``: ``name`` without the ``steadyllm_``
prefix, ending in ``_total`` for a counter (a gauge otherwise); ``labels`` only
from :data:`ALLOWED_LABELS` (bounded by config, never a user or a prompt). It is
called only when someone reads metrics, health or the dashboard, never on the
request path, so it must be cheap and must not block (no I/O: return what the
component already holds in memory). Nothing needs importing from here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ALLOWED_LABELS", "KNOWN_SAMPLES", "Sample", "read_samples"]

log = logging.getLogger("steadyllm.telemetry")

ALLOWED_LABELS = frozenset(
    {"model", "deployment", "variant", "state", "to", "level", "kind", "result", "reason", "tier"}
)

# Names the gateway's own components report, with their help text (others get a generic
# one). Breaker states: 0 closed, 1 half-open, 2 open.
KNOWN_SAMPLES: dict[str, str] = {
    "breaker_state": "Circuit breaker state per deployment: 0 closed, 1 half-open, 2 open.",
    "breaker_transitions_total": "Circuit breaker state changes, by deployment and new state.",
    "cache_entries": "Entries held by the response cache, by level.",
    "cache_evictions_total": "Response cache entries evicted.",
    "limiter_backend_up": "1 when the shared rate-limit backend answers, 0 when failing over.",
    "retry_budget_exceeded_total": "Retries refused because the retry budget was spent.",
    "shadow_active": "1 while a shadow deployment runs, by primary and shadow variant.",
    "shadow_requests_total": "Shadow copies sent, by variant.",
    "shadow_dropped_total": "Shadow copies dropped because the shadow queue was full.",
    "shadow_progress": "Shadow samples collected over the target (0..1).",
    "experiments_active": "A/B experiments running.",
    "experiment_assignments_total": "Calls assigned to an experiment arm, by variant.",
    "drift_detected": "1 when the latest drift check found drift, by variant.",
    "drift_severity": "Severity of the latest drift: 0 none, 1 low, 2 medium, 3 high.",
    "drift_last_check_timestamp_seconds": "When drift was last checked (epoch seconds).",
}


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: tuple[tuple[str, str], ...]
    value: float

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


def read_samples(sources: Iterable[Any]) -> list[Sample]:
    """Every source's snapshot, checked; a failing or misbehaving source is skipped."""
    samples: list[Sample] = []
    seen: set[int] = set()
    for source in sources:
        snapshot = getattr(source, "telemetry_snapshot", None)
        if snapshot is None or id(source) in seen:
            continue
        seen.add(id(source))
        try:
            for name, labels, value in snapshot():
                samples.append(_checked(name, labels, value))
        except Exception:
            log.exception("telemetry snapshot of %s failed", type(source).__name__)
    return samples


def _checked(name: str, labels: Mapping[str, str], value: float) -> Sample:
    if not name.replace("_", "a").isalnum() or not name[0].isalpha():
        raise ValueError(f"bad metric name {name!r}")
    bad = set(labels) - ALLOWED_LABELS
    if bad:
        raise ValueError(f"{name}: labels {sorted(bad)} are not allowed (unbounded cardinality)")
    return Sample(name, tuple(sorted((k, str(v)) for k, v in labels.items())), float(value))
