"""One shadow comparison: the primary answer against the shadow answer (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from steadyllm.policy.similarity import jaccard, word_set

__all__ = ["DIFFERENT_BELOW", "ShadowComparison", "action_of", "answer_text", "compare"]

DIFFERENT_BELOW = 0.5  # word-set Jaccard below this counts as a different answer


@dataclass(frozen=True, slots=True)
class ShadowComparison:
    id: str
    session_id: str
    request_id: str
    created_at: float
    primary_variant: str
    shadow_variant: str
    primary_response: str
    shadow_response: str
    similarity: float
    difference_score: float
    is_different: bool
    action_differs: bool
    primary_duration_ms: float
    shadow_duration_ms: float
    latency_delta_ms: float  # shadow - primary
    primary_cost: float | None
    shadow_cost: float | None
    cost_delta: float | None
    shadow_error: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def answer_text(body: Mapping[str, Any] | None) -> str:
    """The assistant text of an OpenAI chat completion body."""
    if not body:
        return ""
    try:
        message = body["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        return ""
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) else ""


def action_of(body: Mapping[str, Any] | None) -> str | None:
    """The action an answer takes: its tool calls' names, or a JSON answer's ``action``."""
    if not body:
        return None
    try:
        message = body["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        return None
    tool_calls = message.get("tool_calls") if isinstance(message, dict) else None
    if isinstance(tool_calls, list) and tool_calls:
        names = sorted(
            str(call.get("function", {}).get("name"))
            for call in tool_calls
            if isinstance(call, dict)
        )
        return "tools:" + ",".join(names)
    text = answer_text(body).strip()
    if text.startswith("{"):
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None
        if isinstance(parsed, dict) and "action" in parsed:
            return str(parsed["action"])
    return None


def compare(
    *,
    id: str,
    session_id: str,
    request_id: str,
    created_at: float,
    primary_variant: str,
    shadow_variant: str,
    primary_body: Mapping[str, Any] | None,
    primary_text: str | None,
    shadow_body: Mapping[str, Any] | None,
    primary_ms: float,
    shadow_ms: float,
    primary_cost: float | None,
    shadow_cost: float | None,
    shadow_error: str | None,
) -> ShadowComparison:
    primary = primary_text if primary_text is not None else answer_text(primary_body)
    shadow = answer_text(shadow_body)
    similarity = 0.0 if shadow_error else jaccard(word_set(primary), word_set(shadow))
    action_differs = shadow_error is None and action_of(primary_body) != action_of(shadow_body)
    cost_delta = (
        shadow_cost - primary_cost if shadow_cost is not None and primary_cost is not None else None
    )
    return ShadowComparison(
        id=id,
        session_id=session_id,
        request_id=request_id,
        created_at=created_at,
        primary_variant=primary_variant,
        shadow_variant=shadow_variant,
        primary_response=primary[:2000],
        shadow_response=shadow[:2000],
        similarity=similarity,
        difference_score=1.0 - similarity,
        is_different=similarity < DIFFERENT_BELOW or action_differs,
        action_differs=action_differs,
        primary_duration_ms=primary_ms,
        shadow_duration_ms=shadow_ms,
        latency_delta_ms=shadow_ms - primary_ms,
        primary_cost=primary_cost,
        shadow_cost=shadow_cost,
        cost_delta=cost_delta,
        shadow_error=shadow_error,
    )
