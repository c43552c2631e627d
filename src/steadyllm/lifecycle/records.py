"""The lifecycle's records: one frozen dataclass per table (``stores/sql/schema.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["DriftDetection", "LearningExport", "Outcome", "PromptVersion", "RetrainingSession"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """A conversation's business outcome, joined to the call it came from."""

    id: str
    created_at: float
    request_id: str | None = None
    conversation_id: str | None = None
    variant: str | None = None
    version: int | None = None
    model: str | None = None
    booked: bool | None = None  # the primary outcome (configurable name, e.g. "answered")
    escalated: bool | None = None
    action: str | None = None
    rating: float | None = None
    text: str | None = None
    outcomes: dict[str, Any] = field(default_factory=dict)  # every named outcome
    messages: list[dict[str, Any]] = field(default_factory=list)  # the conversation
    cost_usd: float | None = None
    latency_ms: float | None = None
    tokens: int | None = None


@dataclass(frozen=True, slots=True)
class PromptVersion:
    id: str
    variant: str
    version: int
    system_prompt: str
    description: str | None = None
    created_by: str | None = None
    changes: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    is_active: bool = False
    previous_active: int | None = None  # what rollback returns to
    created_at: float = 0.0
    activated_at: float | None = None
    deactivated_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "variant": self.variant,
            "version": self.version,
            "systemPrompt": self.system_prompt,
            "metadata": {
                "description": self.description,
                "createdBy": self.created_by,
                "changes": self.changes,
                **self.metadata,
            },
            "tags": list(self.tags),
            "isActive": self.is_active,
            "previousActive": self.previous_active,
            "createdAt": self.created_at,
            "activatedAt": self.activated_at,
            "deactivatedAt": self.deactivated_at,
        }


@dataclass(frozen=True, slots=True)
class DriftDetection:
    id: str
    variant: str
    detected_at: float
    drift_detected: bool
    severity: str | None
    metrics: dict[str, Any]
    baseline_start: float
    recent_start: float
    baseline_conversations: int
    recent_conversations: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "variant": self.variant,
            "timestamp": self.detected_at,
            "driftDetected": self.drift_detected,
            "severity": self.severity,
            "metrics": self.metrics,
            "windows": {
                "baselineStart": self.baseline_start,
                "recentStart": self.recent_start,
                "baselineConversations": self.baseline_conversations,
                "recentConversations": self.recent_conversations,
            },
        }


@dataclass(frozen=True, slots=True)
class RetrainingSession:
    id: str
    variant: str
    status: str  # running | awaiting_finalize | promoted | rolled_back | failed
    step: str  # the next step to run (see lifecycle.retraining.STEPS)
    trigger: dict[str, Any]
    state: dict[str, Any]  # what each finished step produced
    reasons: list[str]
    base_version: int | None
    new_version: int | None
    started_at: float
    updated_at: float
    completed_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "variant": self.variant,
            "status": self.status,
            "step": self.step,
            "trigger": self.trigger,
            "state": self.state,
            "reasons": self.reasons,
            "baseVersion": self.base_version,
            "newVersion": self.new_version,
            "startedAt": self.started_at,
            "updatedAt": self.updated_at,
            "completedAt": self.completed_at,
        }


@dataclass(frozen=True, slots=True)
class LearningExport:
    id: str
    exported_at: float
    last_created_at: float
    last_id: str
    count: int
    path: str
