"""The control-plane routes over HTTP, with a real gateway, the simulator as a local
server, and an in-process llamacpp deployment on a fake engine."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from steadyllm.local.settings import LlamaCppSettings
from steadyllm.providers import llamacpp
from steadyllm.sim.faults import FaultPlan
from steadyllm.sim.server import SimThread
from tests.gateway_thread import GatewayThread
from tests.local.fake_engine import FakeEngine

LOADS: list[str] = []


def fake_load(path: str, settings: LlamaCppSettings) -> FakeEngine:
    LOADS.append(path)
    return FakeEngine("abc")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    model_file = tmp_path_factory.mktemp("models") / "tiny.gguf"
    model_file.write_bytes(b"GGUF")
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return object() if name == "llama_cpp" else real_find_spec(name, *args)

    with pytest.MonkeyPatch.context() as patch, SimThread(FaultPlan()) as sim:
        patch.setattr(importlib.util, "find_spec", find_spec)
        patch.setattr(llamacpp, "load_llama", fake_load)
        config = {
            "store": {"url": "memory://"},
            "models": [
                {
                    "name": "local",
                    "deployments": [
                        {
                            "provider": "llamacpp",
                            "model": "tiny",
                            "llamacpp": {"model_path": str(model_file)},
                        }
                    ],
                },
                {
                    "name": "ollama",
                    "deployments": [
                        {"provider": "openai", "model": "sim-fast", "api_base": sim.base_url}
                    ],
                },
            ],
        }
        with GatewayThread(config) as handle:
            yield handle


def get(gateway: GatewayThread, path: str, status: int = 200) -> Any:
    response = httpx.get(f"{gateway.url}{path}", timeout=10)
    assert response.status_code == status, response.text
    return response.json()


def test_local_model_loads_once_and_reports_its_telemetry(gateway: GatewayThread) -> None:
    body = {"model": "local", "messages": [{"role": "user", "content": "hi there"}]}
    first = httpx.post(f"{gateway.base_url}/chat/completions", json=body, timeout=10)
    assert first.status_code == 200, first.text
    assert first.json()["choices"][0]["message"]["content"] == "abc"
    other = {"role": "user", "content": "another question"}  # not answerable from the cache
    with httpx.stream(
        "POST",
        f"{gateway.base_url}/chat/completions",
        json={**body, "messages": [other], "stream": True},
        timeout=10,
    ) as stream:
        assert stream.status_code == 200
        lines = [line for line in stream.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    assert len(LOADS) == 1  # two requests, one load
    assert LOADS[0].endswith("tiny.gguf")
    status = get(gateway, "/api/local/status")
    (model,) = status["in_process"]
    assert model["deployment"] == "local/llamacpp:tiny#0"
    assert (model["loaded"], model["loads"], model["completed"]) == (True, 1, 2)
    assert model["smoothed_tokens_per_second"] > 0
    assert model["last_ttft_ms"] is not None
    (server,) = status["servers"]
    assert server["deployment"] == "ollama/openai:sim-fast#0"
    assert server["status"] == "ok"
    assert "sim-fast" in server["models"]
    unprobed = get(gateway, "/api/local/status?probe=false")
    assert "status" not in unprobed["servers"][0]


def test_hardware_and_catalog(gateway: GatewayThread) -> None:
    hardware = get(gateway, "/api/hardware")
    assert hardware["tier"] in {
        "CPU_ONLY",
        "IGPU",
        "LOW_VRAM_GPU",
        "MID_VRAM_GPU",
        "HIGH_VRAM_GPU",
        "MULTI_GPU",
    }
    assert hardware["ram_gib"] > 0
    assert get(gateway, "/api/hardware?tier=multi_gpu")["tier"] == "MULTI_GPU"
    listing = get(gateway, "/api/catalog")
    assert listing["tier"] == hardware["tier"]
    ids = {m["id"] for m in listing["data"]}
    assert {"smollm2-135m-instruct", "llama-3.1-8b-instruct"} <= ids
    assert all("fit" in m for m in listing["data"])
    embeddings = get(gateway, "/api/catalog?kind=embeddings")["data"]
    assert embeddings
    assert {m["kind"] for m in embeddings} == {"embeddings"}


def test_recommend(gateway: GatewayThread) -> None:
    here = get(gateway, "/api/catalog/recommend?tags=chat&limit=3")
    assert 1 <= len(here["recommendations"]) <= 3
    assert all(r["fits"] for r in here["recommendations"])
    code = get(gateway, "/api/catalog/recommend?tier=HIGH_VRAM_GPU&tags=code&min_quality_score=60")
    assert code["tier"] == "HIGH_VRAM_GPU"
    assert code["constraints"]["required_tags"] == ["code"]
    first = code["recommendations"][0]
    assert first["placement"] == "gpu"
    assert "code" in first["entry"]["tags"]
    assert first["entry"]["quality_score"] >= 60


def test_one_model_fits_or_not(gateway: GatewayThread) -> None:
    small = get(gateway, "/api/catalog/smollm2-135m-instruct")
    assert small["fits"] is True
    huge = get(gateway, "/api/catalog/qwen2.5-72b-instruct?quantization=F16")
    assert huge["fits"] is False
    assert huge["placement"] is None
    assert "needs" in huge["reasons"][0]


@pytest.mark.parametrize(
    ("path", "status", "param"),
    [
        ("/api/catalog/no-such-model", 404, None),
        ("/api/catalog?tier=GIANT", 400, "tier"),
        ("/api/catalog/recommend?limit=lots", 400, "limit"),
        ("/api/catalog/recommend?limit=1000", 400, "limit"),
        ("/api/catalog/recommend?kind=audio", 400, "kind"),
        ("/api/catalog/smollm2-135m-instruct?quantization=Q9", 400, "quantization"),
    ],
)
def test_bad_requests(gateway: GatewayThread, path: str, status: int, param: str | None) -> None:
    error = get(gateway, path, status)["error"]
    assert error["param"] == param
