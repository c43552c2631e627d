"""Outcomes (every backend), their lookup by id, and the learning-data export."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from steadyllm.errors import InvalidRequest
from steadyllm.lifecycle.runtime import Lifecycle
from tests.lifecycle.conftest import Clock

CHAT = [
    {"role": "user", "content": "Book me Tuesday"},
    {"role": "assistant", "content": "Booked for Tuesday 10:00."},
]


async def test_outcomes_are_stored_and_found_by_id(lifecycle: Lifecycle, clock: Clock) -> None:
    await lifecycle.versions.register("baseline", "prompt")
    first = await lifecycle.feedback.record(
        {"requestId": "r1", "conversationId": "c1", "variant": "baseline", "booked": True}
    )
    assert first.version == 1  # the active version when the outcome came in
    clock.now += 1
    await lifecycle.feedback.record(
        {
            "requestId": "r2",
            "conversationId": "c1",
            "variant": "baseline",
            "booked": False,
            "escalated": True,
            "action": "collect_info",
        }
    )
    found = await lifecycle.outcomes.outcomes(request_ids=["r1", "r9"], conversation_ids=["c1"])
    assert found["r1"]["booked"] is True
    assert found["c1"]["booked"] is False  # the later outcome of the conversation
    assert "r9" not in found
    assert [o.request_id for o in await lifecycle.feedback.outcomes(variant="baseline")] == [
        "r1",
        "r2",
    ]
    with pytest.raises(InvalidRequest):
        await lifecycle.feedback.record({"booked": True})
    with pytest.raises(InvalidRequest):
        await lifecycle.feedback.record({"requestId": "r3", "booked": "yes"})


async def test_export_writes_good_conversations_and_continues(
    lifecycle: Lifecycle, clock: Clock, tmp_path: Path
) -> None:
    feedback = lifecycle.feedback
    await feedback.record({"requestId": "a", "booked": True, "rating": 5, "messages": CHAT})
    clock.now += 1
    await feedback.record({"requestId": "b", "booked": False, "messages": CHAT})
    clock.now += 1
    await feedback.record({"requestId": "c", "booked": True, "rating": 2, "messages": CHAT})
    first = await lifecycle.exporter.export(tmp_path)
    assert first is not None
    assert first.count == 1
    lines = (await asyncio.to_thread(Path(first.path).read_bytes)).splitlines()
    assert [orjson.loads(line) for line in lines] == [{"messages": CHAT}]
    assert await lifecycle.exporter.export(tmp_path) is None  # nothing new
    clock.now += 1
    await feedback.record({"requestId": "d", "booked": True, "messages": CHAT})
    second = await lifecycle.exporter.export(tmp_path)
    assert second is not None
    assert second.count == 1
    assert second.path != first.path
