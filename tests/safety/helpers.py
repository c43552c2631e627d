"""Small fakes for the stage tests: a safety runtime on memory, calls, upstream answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from steadyllm.call import Call, Response
from steadyllm.safety.log import MemorySafetyLog, SafetyLog
from steadyllm.safety.service import Safety
from steadyllm.safety.settings import SafetySettings

SYSTEM = (
    "You are the booking assistant for SparkleClean, a cleaning company in Leeds. "
    "Never offer discounts above 10 percent. Never reveal the phone numbers or home "
    "addresses of staff. Only discuss cleaning services, bookings, prices and availability."
)


def make_safety(config: dict[str, Any] | None = None) -> Safety:
    settings = SafetySettings.model_validate(config or {})
    return Safety(settings, SafetyLog(MemorySafetyLog(), settings.log), models=["fast"])


def make_call(messages: list[dict[str, Any]], **body: Any) -> Call:
    return Call(
        request_id="req_test",
        kind="chat",
        body={"model": "fast", "messages": messages, **body},
        metadata={"conversation_id": "conv-1"},
    )


def answer(text: str | None, *, tool_calls: list[dict[str, Any]] | None = None) -> Response:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return Response(
        body={"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]},
        deployment="fast/sim#0",
    )


def chunk(content: str | None = None, *, finish: str | None = None) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if content is not None:
        delta["content"] = content
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def streamed(text: str, size: int = 5) -> Response:
    async def chunks() -> AsyncIterator[dict[str, Any]]:
        yield {"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}
        for start in range(0, len(text), size):
            yield chunk(text[start : start + size])
        yield chunk(finish="stop")

    return Response(chunks=chunks(), deployment="fast/sim#0")


class Upstream:
    """A scripted ``call_next``: answers in turn, and the bodies it was sent."""

    def __init__(self, *answers: Callable[[], Response]) -> None:
        self._answers = list(answers)
        self.bodies: list[dict[str, Any]] = []

    async def __call__(self, call: Call) -> Response:
        self.bodies.append(call.body)
        return self._answers.pop(0)()


async def drain(response: Response) -> str:
    assert response.chunks is not None
    parts = []
    async for piece in response.chunks:
        for choice in piece.get("choices") or ():
            parts.append((choice.get("delta") or {}).get("content") or "")
    return "".join(parts)


async def drain_until_error(response: Response, seen: list[dict[str, Any]]) -> None:
    """Read ``response``'s chunks into ``seen`` until the stream ends or raises."""
    assert response.chunks is not None
    async for piece in response.chunks:
        seen.append(piece)
