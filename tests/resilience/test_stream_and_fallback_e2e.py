"""Streams that break, fallback chains and context windows, over HTTP."""

from __future__ import annotations

import httpx
import orjson

from steadyllm.sim.faults import FaultPlan
from steadyllm.sim.server import SimThread
from tests.gateway_thread import GatewayThread
from tests.resilience.conftest import FAST_RETRY, MESSAGES, config, deployment


def test_stream_cut_after_tokens_ends_with_an_error_event_and_is_recorded() -> None:
    with SimThread(FaultPlan(stream_cut_rate=1.0, cut_after_chunks=3)) as sim:
        models = [{"name": "chat", "deployments": [deployment(sim, "only")]}]
        with GatewayThread(config(models, retry=FAST_RETRY)) as gateway:
            body = {"model": "chat", "messages": MESSAGES, "stream": True}
            with httpx.stream(
                "POST", f"{gateway.base_url}/chat/completions", json=body, timeout=30
            ) as response:
                assert response.status_code == 200
                events = [
                    line[len("data: ") :]
                    for line in response.iter_lines()
                    if line.startswith("data: ")
                ]
                request_id = response.headers["x-request-id"]
            calls = httpx.get(
                f"{gateway.url}/api/calls", params={"flush": "true", "request_id": request_id}
            ).json()["data"]
        assert sim.stats()["requests"] == 1  # a started stream is never retried
    assert "[DONE]" not in events
    chunks = [orjson.loads(e) for e in events]
    assert any(c.get("choices") for c in chunks[:-1])  # some tokens arrived first
    assert "error" in chunks[-1]
    assert calls[0]["stream_outcome"] == "cut"
    assert calls[0]["error_type"] == "upstream_stream_cut"


def test_stream_failing_before_its_first_token_is_retried() -> None:
    with SimThread(FaultPlan(fail_next=1, fail_kind="503")) as sim:
        models = [{"name": "chat", "deployments": [deployment(sim, "only")]}]
        with GatewayThread(config(models, retry=FAST_RETRY)) as gateway:
            body = {"model": "chat", "messages": MESSAGES, "stream": True}
            with httpx.stream(
                "POST", f"{gateway.base_url}/chat/completions", json=body, timeout=30
            ) as response:
                lines = list(response.iter_lines())
        assert sim.stats()["outcomes"] == {"503": 1, "ok": 1}
    assert "data: [DONE]" in lines


def test_fallback_chain_is_visible_in_header_and_record() -> None:
    with SimThread(FaultPlan(rate_503=1.0)) as down, SimThread() as up:
        models = [
            {"name": "primary", "deployments": [deployment(down, "p")], "fallbacks": ["backup"]},
            {"name": "backup", "deployments": [deployment(up, "b")]},
        ]
        retry = {**FAST_RETRY, "max_retries": 1}
        with GatewayThread(config(models, retry=retry)) as gateway:
            body = {"model": "primary", "messages": MESSAGES}
            response = httpx.post(f"{gateway.base_url}/chat/completions", json=body)
            calls = httpx.get(
                f"{gateway.url}/api/calls",
                params={"flush": "true", "request_id": response.headers["x-request-id"]},
            ).json()["data"]
        assert down.stats()["requests"] == 2  # the first attempt and one retry
    assert response.status_code == 200
    assert response.headers["x-steadyllm-fallback"] == "p (503) -> b"
    assert response.headers["x-steadyllm-deployment"] == "b"
    assert calls[0]["fallback_path"] == ["p", "p", "b"]
    assert calls[0]["attempts"] == 3


def test_request_too_long_for_the_context_window_goes_to_the_larger_model() -> None:
    with SimThread() as sim:
        models = [
            {"name": "small", "deployments": [deployment(sim, "s", context_window=64)]},
            {
                "name": "large",
                "deployments": [deployment(sim, "l", model="sim-smart", context_window=100_000)],
            },
        ]
        settings = config(models, context_window_fallbacks={"small": "large"})
        with GatewayThread(settings) as gateway:
            short = {"model": "small", "messages": MESSAGES, "max_tokens": 5}
            long = {"model": "small", "messages": [{"role": "user", "content": "word " * 400}]}
            first = httpx.post(f"{gateway.base_url}/chat/completions", json=short)
            second = httpx.post(f"{gateway.base_url}/chat/completions", json=long)
        assert sim.stats()["models"] == ["sim-fast", "sim-smart"]  # small never saw the long one
    assert first.headers["x-steadyllm-deployment"] == "s"
    assert second.status_code == 200
    assert second.headers["x-steadyllm-deployment"] == "l"
    assert second.headers["x-steadyllm-fallback"] == "s (context_window) -> l"
