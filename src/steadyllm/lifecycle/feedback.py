"""Conversation outcomes (``POST /api/feedback``), joined to their call records."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from steadyllm.errors import InvalidRequest
from steadyllm.lifecycle.records import Outcome
from steadyllm.lifecycle.rows import Rows
from steadyllm.lifecycle.settings import OutcomeSettings
from steadyllm.stores.base import RecordStore

__all__ = ["FeedbackStore", "OutcomesById"]

_MAX_TEXT = 10_000
_INT32 = 2**31


def _flag(body: Mapping[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise InvalidRequest(f"'{name}' must be true or false.", param=name)
    return value


def _number(body: Mapping[str, Any], name: str, *, integer: bool = False) -> Any:
    """``body[name]`` when it is absent, null or a number (an integer if asked), else 400."""
    value = body.get(name)
    if value is None:
        return None
    kinds = int if integer else int | float
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "an integer" if integer else "a number"
        raise InvalidRequest(f"'{name}' must be {kind}.", param=name)
    if integer and not -_INT32 <= value < _INT32:  # stored in INTEGER columns
        raise InvalidRequest(f"'{name}' is out of range.", param=name)
    return value


def _string(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidRequest(f"'{name}' must be a string.", param=name)
    return value


class FeedbackStore:
    """Records outcomes and reads them back by variant, version and time."""

    def __init__(
        self,
        rows: Rows[Outcome],
        records: RecordStore | None,
        settings: OutcomeSettings,
        *,
        clock: Callable[[], float] = time.time,
        active_version: Callable[[str], Awaitable[int | None]] | None = None,
    ) -> None:
        self.rows = rows
        self._active_version = active_version
        self._records = records
        self.settings = settings
        self._clock = clock

    async def record(self, body: Mapping[str, Any], *, version: int | None = None) -> Outcome:
        """Check a feedback body, join it to its call record, store it."""
        success, escalation = self.settings.success, self.settings.escalation
        request_id = body.get("requestId") or body.get("request_id")
        conversation = body.get("conversationId") or body.get("conversation_id")
        if request_id is None and conversation is None:
            raise InvalidRequest("Feedback needs 'requestId' or 'conversationId'.")
        action = body.get("action")
        if action is not None and action not in self.settings.actions:
            allowed = ", ".join(self.settings.actions)
            raise InvalidRequest(f"'action' must be one of: {allowed}.", param="action")
        rating = body.get("rating")
        if rating is not None and (isinstance(rating, bool) or not isinstance(rating, int | float)):
            raise InvalidRequest("'rating' must be a number.", param="rating")
        text = body.get("text")
        if text is not None and (not isinstance(text, str) or len(text) > _MAX_TEXT):
            raise InvalidRequest(f"'text' must be a string of at most {_MAX_TEXT} characters.")
        messages = body.get("messages") or []
        if not isinstance(messages, list):
            raise InvalidRequest("'messages' must be a list of chat messages.", param="messages")
        extra = body.get("outcomes") or {}
        if not isinstance(extra, dict):
            raise InvalidRequest("'outcomes' must be an object.", param="outcomes")
        booked, escalated = _flag(body, success), _flag(body, escalation)
        outcomes = {**extra, success: booked, escalation: escalated}
        timestamp = _number(body, "timestamp")
        if "version" in body:
            _number(body, "version", integer=True)
        joined: dict[str, Any] = {
            "variant": _string(body, "variant"),
            "model": _string(body, "model"),
            "cost_usd": _number(body, "cost"),
            "latency_ms": _number(body, "latencyMs"),
            "tokens": _number(body, "tokens", integer=True),
        }
        if request_id is not None and self._records is not None:
            calls = await self._records.list_calls(request_id=str(request_id), limit=1)
            if calls:
                call = calls[0]
                joined.update(
                    variant=joined["variant"] or call.variant,
                    model=joined["model"] or call.model,
                    cost_usd=call.cost_usd,
                    latency_ms=call.latency_ms,
                    tokens=call.input_tokens + call.output_tokens,
                )
        raw_version = body.get("version", version)
        if raw_version is None and joined["variant"] and self._active_version is not None:
            raw_version = await self._active_version(str(joined["variant"]))
        outcome = Outcome(
            id=f"out_{uuid.uuid4().hex}",
            created_at=float(timestamp or self._clock()),
            request_id=None if request_id is None else str(request_id),
            conversation_id=None if conversation is None else str(conversation),
            version=None if raw_version is None else int(raw_version),
            booked=booked,
            escalated=escalated,
            action=action,
            rating=None if rating is None else float(rating),
            text=text,
            outcomes=outcomes,
            messages=messages,
            **joined,
        )
        await self.rows.put(outcome)
        return outcome

    async def outcomes(
        self,
        *,
        variant: str | None = None,
        version: int | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100_000,
    ) -> list[Outcome]:
        """Outcomes oldest first, for experiment results, drift and comparisons."""
        where: dict[str, Any] = {}
        if variant is not None:
            where["variant"] = variant
        if version is not None:
            where["version"] = version
        found = await self.rows.find(where=where, order_by="created_at", since=since, limit=limit)
        if until is not None:
            found = [o for o in found if o.created_at < until]
        return found


class OutcomesById:
    """Outcomes keyed by request and conversation id, for experiment results."""

    def __init__(self, feedback: FeedbackStore) -> None:
        self._feedback = feedback

    async def outcomes(
        self, *, request_ids: Sequence[str], conversation_ids: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """``{id: {"booked": True, "rating": 4, "action": ..., ...}}``; later outcomes win."""
        found: list[Outcome] = []
        rows = self._feedback.rows
        for column, ids in (("request_id", request_ids), ("conversation_id", conversation_ids)):
            for start in range(0, len(ids), 500):  # keep each IN list a sensible size
                chunk = list(ids[start : start + 500])
                found += await rows.find(where_in={column: chunk}, order_by="created_at")
        result: dict[str, dict[str, Any]] = {}
        for outcome in sorted(found, key=lambda o: o.created_at):
            values = {**outcome.outcomes, "rating": outcome.rating, "action": outcome.action}
            for key in (outcome.request_id, outcome.conversation_id):
                if key is not None:
                    result[key] = values
        return result
