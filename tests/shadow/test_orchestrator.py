"""The orchestrator with a fake inner handler: queue bounds, comparisons, ramp, promote."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from steadyllm.call import Call, Response
from steadyllm.errors import Conflict
from steadyllm.shadow.comparison import action_of, compare
from steadyllm.shadow.orchestrator import ShadowJob, ShadowOrchestrator
from steadyllm.shadow.store import MemoryComparisonStore
from steadyllm.variants.live import MemoryLiveVariants
from steadyllm.variants.settings import CriteriaSettings, ShadowSettings


async def apply(variant: str, body: Mapping[str, Any]) -> dict[str, Any]:
    return {**body, "model": variant}


def completion(text: str) -> dict[str, Any]:
    return {"choices": [{"message": {"role": "assistant", "content": text}}]}


class Upstream:
    def __init__(self, text: str = "the room is booked", fail: bool = False) -> None:
        self.text = text
        self.fail = fail
        self.calls: list[Call] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, call: Call) -> Response:
        self.calls.append(call)
        await self.gate.wait()
        if self.fail:
            raise RuntimeError("shadow upstream down")
        return Response(body=completion(self.text), cost=0.001)


def orchestrator(queue_size: int = 8, **criteria: Any) -> ShadowOrchestrator:
    settings = ShadowSettings(
        queue_size=queue_size, workers=1, criteria=CriteriaSettings(**criteria)
    )
    live = MemoryLiveVariants({"fast": "baseline"})
    return ShadowOrchestrator(settings, MemoryComparisonStore(), live, apply)


def job(shadow: ShadowOrchestrator, i: int, primary_ms: float = 1000.0) -> ShadowJob:
    assert shadow.session is not None
    return ShadowJob(
        session=shadow.session,
        request_id=f"req-{i}",
        body={"model": "fast", "messages": [{"role": "user", "content": "book"}]},
        metadata={"conversation_id": f"c{i}"},
        primary_body=completion("the room is booked"),
        primary_text=None,
        primary_ms=primary_ms,
        primary_cost=0.001,
    )


async def test_full_queue_drops_and_counts_and_the_shadow_runs_apart() -> None:
    shadow = orchestrator(queue_size=2)
    upstream = Upstream()
    upstream.gate.clear()
    shadow.start_workers(upstream)
    await shadow.start("casual", "baseline", traffic_percent=100, target_samples=5)
    accepted = [shadow.offer(job(shadow, i)) for i in range(6)]
    await asyncio.sleep(0)
    assert accepted.count(False) >= 3
    assert shadow.counters.dropped == accepted.count(False)
    upstream.gate.set()
    await shadow.drain()
    call = upstream.calls[0]
    assert call.principal.tenant == "shadow"
    assert call.variant == "casual"
    assert call.body["model"] == "casual"
    assert call.metadata["shadow_of"] == "req-0"
    status = await shadow.status()
    assert status["samplesCollected"] == accepted.count(True)
    assert status["progress"] == pytest.approx(accepted.count(True) / 5)
    await shadow.close()


async def test_shadow_errors_are_compared_not_raised() -> None:
    shadow = orchestrator()
    shadow.start_workers(Upstream(fail=True))
    await shadow.start("casual", "baseline", traffic_percent=100)
    shadow.offer(job(shadow, 1))
    await shadow.drain()
    analysis = await shadow.analysis()
    assert analysis["totalComparisons"] == 1
    assert analysis["errorRate"] == 1.0
    check = await shadow.promotion_check()
    assert check["shouldPromote"] is False
    await shadow.close()


async def test_auto_promote_ramps_then_promotes_and_rollback_restores() -> None:
    shadow = orchestrator(min_samples=3)
    shadow.start_workers(Upstream())  # answers in ~0 ms against a 1000 ms primary
    await shadow.start(
        "casual", "baseline", traffic_percent=10, target_samples=12, auto_promote=True
    )
    i = 0
    while shadow.session is not None and i < 100:
        shadow.offer(job(shadow, i))
        await shadow.drain()
        i += 1
    history = await shadow.history()
    actions = [entry["action"] for entry in history]
    assert actions[0] == "start"
    assert actions.count("ramp") == 9  # 20, 30, ..., 100
    assert actions[-1] == "promote"
    assert await shadow.live.get("fast") == "casual"
    await shadow.rollback()
    assert await shadow.live.get("fast") == "baseline"
    with pytest.raises(Conflict):
        await shadow.rollback()
    await shadow.close()


async def test_start_twice_is_a_conflict_and_stop_ends_it() -> None:
    shadow = orchestrator()
    await shadow.start("casual", "baseline", traffic_percent=100)
    with pytest.raises(Conflict):
        await shadow.start("casual", "baseline")
    assert shadow.wants("baseline", "anyone") is not None
    assert shadow.wants("casual", "anyone") is None  # only the primary's traffic
    await shadow.stop()
    assert (await shadow.status())["active"] is False


def test_comparison_sees_different_actions_and_text() -> None:
    tool = {
        "choices": [
            {"message": {"tool_calls": [{"function": {"name": "book_room", "arguments": "{}"}}]}}
        ]
    }
    assert action_of(tool) == "tools:book_room"
    assert action_of(completion('{"action": "escalate"}')) == "escalate"
    result = compare(
        id="1",
        session_id="s",
        request_id="r",
        created_at=0.0,
        primary_variant="a",
        shadow_variant="b",
        primary_body=tool,
        primary_text=None,
        shadow_body=completion("sorry, no rooms"),
        primary_ms=100.0,
        shadow_ms=80.0,
        primary_cost=0.002,
        shadow_cost=0.001,
        shadow_error=None,
    )
    assert result.action_differs is True
    assert result.is_different is True
    assert result.latency_delta_ms == -20.0
    assert result.cost_delta == pytest.approx(-0.001)
    same = compare(
        id="2",
        session_id="s",
        request_id="r",
        created_at=0.0,
        primary_variant="a",
        shadow_variant="b",
        primary_body=completion("The room is booked for Friday."),
        primary_text=None,
        shadow_body=completion("The room is booked for Friday!"),
        primary_ms=100.0,
        shadow_ms=100.0,
        primary_cost=None,
        shadow_cost=None,
        shadow_error=None,
    )
    assert same.similarity == 1.0
    assert same.is_different is False
    assert same.cost_delta is None
