"""The real ``openai`` SDK, sync and async, pointed at steadyllm, answered by the simulator."""

from __future__ import annotations

import httpx
import openai
import pytest

from steadyllm.sim.server import SimThread
from tests.gateway_thread import GatewayThread

MESSAGES = [
    {"role": "system", "content": "You are a booking assistant for a cleaning company."},
    {"role": "user", "content": "Can I book a deep clean for Friday at 10am?"},
]


def clients(gateway: GatewayThread, sim: SimThread) -> tuple[openai.OpenAI, openai.OpenAI]:
    through = openai.OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)
    direct = openai.OpenAI(base_url=sim.base_url, api_key="unused", max_retries=0)
    return through, direct


def test_sync_completion_equals_the_upstream_answer(gateway: GatewayThread, sim: SimThread) -> None:
    through, direct = clients(gateway, sim)
    answer = through.chat.completions.create(model="fast", messages=MESSAGES, seed=7)
    expected = direct.chat.completions.create(model="sim-fast", messages=MESSAGES, seed=7)
    assert answer.choices[0].message.content == expected.choices[0].message.content
    assert answer.choices[0].message.content
    assert answer.usage is not None
    assert expected.usage is not None
    assert answer.usage.prompt_tokens == expected.usage.prompt_tokens
    assert answer.usage.completion_tokens == expected.usage.completion_tokens


def test_sync_stream_matches_non_stream_and_reports_usage(gateway: GatewayThread) -> None:
    client = openai.OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)
    whole = client.chat.completions.create(model="fast", messages=MESSAGES)
    stream = client.chat.completions.create(
        model="fast", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    text = ""
    usage = None
    finish = None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert text == whole.choices[0].message.content
    assert finish == "stop"
    assert usage is not None
    assert whole.usage is not None
    assert usage.completion_tokens == whole.usage.completion_tokens


def test_stream_without_include_usage_sends_no_usage_chunk(gateway: GatewayThread) -> None:
    client = openai.OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)
    chunks = list(client.chat.completions.create(model="fast", messages=MESSAGES, stream=True))
    assert chunks
    assert all(chunk.usage is None for chunk in chunks)


async def test_async_completion_and_stream(gateway: GatewayThread) -> None:
    client = openai.AsyncOpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)
    whole = await client.chat.completions.create(model="fast", messages=MESSAGES, n=2)
    assert len(whole.choices) == 2
    stream = await client.chat.completions.create(model="fast", messages=MESSAGES, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == whole.choices[0].message.content
    await client.close()


def test_tools_stop_and_response_format(gateway: GatewayThread) -> None:
    client = openai.OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)
    tools = [
        {
            "type": "function",
            "function": {
                "name": "check_availability",
                "parameters": {
                    "type": "object",
                    "properties": {"date": {"type": "string"}},
                    "required": ["date"],
                },
            },
        }
    ]
    answer = client.chat.completions.create(
        model="fast",
        messages=MESSAGES,
        tools=tools,
        tool_choice="required",  # type: ignore[arg-type]
    )
    call = answer.choices[0].message.tool_calls
    assert answer.choices[0].finish_reason == "tool_calls"
    assert call
    assert call[0].function.name == "check_availability"
    as_json = client.chat.completions.create(
        model="fast", messages=MESSAGES, response_format={"type": "json_object"}
    )
    import json

    assert isinstance(json.loads(as_json.choices[0].message.content or ""), dict)
    short = client.chat.completions.create(model="fast", messages=MESSAGES, max_tokens=3)
    assert short.choices[0].finish_reason == "length"
    assert short.usage is not None
    assert short.usage.completion_tokens <= 3


def test_embeddings_and_models(gateway: GatewayThread) -> None:
    client = openai.OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)
    result = client.embeddings.create(model="embed", input=["deep clean", "standard clean"])
    assert len(result.data) == 2
    assert result.data[0].embedding != result.data[1].embedding
    models = {m.id for m in client.models.list()}
    assert {"fast", "claude", "embed"} <= models


def test_anthropic_upstream_behind_the_openai_sdk(gateway: GatewayThread) -> None:
    client = openai.OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)
    answer = client.chat.completions.create(model="claude", messages=MESSAGES)
    assert answer.choices[0].message.content
    assert answer.usage is not None
    assert answer.usage.prompt_tokens > 0
    text = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(model="claude", messages=MESSAGES, stream=True)
        if c.choices
    )
    assert text == answer.choices[0].message.content


def test_headers_and_request_id(gateway: GatewayThread) -> None:
    response = httpx.post(
        f"{gateway.base_url}/chat/completions",
        json={"model": "fast", "messages": MESSAGES},
        headers={"x-request-id": "client-chosen-42"},
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "client-chosen-42"
    assert response.headers["x-steadyllm-deployment"].startswith("fast/openai:sim-fast")
    assert float(response.headers["x-steadyllm-overhead-ms"]) >= 0
    fresh = httpx.post(
        f"{gateway.base_url}/chat/completions", json={"model": "fast", "messages": MESSAGES}
    )
    assert fresh.headers["x-request-id"].startswith("req_")


def test_every_call_is_recorded_with_its_cost(gateway: GatewayThread) -> None:
    request_id = "record-me-1"
    response = httpx.post(
        f"{gateway.base_url}/chat/completions",
        json={
            "model": "fast",
            "messages": MESSAGES,
            "user": "alice",
            "metadata": {"conversation_id": "conv-9", "agent_type": "booking"},
        },
        headers={"x-request-id": request_id},
    )
    usage = response.json()["usage"]
    records = httpx.get(
        f"{gateway.url}/api/calls", params={"request_id": request_id, "flush": "true"}
    ).json()["data"]
    assert len(records) == 1
    record = records[0]
    assert record["status"] == 200
    assert record["user"] == "alice"
    assert record["metadata"] == {"conversation_id": "conv-9", "agent_type": "booking"}
    assert record["input_tokens"] == usage["prompt_tokens"]
    assert record["output_tokens"] == usage["completion_tokens"]
    expected_cost = (usage["prompt_tokens"] * 0.5 + usage["completion_tokens"] * 1.5) / 1e6
    assert record["cost_usd"] == pytest.approx(expected_cost)
    assert record["deployment"].startswith("fast/")
    assert record["latency_ms"] >= record["overhead_ms"] >= 0
