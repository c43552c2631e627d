"""The real ``anthropic`` SDK against steadyllm's ``/v1/messages``."""

from __future__ import annotations

import anthropic
import openai
import pytest

from tests.gateway_thread import GatewayThread


def test_messages_non_stream_translates_an_openai_deployment(gateway: GatewayThread) -> None:
    client = anthropic.Anthropic(base_url=gateway.url, api_key="unused", max_retries=0)
    message = client.messages.create(
        model="fast",
        max_tokens=200,
        system="You are a booking assistant.",
        messages=[{"role": "user", "content": "Is Tuesday free for a standard clean?"}],
    )
    assert message.role == "assistant"
    assert message.stop_reason == "end_turn"
    text = "".join(block.text for block in message.content if block.type == "text")
    same = openai.OpenAI(base_url=gateway.base_url, api_key="x", max_retries=0)
    expected = same.chat.completions.create(
        model="fast",
        max_tokens=200,
        messages=[
            {"role": "system", "content": "You are a booking assistant."},
            {"role": "user", "content": "Is Tuesday free for a standard clean?"},
        ],
    )
    assert text == expected.choices[0].message.content
    assert message.usage.input_tokens > 0
    assert message.usage.output_tokens > 0


def test_messages_stream(gateway: GatewayThread) -> None:
    client = anthropic.Anthropic(base_url=gateway.url, api_key="unused", max_retries=0)
    request = {
        "model": "claude",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "What does a deep clean include?"}],
    }
    whole = client.messages.create(**request)  # type: ignore[call-overload]
    with client.messages.stream(**request) as stream:  # type: ignore[arg-type]
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "".join(b.text for b in whole.content if b.type == "text")
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == whole.usage.output_tokens


async def test_messages_async(gateway: GatewayThread) -> None:
    client = anthropic.AsyncAnthropic(base_url=gateway.url, api_key="unused", max_retries=0)
    message = await client.messages.create(
        model="claude", max_tokens=50, messages=[{"role": "user", "content": "hello"}]
    )
    assert message.content
    await client.close()


def test_messages_error_is_anthropic_shaped(gateway: GatewayThread) -> None:
    client = anthropic.Anthropic(base_url=gateway.url, api_key="unused", max_retries=0)
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(
            model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["type"] == "error"
    assert body["error"]["type"] == "not_found_error"
