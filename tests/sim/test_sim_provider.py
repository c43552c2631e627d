"""The in-process ``sim`` provider: engine answers through the Provider contract."""

from __future__ import annotations

import importlib.util
import time
from typing import Any

import pytest
from pydantic import SecretStr

from steadyllm.call import Call, Deployment, Usage
from steadyllm.config import DeploymentSettings, SimSettings
from steadyllm.errors import UpstreamFailure
from steadyllm.providers.sim import SimProvider
from steadyllm.sim.engine import chat_reply, count_tokens, embeddings_reply

MESSAGES = [{"role": "user", "content": "Hello, provider"}]


def make(sim: SimSettings | None = None, **settings: Any) -> tuple[SimProvider, Deployment]:
    deployment_settings = DeploymentSettings(
        provider="sim", model="sim-fast", sim=sim or SimSettings(), **settings
    )
    provider = SimProvider(deployment_settings)
    deployment = Deployment(
        name="fast/sim:sim-fast#0",
        model_group="fast",
        upstream_model="sim-fast",
        provider=provider,
        price=None,
    )
    return provider, deployment


def chat_call(**body: Any) -> Call:
    return Call(
        request_id="r1",
        kind="chat",
        body={"model": "fast", "messages": MESSAGES, "variant": "b", **body},
    )


async def test_chat_answers_the_upstream_body_with_usage() -> None:
    provider, deployment = make()
    call = chat_call()
    response = await provider.chat(call, deployment)
    assert response.body is not None
    assert not response.is_stream
    assert response.deployment == deployment.name
    expected = chat_reply(
        {"model": "sim-fast", "messages": MESSAGES}, created=response.body["created"]
    )
    assert response.body == expected
    assert response.usage == Usage.from_openai(expected["usage"])
    assert response.usage.output_tokens > 0
    assert call.body["model"] == "fast"  # the call's own body is left alone
    assert call.body["variant"] == "b"


async def test_stream_is_primed_and_always_counts_usage() -> None:
    provider, deployment = make()
    plain = await provider.chat(chat_call(), deployment)
    response = await provider.chat(chat_call(stream=True), deployment)
    assert response.chunks is not None
    assert response.first_token_at is not None
    chunks = [chunk async for chunk in response.chunks]
    text = "".join(
        chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks if chunk["choices"]
    )
    assert plain.body is not None
    assert text == plain.body["choices"][0]["message"]["content"]
    assert chunks[-1]["choices"] == []  # the usage chunk, though the client did not ask
    assert response.usage == plain.usage
    assert response.outcome == "complete"


async def test_embed_answers_with_input_usage() -> None:
    provider, deployment = make()
    call = Call(request_id="r2", kind="embeddings", body={"model": "embed", "input": ["a b", "c"]})
    response = await provider.embed(call, deployment)
    assert response.body == embeddings_reply({"model": "sim-fast", "input": ["a b", "c"]})
    assert response.usage == Usage(input_tokens=3)


async def test_settings_seed_changes_the_answer() -> None:
    first, deployment = make(SimSettings(seed=1))
    second, _ = make(SimSettings(seed=2))
    one = await first.chat(chat_call(), deployment)
    two = await second.chat(chat_call(), deployment)
    assert one.body is not None
    assert two.body is not None
    assert one.body["choices"] != two.body["choices"]


async def test_latency_and_token_delay_are_honoured() -> None:
    provider, deployment = make(SimSettings(latency_ms=60, latency_jitter_ms=10, token_delay_ms=2))
    started = time.perf_counter()
    await provider.chat(chat_call(), deployment)
    assert time.perf_counter() - started >= 0.06
    started = time.perf_counter()
    response = await provider.chat(chat_call(stream=True), deployment)
    assert response.chunks is not None
    count = len([chunk async for chunk in response.chunks])
    assert time.perf_counter() - started >= 0.06 + 0.002 * (count - 1)


async def test_refused_requests_fail_as_upstream_client_errors() -> None:
    provider, deployment = make()
    with pytest.raises(UpstreamFailure) as failure:
        await provider.chat(chat_call(messages=[]), deployment)
    assert failure.value.upstream_status == 400
    assert failure.value.client_error
    assert not failure.value.retryable
    assert failure.value.deployment == deployment.name


async def test_invalid_key_fails_as_upstream_401() -> None:
    provider, deployment = make(api_key=SecretStr("sim-invalid-key"))
    with pytest.raises(UpstreamFailure) as failure:
        await provider.chat(chat_call(), deployment)
    assert failure.value.upstream_status == 401
    assert failure.value.http_status == 401


async def test_models_and_close() -> None:
    provider, _ = make()
    assert provider.kind == "sim"
    assert await provider.list_models() == ["sim-fast"]
    await provider.aclose()


async def test_tool_call_usage_counts_name_and_arguments() -> None:
    provider, deployment = make()
    tool = {"type": "function", "function": {"name": "ping", "parameters": {"type": "object"}}}
    response = await provider.chat(chat_call(tools=[tool], tool_choice="required"), deployment)
    assert response.body is not None
    call = response.body["choices"][0]["message"]["tool_calls"][0]
    assert response.usage.output_tokens == count_tokens("ping") + count_tokens(
        call["function"]["arguments"]
    )


@pytest.mark.skipif(
    not all(
        importlib.util.find_spec(f"steadyllm.providers.{name}") for name in ("openai", "anthropic")
    ),
    reason="the registry loads every built-in provider; some are not written yet",
)
async def test_registered_as_sim() -> None:
    from steadyllm.providers.base import create_provider

    provider = create_provider(DeploymentSettings(provider="sim", model="sim-fast"))
    assert isinstance(provider, SimProvider)
