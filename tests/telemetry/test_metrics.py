"""Request metrics derive from call records: scripted traffic, exact values."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from steadyllm.sim.server import SimThread
from steadyllm.stores.base import CallRecord
from steadyllm.telemetry.metrics import GatewayMetrics
from tests.gateway_thread import GatewayThread
from tests.telemetry.conftest import PRICE, telemetry_config

DEPLOYMENT = "fast/openai:sim-fast#0"


def record(**fields: Any) -> CallRecord:
    base: dict[str, Any] = {
        "id": "r",
        "request_id": "q",
        "created_at": 0.0,
        "kind": "chat",
        "model": "fast",
        "status": 200,
        "deployment": DEPLOYMENT,
        "latency_ms": 120.0,
        "overhead_ms": 0.4,
        "cost_usd": 0.001,
        "input_tokens": 10,
        "output_tokens": 20,
        "attempts": 1,
        "fallback_path": (DEPLOYMENT,),
    }
    return CallRecord(**{**base, **fields})


def value(metrics: GatewayMetrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def test_hits_misses_errors_retries_from_records() -> None:
    metrics = GatewayMetrics(["fast", "smart"], max_variants=2)
    labels = {"model": "fast", "deployment": DEPLOYMENT, "variant": "none"}
    metrics.observe(record(cache_status="miss"))
    metrics.observe(record(cache_status="miss", attempts=3))  # two retries, then an answer
    metrics.observe(record(cache_status="hit", deployment=None, cost_usd=0.0, attempts=0,
                           input_tokens=0, output_tokens=0, fallback_path=()))  # fmt: skip
    metrics.observe(record(cache_status="semantic-hit", deployment=None, attempts=0,
                           cost_usd=0.0, fallback_path=()))  # fmt: skip
    metrics.observe(record(cache_status="bypass"))
    metrics.observe(
        record(status=502, error_type="upstream_status", attempts=4, cost_usd=None,
               input_tokens=0, output_tokens=0,
               fallback_path=(DEPLOYMENT, DEPLOYMENT, "smart/openai:x#0", "smart/openai:x#0"))
    )  # fmt: skip
    metrics.observe(record(status=429, error_type="rate_limit_error", deployment=None,
                           attempts=0, cost_usd=None, fallback_path=()))  # fmt: skip
    metrics.observe(record(stream=True, stream_outcome="cut", error_type="stream_cut",
                           ttft_ms=80.0))  # fmt: skip
    metrics.observe(record(cost_usd=None))  # no price configured
    metrics.observe(record(model="made-up-by-a-client", variant="v1", deployment=None,
                           status=404, error_type="not_found_error", cost_usd=None))  # fmt: skip
    for variant in ("v1", "v2", "v3"):  # the third distinct variant is over the cap
        metrics.observe(record(variant=variant))

    assert value(metrics, "steadyllm_requests_total", **labels, status="200") == 5
    assert value(metrics, "steadyllm_requests_total", **labels, status="502") == 1
    assert value(metrics, "steadyllm_cache_lookups_total", model="fast", variant="none",
                 result="miss") == 2  # fmt: skip
    for result in ("hit", "semantic-hit", "bypass"):
        assert value(metrics, "steadyllm_cache_lookups_total", model="fast", variant="none",
                     result=result) == 1  # fmt: skip
    assert value(metrics, "steadyllm_retries_total", **labels) == 2 + 3
    assert value(metrics, "steadyllm_fallbacks_total", **labels) == 1
    assert value(metrics, "steadyllm_errors_total", **labels, error_type="upstream_status") == 1
    assert value(metrics, "steadyllm_request_failures_total", **labels) == 2  # 502 and the cut
    assert value(metrics, "steadyllm_rate_limited_total", model="fast", variant="none") == 1
    assert value(metrics, "steadyllm_stream_truncations_total", **labels) == 1
    assert value(metrics, "steadyllm_unpriced_requests_total", **labels) == 1
    assert value(metrics, "steadyllm_time_to_first_token_seconds_count", **labels) == 1
    assert value(metrics, "steadyllm_time_to_first_token_seconds_sum", **labels) == 0.08
    assert value(metrics, "steadyllm_tokens_total", **labels, type="input") == 10 * 5
    assert abs(value(metrics, "steadyllm_cost_usd_total", **labels) - 0.004) < 1e-12
    assert value(metrics, "steadyllm_request_duration_seconds_bucket", **labels, le="0.25") == 6
    # Bounded labels: a model no route serves is "unknown"; variants past the cap "other".
    assert value(metrics, "steadyllm_requests_total", model="unknown", deployment="none",
                 variant="v1", status="404") == 1  # fmt: skip
    other = {"model": "fast", "deployment": DEPLOYMENT, "variant": "other", "status": "200"}
    assert value(metrics, "steadyllm_requests_total", **other) == 1
    assert "made-up-by-a-client" not in metrics.render().decode()


def scrape(gateway: GatewayThread) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{gateway.url}/metrics").text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          **match: str) -> float:  # fmt: skip
    return sum(
        v for (n, labels), v in samples.items()
        if n == name and all(dict(labels).get(k) == want for k, want in match.items())
    )  # fmt: skip


def test_scripted_traffic_through_the_gateway(sim: SimThread) -> None:
    """Answers, a stream, an unknown model, an upstream outage and a cut stream, over HTTP."""
    with GatewayThread(telemetry_config(sim.base_url)) as gateway:
        statuses: dict[int, int] = {}
        tokens = {"input": 0, "output": 0}
        with httpx.Client(base_url=gateway.base_url, timeout=30) as client:

            def chat(model: str = "fast", **extra: Any) -> httpx.Response:
                body = {"model": model, "messages": [{"role": "user", "content": "Hi there"}]}
                response = client.post("/chat/completions", json={**body, **extra})
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code == 200:
                    tokens["input"] += response.json()["usage"]["prompt_tokens"]
                    tokens["output"] += response.json()["usage"]["completion_tokens"]
                return response

            for _ in range(3):
                chat()
            chat(model="nope")
            sim.set_faults(fail_next=1, fail_kind="503")  # retried when a retry stage exists
            chat()
            sim.set_faults(fail_next=1, fail_kind="stream_cut", cut_after_chunks=4)
            stream = {
                "model": "fast",
                "stream": True,
                "stream_options": {"include_usage": True},
                "messages": [{"role": "user", "content": "Tell me a long story please"}],
            }
            with client.stream("POST", "/chat/completions", json=stream) as response:
                assert response.status_code == 200
                assert "error" in response.read().decode()  # an explicit error event
            statuses[200] += 1
        records = httpx.get(f"{gateway.url}/api/calls", params={"flush": "true"}).json()["data"]
        upstream = sim.stats()["requests"]
        samples = scrape(gateway)

    assert len(records) == 6
    for status, count in statuses.items():
        assert total(samples, "steadyllm_requests_total", status=str(status)) == count
    assert total(samples, "steadyllm_requests_total") == 6
    reached = [r for r in records if r["attempts"] > 0]
    assert total(samples, "steadyllm_retries_total") == upstream - len(reached)
    assert total(samples, "steadyllm_stream_truncations_total") == 1
    assert total(samples, "steadyllm_errors_total", error_type="not_found_error") == 1
    for error_type in {r["error_type"] for r in records if r["error_type"]}:
        expected = sum(1 for r in records if r["error_type"] == error_type)
        assert total(samples, "steadyllm_errors_total", error_type=error_type) == expected
    cut = next(r for r in records if r["stream_outcome"] == "cut")
    for kind, field in (("input", "input_tokens"), ("output", "output_tokens")):
        assert total(samples, "steadyllm_tokens_total", type=kind) == tokens[kind] + cut[field]
    cost = sum(r["cost_usd"] or 0.0 for r in records)
    expected_cost = (
        (tokens["input"] + cut["input_tokens"]) * PRICE["input_per_million"]
        + (tokens["output"] + cut["output_tokens"]) * PRICE["output_per_million"]
    ) / 1e6
    assert abs(total(samples, "steadyllm_cost_usd_total") - cost) < 1e-12
    assert abs(cost - expected_cost) < 1e-12
    assert total(samples, "steadyllm_request_duration_seconds_count") == 6
    assert total(samples, "steadyllm_time_to_first_token_seconds_count") == 1
    assert total(samples, "steadyllm_requests_in_flight") == 0
    assert total(samples, "steadyllm_records_written_total") == 6
    assert total(samples, "steadyllm_info") == 1
