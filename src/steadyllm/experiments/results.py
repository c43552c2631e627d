"""Results of an experiment per arm, from call records and business outcomes.

The first arm is the control. Rates (the experiment's ``outcome``, e.g. booked, and
the error rate) are compared with the two-proportion z-test, chi-squared over every
arm, and the always-valid mSPRT p-value (safe to read at any time); latency and cost
with Welch's t and Mann-Whitney U. The sample-ratio check alarms at p < 0.001.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from steadyllm.experiments.model import Experiment
from steadyllm.policy import ab_stats
from steadyllm.stores.base import CallRecord

__all__ = ["ArmData", "OutcomeSource", "collect", "results"]


class OutcomeSource(Protocol):
    """Business outcomes (the lifecycle feedback API), keyed by request or conversation."""

    async def outcomes(
        self, *, request_ids: Sequence[str], conversation_ids: Sequence[str]
    ) -> Mapping[str, Mapping[str, Any]]:
        """``{request_or_conversation_id: {"booked": True, "rating": 4, ...}}``."""
        ...


@dataclass(slots=True)
class ArmData:
    variant: str
    subjects: set[str] = field(default_factory=set)
    calls: int = 0
    errors: int = 0
    latency_ms: list[float] = field(default_factory=list)
    cost_usd: list[float] = field(default_factory=list)
    successes: int = 0  # subjects with the outcome


def subject_of(record: CallRecord, subject: str) -> str:
    if subject == "user":
        return record.user or record.metadata.get("conversation_id") or record.request_id
    return record.metadata.get("conversation_id") or record.user or record.request_id


async def collect(
    experiment: Experiment, records: Iterable[CallRecord], source: OutcomeSource | None
) -> dict[str, ArmData]:
    arms = {arm.variant: ArmData(arm.variant) for arm in experiment.arms}
    by_subject: dict[str, tuple[str, list[str]]] = {}
    for record in records:
        if record.metadata.get("experiment") != experiment.id or record.variant not in arms:
            continue
        data = arms[record.variant]
        subject = subject_of(record, experiment.subject)
        data.subjects.add(subject)
        data.calls += 1
        if record.error_type is not None or record.status >= 400:
            data.errors += 1
        else:
            data.latency_ms.append(record.latency_ms)
            if record.cost_usd is not None:
                data.cost_usd.append(record.cost_usd)
        by_subject.setdefault(subject, (record.variant, []))[1].append(record.request_id)
    if source is not None and by_subject:
        request_ids = [rid for _, ids in by_subject.values() for rid in ids]
        found = await source.outcomes(request_ids=request_ids, conversation_ids=list(by_subject))
        for subject, (variant, ids) in by_subject.items():
            keys = [subject, *ids]
            if any(_truthy(found.get(key, {}).get(experiment.outcome)) for key in keys):
                arms[variant].successes += 1
    return arms


def _truthy(value: Any) -> bool:
    return bool(value) and value not in ("false", "0", "no")


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def results(experiment: Experiment, arms: Mapping[str, ArmData]) -> dict[str, Any]:
    order = [arm.variant for arm in experiment.arms]
    control = arms[order[0]]
    per_arm: list[dict[str, Any]] = []
    for variant in order:
        data = arms[variant]
        n = len(data.subjects)
        row: dict[str, Any] = {
            "variant": variant,
            "subjects": n,
            "calls": data.calls,
            "errorRate": data.errors / data.calls if data.calls else 0.0,
            "avgLatencyMs": _mean(data.latency_ms),
            "avgCostUsd": _mean(data.cost_usd),
            "outcome": experiment.outcome,
            "successes": data.successes,
            "rate": data.successes / n if n else 0.0,
            "rateInterval": list(ab_stats.wilson_interval(data.successes, n)),
        }
        if data is not control:
            c_n = len(control.subjects)
            z = ab_stats.two_proportion_z(control.successes, c_n, data.successes, n)
            sequential_p = ab_stats.sequential_rate_test(control.successes, c_n, data.successes, n)
            row["vsControl"] = {
                "difference": z.difference,
                "interval": list(z.interval),
                "zTest": {"z": z.statistic, "pValue": z.p_value},
                "sequentialPValue": sequential_p,
                "significant": sequential_p < experiment.alpha,
                "latencyWelch": _comparison(ab_stats.welch_t(control.latency_ms, data.latency_ms)),
                "latencyMannWhitney": _comparison(
                    ab_stats.mann_whitney(control.latency_ms, data.latency_ms)
                ),
                "costWelch": _comparison(ab_stats.welch_t(control.cost_usd, data.cost_usd)),
                "costMannWhitney": _comparison(
                    ab_stats.mann_whitney(control.cost_usd, data.cost_usd)
                ),
            }
        per_arm.append(row)
    counts = [len(arms[v].subjects) for v in order]
    chi2, chi2_p = ab_stats.chi_squared([arms[v].successes for v in order], counts)
    srm_p = ab_stats.sample_ratio_mismatch(counts, [arm.weight for arm in experiment.arms])
    return {
        "experiment": experiment.to_json(),
        "arms": per_arm,
        "chiSquared": {"statistic": chi2, "pValue": chi2_p},
        "sampleRatioMismatch": {"pValue": srm_p, "alarm": srm_p < ab_stats.SRM_ALARM_P},
        "method": "mSPRT (always-valid p-values; safe to read at any time)",
    }


def _comparison(value: ab_stats.Comparison) -> dict[str, float]:
    return {"statistic": value.statistic, "pValue": value.p_value, "difference": value.difference}
