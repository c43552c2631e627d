"""Learning-data export: good conversations as a chat-format JSONL fine-tuning set.

"Good" means the primary outcome succeeded, nothing escalated, the rating (if any)
is at least ``min_rating``, and the conversation has an assistant turn. Each export
is recorded in ``learning_exports`` with the last outcome it covered, so the next
export continues from there.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from steadyllm.lifecycle.feedback import FeedbackStore
from steadyllm.lifecycle.records import LearningExport, Outcome
from steadyllm.lifecycle.rows import Rows

__all__ = ["LearningExporter", "is_good"]

_ROLES = {"system", "user", "assistant"}


def is_good(outcome: Outcome, *, min_rating: float) -> bool:
    if outcome.booked is not True or outcome.escalated:
        return False
    if outcome.rating is not None and outcome.rating < min_rating:
        return False
    return any(isinstance(m, dict) and m.get("role") == "assistant" for m in outcome.messages)


def _example(outcome: Outcome) -> dict[str, Any]:
    messages = [
        {"role": m["role"], "content": str(m.get("content") or "")}
        for m in outcome.messages
        if isinstance(m, dict) and m.get("role") in _ROLES
    ]
    return {"messages": messages}


def _write(path: Path, examples: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps(example) + b"\n" for example in examples))


class LearningExporter:
    def __init__(
        self,
        rows: Rows[LearningExport],
        feedback: FeedbackStore,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rows = rows
        self._feedback = feedback
        self._clock = clock

    async def last(self) -> LearningExport | None:
        found = await self.rows.find(order_by="exported_at", newest_first=True, limit=1)
        return found[0] if found else None

    async def export(
        self, directory: Path, *, variant: str | None = None, min_rating: float = 4.0
    ) -> LearningExport | None:
        """Write the good conversations since the last export; ``None`` if there are none."""
        last = await self.last()
        since = None if last is None else last.last_created_at
        outcomes = await self._feedback.outcomes(variant=variant, since=since)
        if last is not None:
            cursor = (last.last_created_at, last.last_id)
            outcomes = [o for o in outcomes if (o.created_at, o.id) > cursor]
        if not outcomes:
            return None
        good = [_example(o) for o in outcomes if is_good(o, min_rating=min_rating)]
        now = self._clock()
        path = directory / f"learning-{int(now)}-{uuid.uuid4().hex[:6]}.jsonl"
        await asyncio.to_thread(_write, path, good)
        newest = max(outcomes, key=lambda o: (o.created_at, o.id))
        record = LearningExport(
            id=f"exp_{uuid.uuid4().hex}",
            exported_at=now,
            last_created_at=newest.created_at,
            last_id=newest.id,
            count=len(good),
            path=str(path),
        )
        await self.rows.put(record)
        return record
