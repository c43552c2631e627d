"""An A/B experiment: arms (variants) with weights, on one route, sticky by subject."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from steadyllm.errors import InvalidRequest

__all__ = ["Arm", "Experiment", "Subject", "experiment_from_json"]

Subject = Literal["user", "conversation"]


@dataclass(frozen=True, slots=True)
class Arm:
    variant: str
    weight: float


@dataclass(frozen=True, slots=True)
class Experiment:
    id: str
    name: str
    route: str  # the model group whose traffic is split
    arms: tuple[Arm, ...]
    subject: Subject = "conversation"
    outcome: str = "booked"  # the business outcome counted as a success
    alpha: float = 0.05
    status: str = "running"  # running | stopped
    created_at: float = 0.0

    def weights(self) -> list[tuple[str, float]]:
        return [(arm.variant, arm.weight) for arm in self.arms]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "route": self.route,
            "arms": [{"variant": a.variant, "weight": a.weight} for a in self.arms],
            "subject": self.subject,
            "outcome": self.outcome,
            "alpha": self.alpha,
            "status": self.status,
            "createdAt": self.created_at,
        }


def experiment_from_json(data: Any, *, id: str, created_at: float) -> Experiment:
    """Validate a client's experiment definition (raises ``InvalidRequest``)."""
    if not isinstance(data, dict):
        raise InvalidRequest("The body must be a JSON object.")
    name = data.get("name")
    route = data.get("route")
    if not isinstance(name, str) or not name:
        raise InvalidRequest("'name' must be a non-empty string.", param="name")
    if not isinstance(route, str) or not route:
        raise InvalidRequest("'route' must be a model name.", param="route")
    raw_arms = data.get("arms")
    if not isinstance(raw_arms, list) or len(raw_arms) < 2:
        raise InvalidRequest("'arms' must list at least two arms.", param="arms")
    arms: list[Arm] = []
    for index, raw in enumerate(raw_arms):
        if isinstance(raw, str):
            raw = {"variant": raw, "weight": 1}
        if not isinstance(raw, dict) or not isinstance(raw.get("variant"), str):
            raise InvalidRequest(f"arms[{index}] needs a 'variant'.", param="arms")
        weight = raw.get("weight", 1)
        if not isinstance(weight, int | float) or weight <= 0:
            raise InvalidRequest(f"arms[{index}].weight must be positive.", param="arms")
        arms.append(Arm(raw["variant"], float(weight)))
    if len({arm.variant for arm in arms}) != len(arms):
        raise InvalidRequest("Each arm must name a different variant.", param="arms")
    subject = data.get("subject", "conversation")
    if subject not in ("user", "conversation"):
        raise InvalidRequest("'subject' must be 'user' or 'conversation'.", param="subject")
    alpha = data.get("alpha", 0.05)
    if not isinstance(alpha, int | float) or not 0 < alpha < 0.5:
        raise InvalidRequest("'alpha' must be between 0 and 0.5.", param="alpha")
    outcome = data.get("outcome", "booked")
    if not isinstance(outcome, str):
        raise InvalidRequest("'outcome' must be a string.", param="outcome")
    return Experiment(
        id=id,
        name=name,
        route=route,
        arms=tuple(arms),
        subject=subject,
        outcome=outcome,
        alpha=float(alpha),
        created_at=created_at,
    )
