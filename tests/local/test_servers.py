"""Health probes of local OpenAI-compatible servers, against fakes of each."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from steadyllm.local.servers import is_local_address, probe_server
from tests.providers import FakeUpstream, Handler, free_port

MODELS = {"object": "list", "data": [{"id": "qwen2.5:7b", "object": "model"}]}


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    fake = await FakeUpstream().start()
    yield fake
    await fake.close()


def answering(routes: dict[str, web.Response]) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return routes.get(request.path) or web.json_response({"error": "no"}, status=404)

    return handler


async def test_llama_cpp_server(upstream: FakeUpstream) -> None:
    upstream.handler = answering(
        {"/health": web.json_response({"status": "ok"}), "/v1/models": web.json_response(MODELS)}
    )
    health = await probe_server(f"{upstream.url}/v1", api_key="k")
    assert (health.server, health.status, health.healthy) == ("llama.cpp", "ok", True)
    assert health.models == ("qwen2.5:7b",)
    assert {s.headers.get("authorization") for s in upstream.seen} == {"Bearer k"}


async def test_llama_cpp_server_still_loading(upstream: FakeUpstream) -> None:
    loading = {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}
    upstream.handler = answering(
        {
            "/health": web.json_response(loading, status=503),
            "/v1/models": web.json_response(loading, status=503),
        }
    )
    health = await probe_server(f"{upstream.url}/v1")
    assert (health.server, health.status, health.healthy) == ("llama.cpp", "loading", False)
    assert health.detail == "Loading model"


async def test_ollama(upstream: FakeUpstream) -> None:
    upstream.handler = answering(
        {
            "/api/version": web.json_response({"version": "0.5.7"}),
            "/v1/models": web.json_response(MODELS),
        }
    )
    health = await probe_server(f"{upstream.url}/v1")
    assert (health.server, health.status) == ("ollama", "ok")


async def test_vllm(upstream: FakeUpstream) -> None:
    upstream.handler = answering(
        {"/health": web.Response(status=200), "/v1/models": web.json_response(MODELS)}
    )
    health = await probe_server(f"{upstream.url}/v1")
    assert (health.server, health.status) == ("vllm", "ok")


async def test_a_server_refusing_the_model_list(upstream: FakeUpstream) -> None:
    upstream.handler = answering(
        {"/v1/models": web.json_response({"error": {"message": "bad key"}}, status=401)}
    )
    health = await probe_server(f"{upstream.url}/v1")
    assert (health.server, health.status) == ("openai-compatible", "error")
    assert health.detail is not None
    assert "401" in health.detail
    assert "bad key" in health.detail


async def test_nothing_listening() -> None:
    health = await probe_server(f"http://127.0.0.1:{free_port()}/v1", timeout=1)
    assert (health.server, health.status, health.healthy) == ("unknown", "unreachable", False)
    assert health.models == ()


@pytest.mark.parametrize(
    ("api_base", "local"),
    [
        ("http://127.0.0.1:8080/v1", True),
        ("http://localhost:11434/v1", True),
        ("http://[::1]:8000/v1", True),
        ("http://10.0.0.5:8000/v1", True),
        ("http://192.168.1.20:11434/v1", True),
        ("http://ollama:11434/v1", True),
        ("http://vllm.inference.svc.cluster.local:8000/v1", True),
        ("https://api.openai.com/v1", False),
        ("https://api.groq.com/openai/v1", False),
        ("http://8.8.8.8/v1", False),
    ],
)
def test_is_local_address(api_base: str, local: bool) -> None:
    assert is_local_address(api_base) is local
