"""Circuit breakers, 429s and total outages, through the real gateway over HTTP."""

from __future__ import annotations

import asyncio
import time

import httpx

from steadyllm.sim.faults import FaultPlan
from steadyllm.sim.server import SimThread
from tests.gateway_thread import GatewayThread
from tests.resilience.conftest import FAST_RETRY, MESSAGES, config, deployment, post_many

BODY = {"model": "chat", "messages": MESSAGES, "max_tokens": 5}


def chat(gateway: GatewayThread, body: dict[str, object] = BODY) -> httpx.Response:
    return httpx.post(f"{gateway.base_url}/chat/completions", json=body, timeout=30)


async def test_breaker_opens_fails_fast_then_one_probe_closes_it() -> None:
    with SimThread(FaultPlan(rate_503=1.0)) as sim:
        models = [{"name": "chat", "deployments": [deployment(sim, "a"), deployment(sim, "b")]}]
        settings = config(
            models,
            retry={"max_retries": 0},
            breaker={"failure_threshold": 2, "recovery_timeout": 2.0},
        )
        with GatewayThread(settings) as gateway:
            for _ in range(2):  # each request fails on a, then on b
                failed = chat(gateway)
                assert failed.status_code == 503
                assert failed.json()["error"]["code"] == "no_deployment_available"
            assert sim.stats()["requests"] == 4  # both breakers are open now

            for _ in range(5):
                refused = chat(gateway)
                assert refused.status_code == 503
                assert 1 <= int(refused.headers["retry-after"]) <= 2
                assert "breaker_open" in refused.headers["x-steadyllm-fallback"]
            assert sim.stats()["requests"] == 4  # nothing reached the upstream

            sim.set_faults(FaultPlan(latency_ms=400))  # healthy again, and slow
            await asyncio.sleep(2.1)  # the recovery timeout
            url = f"{gateway.base_url}/chat/completions"
            answers = await post_many(url, [BODY] * 6, concurrency=6)
            statuses = sorted(a.status for a in answers)
            # One probe per breaker went through; the rest were refused while they ran.
            assert statuses == [200, 200, 503, 503, 503, 503]
            assert sim.stats()["requests"] == 6

            assert chat(gateway).status_code == 200  # closed again
            metrics = httpx.get(f"{gateway.url}/api/reliability/metrics").json()
        for name in ("a", "b"):
            breaker = metrics["circuitBreakers"][name]
            assert breaker["state"] == "CLOSED"
            assert (breaker["totalOpens"], breaker["totalCloses"]) == (1, 1)
            assert breaker["nextAttemptTime"] is None
            assert set(breaker) >= {
                "state",
                "failures",
                "successCount",
                "totalOpens",
                "totalCloses",
                "totalRequests",
                "nextAttemptTime",
            }
        retry = metrics["retryPolicy"]
        assert set(retry) >= {
            "totalAttempts",
            "totalRetries",
            "successAfterRetry",
            "exhaustedRetries",
            "budgetExceeded",
            "retryRate",
            "successRate",
        }


def test_429_with_retry_after_2_is_waited_for() -> None:
    plan = FaultPlan(fail_next=1, fail_kind="429", retry_after=2)
    with SimThread(plan) as sim:
        models = [{"name": "chat", "deployments": [deployment(sim, "only")]}]
        with GatewayThread(config(models)) as gateway:
            started = time.perf_counter()
            answer = chat(gateway)
            elapsed = time.perf_counter() - started
            metrics = httpx.get(f"{gateway.url}/api/reliability/metrics").json()
        assert sim.stats()["outcomes"] == {"429": 1, "ok": 1}
    assert answer.status_code == 200
    assert 1.9 <= elapsed < 4.0
    assert metrics["retryPolicy"]["successAfterRetry"] == 1


def test_429_fails_over_and_leaves_the_limited_deployment_alone() -> None:
    with SimThread(FaultPlan(rate_429=1.0, retry_after=2)) as limited, SimThread() as spare:
        models = [
            {
                "name": "chat",
                "deployments": [deployment(limited, "limited"), deployment(spare, "spare")],
            }
        ]
        with GatewayThread(config(models)) as gateway:
            started = time.perf_counter()
            answers = [chat(gateway) for _ in range(20)]
            elapsed = time.perf_counter() - started
        assert all(a.status_code == 200 for a in answers)
        # Cooling down for its Retry-After, the limited deployment is tried at most once
        # per 2 s: never hammered.
        assert limited.stats()["requests"] <= 1 + int(elapsed / 2)
        assert spare.stats()["requests"] == 20


async def test_total_outage_upstream_sees_at_most_1_plus_ratio_times_the_requests() -> None:
    clients = 200
    with SimThread(FaultPlan(rate_503=1.0)) as sim:
        models = [{"name": "chat", "deployments": [deployment(sim, "only")]}]
        url_of = "{}/chat/completions"
        # The budget alone (breaker off, count cap out of the way) holds the line...
        budget_only = config(
            models,
            retry={**FAST_RETRY, "max_retries": 5},
            breaker={"enabled": False},
            budget={"max_retries_per_window": 100_000, "ratio": 0.2},
        )
        with GatewayThread(budget_only) as gateway:
            answers = await post_many(
                url_of.format(gateway.base_url), [BODY] * clients, concurrency=16
            )
            metrics = httpx.get(f"{gateway.url}/api/reliability/metrics").json()
        assert all(a.status == 503 and "retry-after" in a.headers for a in answers)
        seen = sim.stats()["requests"]
        assert clients < seen <= (1 + 0.2) * clients
        assert metrics["retryPolicy"]["budgetExceeded"] > 0

        # ...and with the defaults the breaker cuts the upstream off almost at once.
        sim.reset()
        with GatewayThread(config(models, retry=FAST_RETRY)) as gateway:
            answers = await post_many(
                url_of.format(gateway.base_url), [BODY] * clients, concurrency=16
            )
        assert all(a.status == 503 for a in answers)
        assert sim.stats()["requests"] <= 5 + 16  # threshold, plus those already in flight


def test_client_errors_reach_the_client_at_once_unretried() -> None:
    with SimThread() as sim:
        bad_key = {"api_key": "sim-invalid-key"}
        models = [
            {
                "name": "chat",
                "deployments": [deployment(sim, "a", **bad_key), deployment(sim, "b", **bad_key)],
                "fallbacks": ["other"],
            },
            {"name": "other", "deployments": [deployment(sim, "c")]},
        ]
        with GatewayThread(config(models)) as gateway:
            unauthorized = chat(gateway)
            assert unauthorized.status_code == 401
            assert sim.stats()["requests"] == 1

            bad_request = {
                **BODY,
                "model": "other",
                "tool_choice": {"type": "function", "function": {"name": "missing"}},
            }
            refused = chat(gateway, bad_request)
            assert refused.status_code == 400
            assert sim.stats()["requests"] == 2
            assert sim.stats()["outcomes"] == {"401": 1, "400": 1}
