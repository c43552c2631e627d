"""The simulator over real HTTP: endpoints, faults, admin, and the real SDKs as clients."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from steadyllm.sim.engine import chat_reply, count_tokens
from steadyllm.sim.faults import FaultPlan
from steadyllm.sim.server import SimHandle, SimThread, running_sim

CHAT = {"model": "sim-fast", "messages": [{"role": "user", "content": "Hello, simulator"}]}
STREAM = {**CHAT, "stream": True}


@pytest.fixture
async def sim() -> AsyncIterator[SimHandle]:
    async with running_sim() as handle:
        yield handle


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def post(
    session: aiohttp.ClientSession, url: str, body: Any, **kwargs: Any
) -> tuple[int, dict[str, str], Any]:
    async with session.post(url, json=body, **kwargs) as response:
        payload = await response.json(content_type=None)
        return response.status, dict(response.headers), payload


async def read_events(response: aiohttp.ClientResponse) -> list[bytes]:
    return [line.strip() async for line in response.content if line.startswith(b"data: ")]


async def read_lines_into(
    lines: list[bytes], session: aiohttp.ClientSession, url: str, body: Any
) -> None:
    """Keep every line read in ``lines``, so a test still has them if the read fails."""
    async with session.post(url, json=body) as response:
        assert response.status == 200
        async for line in response.content:
            lines.append(line.strip())


# --- the endpoints -----------------------------------------------------------------------


async def test_chat_over_http_is_the_engine_reply(
    sim: SimHandle, session: aiohttp.ClientSession
) -> None:
    status, headers, body = await post(session, f"{sim.base_url}/chat/completions", CHAT)
    assert status == 200
    assert headers["x-simulator"] == "steadyllm-sim"
    expected = chat_reply(CHAT, created=body["created"])
    assert body == expected


async def test_stream_over_http_ends_with_done(
    sim: SimHandle, session: aiohttp.ClientSession
) -> None:
    async with session.post(f"{sim.base_url}/chat/completions", json=STREAM) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = await read_events(response)
    assert events[-1] == b"data: [DONE]"
    chunks = [json.loads(event[6:]) for event in events[:-1]]
    text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks)
    assert text == chat_reply(CHAT)["choices"][0]["message"]["content"]


async def test_openai_sdk_chat_stream_embeddings_models(sim: SimHandle) -> None:
    client = openai.AsyncOpenAI(base_url=sim.base_url, api_key="x", max_retries=0)
    reply = await client.chat.completions.create(
        model="sim-fast", messages=[{"role": "user", "content": "Hi there"}]
    )
    content = reply.choices[0].message.content
    assert content is not None
    assert content.startswith("[simulated]")
    assert reply.usage is not None
    assert reply.usage.completion_tokens == count_tokens(content)

    stream = await client.chat.completions.create(
        model="sim-fast",
        messages=[{"role": "user", "content": "Hi there"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    parts: list[str] = []
    usage = None
    async for chunk in stream:
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
        usage = chunk.usage or usage
    assert "".join(parts) == content
    assert usage == reply.usage

    embeddings = await client.embeddings.create(model="sim-embed", input=["one two", "three"])
    assert [len(item.embedding) for item in embeddings.data] == [64, 64]
    assert embeddings.usage.prompt_tokens == 3

    models = [model.id async for model in client.models.list()]
    assert models == ["sim-fast", "sim-smart", "sim-embed"]
    await client.close()


async def test_openai_sdk_tool_call(sim: SimHandle) -> None:
    client = openai.AsyncOpenAI(base_url=sim.base_url, api_key="x", max_retries=0)
    tool = {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
    reply = await client.chat.completions.create(
        model="sim-fast",
        messages=[{"role": "user", "content": "please lookup cats"}],
        tools=[tool],  # type: ignore[list-item]
    )
    (call,) = reply.choices[0].message.tool_calls or []
    assert call.function.name == "lookup"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"q": "simulated"}  # type: ignore[union-attr]
    await client.close()


async def test_anthropic_sdk_messages_and_stream(sim: SimHandle) -> None:
    client = anthropic.AsyncAnthropic(base_url=sim.url, api_key="x", max_retries=0)
    message = await client.messages.create(
        model="claude-sim",
        max_tokens=100,
        system="Be brief.",
        messages=[{"role": "user", "content": "Hello, Claude"}],
    )
    block = message.content[0]
    assert block.type == "text"
    assert block.text.startswith("[simulated]")
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == count_tokens(block.text)

    async with client.messages.stream(
        model="claude-sim",
        max_tokens=100,
        system="Be brief.",
        messages=[{"role": "user", "content": "Hello, Claude"}],
    ) as stream:
        streamed = "".join([text async for text in stream.text_stream])
        final = await stream.get_final_message()
    assert streamed == block.text
    assert final.usage.output_tokens == message.usage.output_tokens
    assert final.stop_reason == "end_turn"
    await client.close()


async def test_errors_in_each_wire_shape(sim: SimHandle) -> None:
    await sim.set_faults(rate_503=1.0)
    claude = anthropic.AsyncAnthropic(base_url=sim.url, api_key="x", max_retries=0)
    with pytest.raises(anthropic.InternalServerError) as anthropic_error:
        await claude.messages.create(
            model="c", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert anthropic_error.value.status_code == 503
    assert anthropic_error.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Simulated upstream error 503."},
    }
    gpt = openai.AsyncOpenAI(base_url=sim.base_url, api_key="x", max_retries=0)
    with pytest.raises(openai.InternalServerError) as openai_error:
        await gpt.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert openai_error.value.status_code == 503
    assert openai_error.value.code == "service_unavailable"
    await claude.close()
    await gpt.close()


async def test_invalid_key_is_refused_and_auth_headers_counted(sim: SimHandle) -> None:
    gpt = openai.AsyncOpenAI(base_url=sim.base_url, api_key="sim-invalid-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await gpt.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    claude = anthropic.AsyncAnthropic(base_url=sim.url, api_key="sim-invalid-key", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        await claude.messages.create(
            model="c", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    async with aiohttp.ClientSession() as session:
        status, _, _ = await post(session, f"{sim.base_url}/chat/completions", CHAT)
        assert status == 200
        status, _, _ = await post(
            session, f"{sim.url}/v1/messages", {}, headers={"x-api-key": "sim-invalid-key"}
        )
        assert status == 401
    stats = await sim.stats()
    assert stats["outcomes"] == {"401": 3, "ok": 1}
    assert stats["auth"] == {"authorization": 2, "x-api-key": 1, "none": 1}
    await gpt.close()
    await claude.close()


async def test_unknown_routes_are_labelled_too(
    sim: SimHandle, session: aiohttp.ClientSession
) -> None:
    async with session.get(f"{sim.url}/nowhere") as response:
        assert response.status == 404
        assert response.headers["x-simulator"] == "steadyllm-sim"
    assert (await sim.stats())["requests"] == 0


async def test_bad_json_and_bad_requests_get_400(
    sim: SimHandle, session: aiohttp.ClientSession
) -> None:
    await sim.set_faults(fail_next=1)
    async with session.post(f"{sim.base_url}/chat/completions", data=b"{nope") as response:
        assert response.status == 400
        assert (await response.json())["error"]["type"] == "invalid_request_error"
    status, _, body = await post(session, f"{sim.url}/v1/messages", {"model": "c"})
    assert status == 400
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    status, _, _ = await post(session, f"{sim.base_url}/embeddings", [1, 2])
    assert status == 400
    assert sim.plan.fail_next == 1  # refused requests do not use up a fault


# --- faults --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_status_faults(sim: SimHandle, session: aiohttp.ClientSession, status: int) -> None:
    await sim.set_faults({str(status): 1.0})
    code, headers, body = await post(session, f"{sim.base_url}/chat/completions", CHAT)
    assert code == status
    assert headers["x-simulator"] == "steadyllm-sim"
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert (await sim.stats())["outcomes"] == {str(status): 1}


async def test_rate_limit_carries_retry_after(
    sim: SimHandle, session: aiohttp.ClientSession
) -> None:
    await sim.set_faults(rate_429=1.0, retry_after=1.5)
    status, headers, body = await post(session, f"{sim.base_url}/chat/completions", CHAT)
    assert status == 429
    assert headers["Retry-After"] == "2"
    assert headers["retry-after-ms"] == "1500"
    assert body["error"]["type"] == "rate_limit_error"


async def test_reset_closes_without_a_response(
    sim: SimHandle, session: aiohttp.ClientSession
) -> None:
    await sim.set_faults(reset_rate=1.0)
    with pytest.raises(aiohttp.ClientConnectionError):
        await post(session, f"{sim.base_url}/chat/completions", CHAT)
    gpt = openai.AsyncOpenAI(base_url=sim.base_url, api_key="x", max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        await gpt.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    await gpt.close()
    assert (await sim.stats())["outcomes"] == {"reset": 2}


async def test_hang_outlasts_a_client_timeout_and_ends_with_a_close(
    session: aiohttp.ClientSession,
) -> None:
    started = time.perf_counter()
    async with running_sim(FaultPlan(hang_rate=1.0, hang_seconds=30)) as sim:
        timeout = aiohttp.ClientTimeout(total=0.2)
        with pytest.raises(asyncio.TimeoutError):
            await post(session, f"{sim.base_url}/chat/completions", CHAT, timeout=timeout)
        assert (await sim.stats())["outcomes"] == {"hang": 1}
        await sim.set_faults(hang_rate=1.0, hang_seconds=0.05)
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await post(session, f"{sim.base_url}/chat/completions", CHAT)
    # Shutting down wakes the 30-second hang rather than waiting for it.
    assert time.perf_counter() - started < 5


async def test_malformed_answers_are_not_json(
    sim: SimHandle, session: aiohttp.ClientSession
) -> None:
    await sim.set_faults(malformed_rate=1.0)
    async with session.post(f"{sim.base_url}/chat/completions", json=CHAT) as response:
        assert response.status == 200
        text = await response.text()
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    async with session.post(f"{sim.base_url}/chat/completions", json=STREAM) as response:
        events = await read_events(response)
    with pytest.raises(json.JSONDecodeError):
        json.loads(events[0][6:])


async def test_stream_cut_sends_fewer_chunks_and_no_done(
    sim: SimHandle, session: aiohttp.ClientSession
) -> None:
    await sim.set_faults(stream_cut_rate=1.0, cut_after_chunks=4)
    lines: list[bytes] = []
    with pytest.raises(aiohttp.ClientPayloadError):
        await read_lines_into(lines, session, f"{sim.base_url}/chat/completions", STREAM)
    received = [line for line in lines if line.startswith(b"data: ")]
    assert len(received) == 4
    assert b"data: [DONE]" not in received
    gpt = openai.AsyncOpenAI(base_url=sim.base_url, api_key="x", max_retries=0)
    stream = await gpt.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}], stream=True
    )
    with pytest.raises(openai.APIConnectionError):
        async for _ in stream:
            pass
    await gpt.close()
    assert (await sim.stats())["outcomes"] == {"cut": 2}


async def test_cut_plain_answer_stops_short(sim: SimHandle, session: aiohttp.ClientSession) -> None:
    await sim.set_faults(stream_cut_rate=1.0)
    with pytest.raises(aiohttp.ClientPayloadError):
        await post(session, f"{sim.base_url}/chat/completions", CHAT)


async def test_anthropic_stream_cut_never_sends_message_stop(
    sim: SimHandle, session: aiohttp.ClientSession
) -> None:
    await sim.set_faults(stream_cut_rate=1.0, cut_after_chunks=1000)
    message = {"role": "user", "content": "hi"}
    body = {"model": "c", "max_tokens": 50, "stream": True, "messages": [message]}
    lines: list[bytes] = []
    with pytest.raises(aiohttp.ClientPayloadError):
        await read_lines_into(lines, session, f"{sim.url}/v1/messages", body)
    assert b"event: message_delta" in lines
    assert b"event: message_stop" not in lines


async def test_fail_next_scripts_an_outage_then_recovers(
    sim: SimHandle, session: aiohttp.ClientSession
) -> None:
    await sim.set_faults(fail_next=2, fail_kind="502")
    statuses = [(await post(session, f"{sim.base_url}/chat/completions", CHAT))[0] for _ in "abc"]
    assert statuses == [502, 502, 200]
    stats = await sim.stats()
    assert stats["by_endpoint"]["/v1/chat/completions"] == {"502": 2, "ok": 1}


async def test_latency_and_token_delay(sim: SimHandle, session: aiohttp.ClientSession) -> None:
    await sim.set_faults(latency_ms=150)
    started = time.perf_counter()
    await post(session, f"{sim.base_url}/chat/completions", CHAT)
    assert time.perf_counter() - started >= 0.15
    await sim.set_faults(token_delay_ms=5)
    started = time.perf_counter()
    async with session.post(f"{sim.base_url}/chat/completions", json=STREAM) as response:
        events = await read_events(response)
    assert time.perf_counter() - started >= 0.005 * (len(events) - 1)


async def test_a_plan_seed_replays_the_same_faults(session: aiohttp.ClientSession) -> None:
    runs: list[list[int]] = []
    async with running_sim() as sim:
        for _ in range(2):
            await sim.set_faults(rate_503=0.5, seed=11)  # installing restarts the draws
            statuses = [
                (await post(session, f"{sim.base_url}/chat/completions", CHAT))[0]
                for _ in range(12)
            ]
            runs.append(statuses)
    assert runs[0] == runs[1]
    assert set(runs[0]) == {200, 503}


async def test_answer_seed_salts_the_answers(session: aiohttp.ClientSession) -> None:
    contents = []
    for answer_seed in (1, 2):
        async with running_sim(answer_seed=answer_seed) as sim:
            _, _, body = await post(session, f"{sim.base_url}/chat/completions", CHAT)
            contents.append(body["choices"][0]["message"]["content"])
    assert contents[0] != contents[1]
    assert contents[0] == chat_reply(CHAT, salt=1)["choices"][0]["message"]["content"]


# --- admin ---------------------------------------------------------------------------------


async def test_admin_faults_read_and_replace_at_run_time(
    sim: SimHandle, session: aiohttp.ClientSession
) -> None:
    async with session.get(f"{sim.url}/sim/faults") as response:
        assert await response.json() == FaultPlan().to_dict()
        assert response.headers["x-simulator"] == "steadyllm-sim"
    async with session.put(f"{sim.url}/sim/faults", json={"503": 1.0, "fail_next": 0}) as response:
        assert response.status == 200
    assert sim.plan == FaultPlan(rate_503=1.0)
    status, _, _ = await post(session, f"{sim.base_url}/chat/completions", CHAT)
    assert status == 503
    async with session.put(f"{sim.url}/sim/faults", json={"fail_next": 1}) as response:
        assert response.status == 200
    status, _, _ = await post(session, f"{sim.base_url}/chat/completions", CHAT)
    assert status == 503
    async with session.get(f"{sim.url}/sim/faults") as response:
        assert (await response.json())["fail_next"] == 0
    status, _, _ = await post(session, f"{sim.base_url}/chat/completions", CHAT)
    assert status == 200  # the replaced plan has no rates left


@pytest.mark.parametrize("body", [b"{", b"[1]", b'{"503": 2}', b'{"nope": 1}'])
async def test_admin_refuses_bad_plans(
    sim: SimHandle, session: aiohttp.ClientSession, body: bytes
) -> None:
    await sim.set_faults(reset_rate=0.5)
    async with session.put(f"{sim.url}/sim/faults", data=body) as response:
        assert response.status == 400
        assert "invalid fault plan" in (await response.json())["error"]["message"]
    assert sim.plan == FaultPlan(reset_rate=0.5)


async def test_admin_stats_count_and_reset(sim: SimHandle, session: aiohttp.ClientSession) -> None:
    await post(session, f"{sim.base_url}/chat/completions", CHAT)
    smart = {**STREAM, "model": "sim-smart"}
    async with session.post(f"{sim.base_url}/chat/completions", json=smart) as response:
        await read_events(response)
    await post(session, f"{sim.base_url}/embeddings", {"model": "sim-embed", "input": "x"})
    async with session.get(f"{sim.base_url}/models") as response:
        assert response.status == 200
    async with session.get(f"{sim.url}/sim/stats") as response:
        stats = await response.json()
    assert stats["requests"] == 4
    assert stats["endpoints"] == {
        "/v1/chat/completions": 2,
        "/v1/embeddings": 1,
        "/v1/models": 1,
    }
    assert stats["outcomes"] == {"ok": 4}
    assert stats["streams"] == 1
    assert stats["models"] == ["sim-fast", "sim-smart", "sim-embed"]
    async with session.get(f"{sim.url}/sim/requests") as response:
        recent = (await response.json())["requests"]
    assert recent[1]["body"]["stream"] is True
    async with session.post(f"{sim.url}/sim/reset") as response:
        assert (await response.json())["requests"] == 0
    assert (await sim.stats())["outcomes"] == {}


async def test_recent_requests_mask_keys(sim: SimHandle, session: aiohttp.ClientSession) -> None:
    await post(
        session,
        f"{sim.base_url}/chat/completions",
        CHAT,
        headers={"Authorization": "Bearer secret", "x-request-id": "r1"},
    )
    async with session.get(f"{sim.url}/sim/requests") as response:
        (entry,) = (await response.json())["requests"]
    assert entry["headers"]["authorization"] == "<present>"
    assert entry["headers"]["x-request-id"] == "r1"
    assert entry["endpoint"] == "/v1/chat/completions"


# --- in a thread, for code that is not async -------------------------------------------------


def test_sim_thread_serves_sync_clients() -> None:
    with SimThread(FaultPlan(fail_next=1, fail_kind="500")) as sim:
        request = urllib.request.Request(
            f"{sim.base_url}/chat/completions",
            data=json.dumps(CHAT).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(request, timeout=5)
        assert failed.value.code == 500
        failed.value.close()
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.loads(response.read())["object"] == "chat.completion"
        assert sim.stats()["outcomes"] == {"500": 1, "ok": 1}
        assert sim.set_faults(rate_503=1.0) == sim.plan
        sim.reset()
        assert sim.stats()["requests"] == 0
    with pytest.raises(RuntimeError):
        sim.stats()
