"""The ``lifecycle:`` section of the settings (docs/LIFECYCLE.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DriftSettings",
    "EvaluationSettings",
    "LifecycleSettings",
    "OutcomeSettings",
    "RetrainingSettings",
]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OutcomeSettings(_Strict):
    # The names a feedback body uses; a notes assistant measures "answered", not "booked".
    success: str = "booked"
    escalation: str = "escalated"
    actions: tuple[str, ...] = (
        "collect_info",
        "check_availability",
        "book_appointment",
        "confirm",
    )


class DriftSettings(_Strict):
    baseline_days: float = Field(default=7.0, gt=0)
    recent_hours: float = Field(default=24.0, gt=0)
    min_conversations: int = Field(default=50, ge=1)
    check_interval_seconds: float = Field(default=3600.0, ge=0)  # 0: no scheduled checks
    booking_drop: float = Field(default=0.10, gt=0)
    escalation_rise: float = Field(default=0.15, gt=0)
    cost_rise: float = Field(default=0.20, gt=0)
    latency_rise: float = Field(default=0.25, gt=0)
    action_min_shift: float = Field(default=0.15, gt=0, le=1)
    alpha: float = Field(default=0.05, gt=0, lt=1)


class EvaluationSettings(_Strict):
    cases_path: str = "eval_cases.jsonl"
    model: str = "fast"  # the model the candidate prompt runs on
    judge_model: str = "fast"  # LLM-as-judge scorer
    min_score: float = Field(default=0.8, ge=0, le=1)


class RetrainingSettings(_Strict):
    # The hourly drift check starts a session itself when the triggers hold; the
    # session still waits for ``finalize`` before anything is promoted.
    auto_start: bool = True
    optimizer_model: str = "smart"  # called through the gateway itself
    conversations: int = Field(default=500, ge=50)
    min_conversations: int = Field(default=50, ge=1)
    cooldown_days: float = Field(default=7.0, ge=0)
    shadow_samples: int = Field(default=100, ge=1)
    shadow_traffic_percent: float = Field(default=10.0, gt=0, le=100)
    examples: int = Field(default=5, ge=0)  # failure examples shown to the optimizer


class LifecycleSettings(_Strict):
    outcomes: OutcomeSettings = OutcomeSettings()
    drift: DriftSettings = DriftSettings()
    evaluation: EvaluationSettings = EvaluationSettings()
    retraining: RetrainingSettings = RetrainingSettings()
    # How long a replica may serve a cached active prompt after another activates one.
    active_cache_seconds: float = Field(default=1.0, ge=0, le=1)
    export_dir: str = "exports"
