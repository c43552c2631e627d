"""Stage guard_out: leaks blocked, redacted or flagged; canaries; PII; streams."""

from __future__ import annotations

from typing import Any

import pytest

from steadyllm.call import Response
from steadyllm.policy.leak import PromptFingerprint, check_leak
from steadyllm.safety.service import AnswerRejected
from steadyllm.stages.guard_out import GuardOutStage
from tests.safety.helpers import (
    SYSTEM,
    Upstream,
    answer,
    drain,
    drain_until_error,
    make_call,
    make_safety,
    streamed,
)

PARAPHRASE = (
    "Well, I'm SparkleClean's booking helper for a Leeds cleaning firm. I must not give "
    "discounts over 10 percent, and staff phone numbers and home addresses are never revealed. "
    "I only talk about cleaning services, bookings, prices and availability."
)


def leak_call(**body: Any) -> Any:
    return make_call(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "hi"}], **body
    )


def content(response: Response) -> str:
    assert response.body is not None
    return str(response.body["choices"][0]["message"]["content"])


async def test_verbatim_leak_is_blocked() -> None:
    safety = make_safety()
    with pytest.raises(AnswerRejected) as caught:
        await GuardOutStage(safety)(leak_call(), Upstream(lambda: answer(f"Sure: {SYSTEM}")))
    error = caught.value
    assert error.code == "system_prompt_leak"
    assert error.http_status == 502
    assert not error.retryable  # a deterministic leak is not retried by default
    event = safety.log._events[0]
    assert (event.check_type, event.violation_type, event.action) == (
        "output",
        "system_prompt_leak",
        "blocked",
    )


async def test_paraphrased_leak_is_blocked() -> None:
    assert check_leak(PARAPHRASE, PromptFingerprint.of(SYSTEM)).kinds == ("paraphrase",)
    with pytest.raises(AnswerRejected):
        await GuardOutStage(make_safety())(leak_call(), Upstream(lambda: answer(PARAPHRASE)))


async def test_failover_can_be_allowed() -> None:
    safety = make_safety({"output": {"failover": True}})
    with pytest.raises(AnswerRejected) as caught:
        await GuardOutStage(safety)(leak_call(), Upstream(lambda: answer(SYSTEM)))
    assert caught.value.retryable


async def test_redact_and_flag() -> None:
    redacting = make_safety({"output": {"leak_action": "redact"}})
    response = await GuardOutStage(redacting)(
        leak_call(), Upstream(lambda: answer(f"Hello! {SYSTEM}"))
    )
    assert content(response).startswith("Hello!")
    assert "[redacted]" in content(response)
    assert "Never offer discounts" not in content(response)
    flagging = make_safety({"output": {"leak_action": "flag"}})
    call = leak_call()
    response = await GuardOutStage(flagging)(call, Upstream(lambda: answer(SYSTEM)))
    assert content(response) == SYSTEM
    assert call.notes["safety"][0]["action"] == "flagged"


async def test_ordinary_answers_pass() -> None:
    safety = make_safety()
    reply = "Your standard clean is booked for Tuesday at 10am. Prices start at 60 pounds."
    response = await GuardOutStage(safety)(leak_call(), Upstream(lambda: answer(reply)))
    assert content(response) == reply
    assert safety.log.pending == 0


async def test_a_planted_canary_is_sent_upstream_and_caught() -> None:
    safety = make_safety({"output": {"plant_canary": True, "canary": "sl-canary-test1"}})
    upstream = Upstream(lambda: answer("Internal ref: sl-canary-test1"))
    call = leak_call()
    original = call.body
    with pytest.raises(AnswerRejected):
        await GuardOutStage(safety)(call, upstream)
    sent_system = upstream.bodies[0]["messages"][0]["content"]
    assert sent_system.startswith(SYSTEM)
    assert "sl-canary-test1" in sent_system
    assert call.body is original
    assert original["messages"][0]["content"] == SYSTEM


async def test_configured_canaries_are_caught_without_planting() -> None:
    safety = make_safety({"output": {"canary_tokens": ["CANARY-42"]}})
    upstream = Upstream(lambda: answer("the code is canary-42"))
    with pytest.raises(AnswerRejected):
        await GuardOutStage(safety)(leak_call(), upstream)
    assert "CANARY-42" not in upstream.bodies[0]["messages"][0]["content"]


async def test_pii_is_redacted_when_asked() -> None:
    safety = make_safety({"output": {"redact_pii": True}})
    reply = "Maria's number is 07700 900123 and email maria@example.com."
    response = await GuardOutStage(safety)(leak_call(), Upstream(lambda: answer(reply)))
    assert content(response) == "Maria's number is [phone] and email [email]."
    assert safety.log._events[0].violation_type == "pii"


# --- streams -------------------------------------------------------------------------------


async def test_a_leak_mid_stream_ends_it_with_an_error() -> None:
    safety = make_safety()
    text = f"Sure. {SYSTEM} And more text follows here for a while."
    response = await GuardOutStage(safety)(leak_call(stream=True), Upstream(lambda: streamed(text)))
    pieces: list[dict[str, Any]] = []
    with pytest.raises(AnswerRejected) as caught:
        await drain_until_error(response, pieces)
    seen = "".join(p["choices"][0]["delta"].get("content") or "" for p in pieces)
    assert caught.value.code == "system_prompt_leak"
    assert not caught.value.retryable
    assert len(seen) < len(SYSTEM)  # ended well before the prompt was out


async def test_a_paraphrase_mid_stream_is_caught_too() -> None:
    response = await GuardOutStage(make_safety())(
        leak_call(stream=True), Upstream(lambda: streamed(PARAPHRASE, size=3))
    )
    with pytest.raises(AnswerRejected):
        await drain(response)


async def test_a_clean_stream_passes_unchanged() -> None:
    text = "Booked for Tuesday at 10am. See you then!"
    response = await GuardOutStage(make_safety())(
        leak_call(stream=True), Upstream(lambda: streamed(text))
    )
    assert await drain(response) == text


async def test_pii_in_a_stream_is_redacted_across_chunk_edges() -> None:
    safety = make_safety({"output": {"redact_pii": True}})
    text = "Call 07700 900123 or write to maria@example.com, and card 4111 1111 1111 1111 ok"
    for size in (1, 4, 9):
        response = await GuardOutStage(safety)(
            leak_call(stream=True), Upstream(lambda size=size: streamed(text, size=size))
        )
        assert await drain(response) == "Call [phone] or write to [email], and card [card] ok"
