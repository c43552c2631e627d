"""Stage validate: each recovery path, streams buffered and checked at the end."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from steadyllm.safety.service import AnswerRejected
from steadyllm.stages.validate import ValidateStage
from tests.safety.helpers import (
    Upstream,
    answer,
    drain,
    drain_until_error,
    make_call,
    make_safety,
    streamed,
)

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"slot": {"type": "string"}, "confirmed": {"type": "boolean"}},
    "required": ["slot", "confirmed"],
}
JSON_FORMAT = {"type": "json_schema", "json_schema": {"name": "slot", "schema": SCHEMA}}
GOOD = '{"slot": "15:00", "confirmed": true}'
BAD = '{"slot": "15:00", "confirmed": tr'


def json_call(**body: Any) -> Any:
    return make_call([{"role": "user", "content": "When?"}], response_format=JSON_FORMAT, **body)


async def test_a_valid_answer_passes() -> None:
    safety = make_safety()
    call = json_call()
    response = await ValidateStage(safety)(call, Upstream(lambda: answer(GOOD)))
    assert response.body is not None
    assert orjson.loads(response.body["choices"][0]["message"]["content"]) == orjson.loads(GOOD)
    assert safety.metrics.checks["validation"] == 1
    assert safety.log.pending == 0


async def test_repair() -> None:
    safety = make_safety()
    upstream = Upstream(lambda: answer(f"Sure! {GOOD[:-1]},}} Anything else?"))
    response = await ValidateStage(safety)(json_call(), upstream)
    assert response.body is not None
    assert response.body["choices"][0]["message"]["content"] == GOOD
    assert len(upstream.bodies) == 1
    assert safety.log._events[0].action == "repaired"


async def test_reask_with_the_errors_then_pass() -> None:
    safety = make_safety()
    upstream = Upstream(lambda: answer(BAD), lambda: answer(GOOD))
    call = json_call()
    original = call.body
    response = await ValidateStage(safety)(call, upstream)
    assert response.body is not None
    assert response.body["choices"][0]["message"]["content"] == GOOD
    first, second = upstream.bodies
    assert first is original
    assert len(second["messages"]) == 3
    assert second["messages"][1] == {"role": "assistant", "content": BAD}
    assert "invalid_json" in second["messages"][2]["content"]
    assert call.body is original
    assert len(original["messages"]) == 1
    assert call.notes["validation"]["reasks"] == 1
    assert [e.action for e in safety.log._events] == ["reasked"]


async def test_reasks_are_bounded_then_fail_over() -> None:
    safety = make_safety({"validation": {"max_reasks": 2}})
    upstream = Upstream(*[lambda: answer(BAD)] * 3)
    with pytest.raises(AnswerRejected) as caught:
        await ValidateStage(safety)(json_call(), upstream)
    assert len(upstream.bodies) == 3
    error = caught.value
    assert error.kind == "invalid"
    assert error.retryable
    assert error.deployment == "fast/sim#0"
    assert error.errors[0]["error_type"] == "invalid_json"
    assert error.errors[0]["recoverable"]


async def test_no_failover_answers_502_with_the_errors() -> None:
    safety = make_safety({"validation": {"recovery": []}})
    upstream = Upstream(lambda: answer('{"slot": 3, "confirmed": true}'))
    with pytest.raises(AnswerRejected) as caught:
        await ValidateStage(safety)(json_call(), upstream)
    error = caught.value
    assert not error.retryable
    assert error.http_status == 502
    assert "schema_mismatch at $.slot" in error.message
    assert error.to_openai()["error"]["code"] == "invalid_response"
    assert safety.log._events[-1].blocked


async def test_text_answers_are_sanitized_and_size_limited() -> None:
    safety = make_safety({"validation": {"max_response_chars": 50, "recovery": []}})
    call = make_call([{"role": "user", "content": "hi"}])
    response = await ValidateStage(safety)(
        call, Upstream(lambda: answer("<b>Hi</b><script>x()</script>"))
    )
    assert response.body is not None
    assert response.body["choices"][0]["message"]["content"] == "Hi"
    with pytest.raises(AnswerRejected) as caught:
        await ValidateStage(safety)(
            make_call([{"role": "user", "content": "hi"}]), Upstream(lambda: answer("x" * 51))
        )
    assert caught.value.errors[0]["error_type"] == "too_large"


async def test_tool_arguments_are_checked_and_reasked() -> None:
    safety = make_safety()
    tools = [{"type": "function", "function": {"name": "book", "parameters": SCHEMA}}]

    def tool_answer(arguments: str) -> Any:
        call = {
            "id": "c1",
            "type": "function",
            "function": {"name": "book", "arguments": arguments},
        }
        return lambda: answer(None, tool_calls=[call])

    upstream = Upstream(tool_answer('{"slot": 5}'), tool_answer(GOOD))
    call = make_call([{"role": "user", "content": "book"}], tools=tools)
    response = await ValidateStage(safety)(call, upstream)
    assert len(upstream.bodies) == 2
    assert "valid JSON for its parameters" in upstream.bodies[1]["messages"][-1]["content"]
    assert response.body is not None


async def test_nothing_to_check_costs_nothing() -> None:
    safety = make_safety({"validation": {"sanitize_html": False, "max_response_chars": 0}})
    await ValidateStage(safety)(
        make_call([{"role": "user", "content": "hi"}]), Upstream(lambda: answer("x"))
    )
    assert safety.metrics.checks["validation"] == 0


# --- streams ---------------------------------------------------------------------------------


async def test_a_json_stream_is_buffered_reasked_and_replayed() -> None:
    safety = make_safety()
    upstream = Upstream(lambda: streamed(BAD), lambda: streamed(GOOD))
    response = await ValidateStage(safety)(json_call(stream=True), upstream)
    assert len(upstream.bodies) == 2
    assert await drain(response) == GOOD


async def test_a_repaired_stream_is_replayed_whole() -> None:
    safety = make_safety()
    response = await ValidateStage(safety)(
        json_call(stream=True), Upstream(lambda: streamed(f"Here: {GOOD}!", size=4))
    )
    assert await drain(response) == GOOD


async def test_end_mode_checks_json_after_the_stream() -> None:
    safety = make_safety({"validation": {"stream_json": "end"}})
    response = await ValidateStage(safety)(json_call(stream=True), Upstream(lambda: streamed(BAD)))
    seen: list[dict[str, Any]] = []
    with pytest.raises(AnswerRejected) as caught:
        await drain_until_error(response, seen)
    assert len(seen) > 3  # the client saw the text, then gets an error instead of [DONE]
    assert not caught.value.retryable
    good = await ValidateStage(safety)(json_call(stream=True), Upstream(lambda: streamed(GOOD)))
    assert await drain(good) == GOOD


async def test_text_streams_are_stripped_on_the_fly_and_cut_when_too_large() -> None:
    safety = make_safety({"validation": {"max_response_chars": 40}})
    call = make_call([{"role": "user", "content": "hi"}], stream=True)
    response = await ValidateStage(safety)(
        call, Upstream(lambda: streamed("<b>Hi</b> <script>x</script>there", size=3))
    )
    assert await drain(response) == "Hi there"
    long = await ValidateStage(safety)(call, Upstream(lambda: streamed("y" * 60)))
    with pytest.raises(AnswerRejected):
        await drain(long)
