"""The in-process llamacpp provider over a fake engine: loading, queueing, telemetry."""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from pathlib import Path
from typing import Any

import pytest

from steadyllm.call import Call, Deployment, Response
from steadyllm.config import ConfigError, DeploymentSettings
from steadyllm.errors import UpstreamFailure
from steadyllm.providers.base import create_provider
from steadyllm.providers.llamacpp import LlamaCppProvider
from tests.local.fake_engine import CountingLoader, FakeEngine

MESSAGES = [{"role": "user", "content": "say three letters"}]


def make(
    engine: FakeEngine | None = None, *, fail_times: int = 0, **llamacpp: Any
) -> tuple[LlamaCppProvider, Deployment, CountingLoader]:
    settings = DeploymentSettings(
        provider="llamacpp",
        model="tiny",
        llamacpp={"model_path": "/models/tiny.gguf", **llamacpp},
        timeout={"first_token": 5, "total": 5},
    )
    loader = CountingLoader(engine or FakeEngine(), fail_times=fail_times)
    provider = LlamaCppProvider(settings, loader=loader)
    deployment = Deployment(
        name="local/llamacpp:tiny#0",
        model_group="local",
        upstream_model="tiny",
        provider=provider,
        price=None,
    )
    return provider, deployment, loader


def chat(stream: bool = False, **body: Any) -> Call:
    return Call(
        request_id="r",
        kind="chat",
        body={"model": "local", "messages": MESSAGES, "stream": stream, **body},
    )


async def read(response: Response) -> list[dict[str, Any]]:
    assert response.chunks is not None
    return [chunk async for chunk in response.chunks]


def text_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices")
    )


async def test_the_model_loads_once_for_every_request() -> None:
    provider, deployment, loader = make()
    assert loader.loads == []  # nothing loads before the first request
    first_call, second_call = chat(), chat()
    first = await provider.chat(first_call, deployment)
    second = await provider.chat(second_call, deployment)
    streamed = await read(await provider.chat(chat(stream=True), deployment))
    assert loader.loads == ["/models/tiny.gguf"]
    assert first.body is not None
    assert first.body["choices"][0]["message"]["content"] == "abc"
    assert second.usage.output_tokens == 3
    assert text_of(streamed) == "abc"
    assert first_call.notes["inference"]["load_ms"] > 0
    assert second_call.notes["inference"]["load_ms"] == 0
    snapshot = provider.telemetry_snapshot()
    assert (snapshot["loaded"], snapshot["loads"], snapshot["completed"]) == (True, 1, 3)


async def test_non_streamed_answer_and_its_telemetry() -> None:
    provider, deployment, _ = make()
    call = chat(max_completion_tokens=7, temperature=0.1, user="u1", logit_bias={"15": -100})
    response = await provider.chat(call, deployment)
    assert response.deployment == deployment.name
    assert (response.usage.input_tokens, response.usage.output_tokens) == (3, 3)
    note = call.notes["inference"]
    assert note["provider"] == "llamacpp"
    assert note["deployment"] == deployment.name
    assert note["queue_ms"] >= 0
    assert note["ttft_ms"] is None  # not streamed: no first token seen
    assert note["generation_ms"] > 0
    assert (note["prompt_tokens"], note["completion_tokens"]) == (3, 3)
    assert note["tokens_per_second"] > 0
    assert note["cpu_seconds"] >= 0
    assert note["rss_bytes"] > 0
    sent = provider_calls(provider)[0]
    assert sent["max_tokens"] == 7
    assert sent["temperature"] == 0.1
    assert sent["logit_bias"] == {15: -100.0}
    assert sent["model"] == "tiny"
    assert "user" not in sent


def provider_calls(provider: LlamaCppProvider) -> list[dict[str, Any]]:
    engine = provider._engine.get_blocking()
    assert isinstance(engine, FakeEngine)
    return engine.calls


async def test_stream_relays_chunks_then_usage_and_times_the_first_token() -> None:
    provider, deployment, _ = make(FakeEngine("hello"))
    call = chat(stream=True)
    response = await provider.chat(call, deployment)
    assert response.first_token_at is not None
    chunks = await read(response)
    assert text_of(chunks) == "hello"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
    assert (response.usage.input_tokens, response.usage.output_tokens) == (3, 5)
    note = call.notes["inference"]
    assert note["ttft_ms"] is not None
    assert note["generation_ms"] >= note["ttft_ms"]
    assert note["completion_tokens"] == 5
    assert note["tokens_per_second"] > 0
    assert provider.telemetry_snapshot()["last_ttft_ms"] == note["ttft_ms"]


async def test_one_generation_at_a_time_the_next_waits_in_the_queue() -> None:
    gate = threading.Event()
    engine = FakeEngine(gate=gate)
    provider, deployment, _ = make(engine)
    first_call, second_call = chat(), chat()
    first = asyncio.create_task(provider.chat(first_call, deployment))
    await asyncio.to_thread(engine.started.wait, 5)
    second = asyncio.create_task(provider.chat(second_call, deployment))
    await asyncio.sleep(0)  # the second task runs up to its wait for the turn
    snapshot = provider.telemetry_snapshot()
    assert (snapshot["in_flight"], snapshot["queued"]) == (1, 1)
    assert len(engine.calls) == 1  # the second has not reached the model
    gate.set()
    await asyncio.gather(first, second)
    assert len(engine.calls) == 2
    assert second_call.notes["inference"]["queue_ms"] > 0
    assert provider.telemetry_snapshot()["in_flight"] == 0


async def test_a_full_queue_answers_503_with_retry_after() -> None:
    gate = threading.Event()
    engine = FakeEngine(gate=gate)
    provider, deployment, _ = make(engine, max_queue=0)
    first = asyncio.create_task(provider.chat(chat(), deployment))
    await asyncio.to_thread(engine.started.wait, 5)
    with pytest.raises(UpstreamFailure) as caught:
        await provider.chat(chat(), deployment)
    assert caught.value.upstream_status == 503
    assert caught.value.retryable
    assert caught.value.retry_after is not None
    assert caught.value.retry_after >= 1
    gate.set()
    await first
    assert provider.telemetry_snapshot()["rejected"] == 1


async def test_waiting_too_long_times_out() -> None:
    gate = threading.Event()
    engine = FakeEngine(gate=gate)
    provider, deployment, _ = make(engine, queue_timeout=0.05)
    first = asyncio.create_task(provider.chat(chat(), deployment))
    await asyncio.to_thread(engine.started.wait, 5)
    with pytest.raises(UpstreamFailure) as caught:
        await provider.chat(chat(), deployment)
    assert caught.value.kind == "timeout"
    gate.set()
    await first
    assert provider.telemetry_snapshot()["timed_out"] == 1
    assert provider.telemetry_snapshot()["queued"] == 0


async def test_a_client_that_leaves_stops_the_generation_and_frees_the_model() -> None:
    gate = threading.Event()
    engine = FakeEngine("x" * 200, gate=gate)
    provider, deployment, _ = make(engine)
    response = await provider.chat(chat(stream=True), deployment)
    assert response.chunks is not None
    async for chunk in response.chunks:
        if text_of([chunk]):
            break
    await response.chunks.aclose()  # type: ignore[attr-defined]
    gate.set()
    engine.gate = None
    after = await provider.chat(chat(), deployment)  # gets its turn: the model is free
    assert after.body is not None
    assert engine.yielded < 200
    assert provider.telemetry_snapshot()["cancelled"] == 1


@pytest.mark.parametrize(
    ("error", "status", "retryable"),
    [
        (ValueError("Requested tokens (9000) exceed context window of 4096"), 400, False),
        (RuntimeError("llama_decode returned -3"), 500, True),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_engine_errors_become_upstream_failures(
    error: Exception, status: int, retryable: bool, stream: bool
) -> None:
    engine = FakeEngine()
    engine.fail = error
    provider, deployment, _ = make(engine)
    with pytest.raises(UpstreamFailure) as caught:
        await provider.chat(chat(stream=stream), deployment)
    assert caught.value.upstream_status == status
    assert caught.value.retryable is retryable
    engine.fail = None
    assert (await provider.chat(chat(), deployment)).body is not None  # the turn came back
    assert provider.telemetry_snapshot()["failed"] == 1


async def test_a_failed_load_is_retried_by_the_next_request() -> None:
    provider, deployment, loader = make(fail_times=1)
    with pytest.raises(UpstreamFailure, match="not a GGUF file") as caught:
        await provider.chat(chat(), deployment)
    assert caught.value.upstream_status == 500
    assert (await provider.chat(chat(), deployment)).body is not None
    assert len(loader.loads) == 2
    snapshot = provider.telemetry_snapshot()
    assert (snapshot["loads"], snapshot["load_failures"]) == (1, 1)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"n": 2}, "one choice"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            "text content only",
        ),
    ],
)
async def test_requests_it_cannot_serve_are_refused_as_400(
    body: dict[str, Any], message: str
) -> None:
    provider, deployment, loader = make()
    with pytest.raises(UpstreamFailure, match=message) as caught:
        await provider.chat(chat(**body), deployment)
    assert caught.value.upstream_status == 400
    assert loader.loads == []


async def test_text_parts_are_joined_for_the_chat_template() -> None:
    provider, deployment, _ = make()
    parts = [{"type": "text", "text": "say "}, {"type": "text", "text": "hi"}]
    await provider.chat(chat(messages=[{"role": "user", "content": parts}]), deployment)
    assert provider_calls(provider)[0]["messages"] == [{"role": "user", "content": "say hi"}]


async def test_embeddings_need_an_embedding_deployment() -> None:
    provider, deployment, _ = make(embedding=True)
    call = Call(request_id="e", kind="embeddings", body={"model": "local", "input": ["ab", "c"]})
    response = await provider.embed(call, deployment)
    assert response.body is not None
    assert [d["embedding"][0] for d in response.body["data"]] == [2.0, 1.0]
    assert response.usage.input_tokens == 4
    with pytest.raises(UpstreamFailure, match="loaded for embeddings"):
        await provider.chat(chat(), deployment)
    chat_only, chat_deployment, _ = make()
    with pytest.raises(UpstreamFailure, match="serves chat"):
        await chat_only.embed(call, chat_deployment)


async def test_aclose_frees_the_model() -> None:
    engine = FakeEngine()
    provider, deployment, _ = make(engine)
    await provider.chat(chat(), deployment)
    await provider.aclose()
    assert engine.closed
    assert provider.telemetry_snapshot()["loaded"] is False
    assert await provider.list_models() == ["tiny"]


def test_config_errors_name_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "llama_cpp" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    settings = DeploymentSettings(provider="llamacpp", model=str(tmp_path / "m.gguf"))
    with pytest.raises(ConfigError, match=r"steadyllm\[local\]"):
        create_provider(settings)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
    with pytest.raises(ConfigError, match="no GGUF model file"):
        create_provider(settings)
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    provider = create_provider(settings)
    assert isinstance(provider, LlamaCppProvider)
    assert provider.telemetry_snapshot()["loaded"] is False  # created, not loaded
