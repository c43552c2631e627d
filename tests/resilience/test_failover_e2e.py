"""Through the real gateway to simulated upstreams over HTTP: one deployment fails hard."""

from __future__ import annotations

import httpx

from steadyllm.sim.faults import FaultPlan
from steadyllm.sim.server import SimThread
from tests.gateway_thread import GatewayThread
from tests.resilience.conftest import FAST_RETRY, MESSAGES, config, deployment, post_many

REQUESTS = 2000
HARD_FAILURE = FaultPlan(rate_503=0.34, hang_rate=0.33, reset_rate=0.33, hang_seconds=3)
QUICK_TIMEOUT = {"connect": 1, "read": 0.3, "total": 0.3, "first_token": 0.3}


async def test_one_of_two_deployments_failing_hard_costs_almost_nothing() -> None:
    with SimThread(HARD_FAILURE) as bad, SimThread(FaultPlan()) as good:
        models = [
            {
                "name": "chat",
                "deployments": [
                    deployment(bad, "bad", timeout=QUICK_TIMEOUT),
                    deployment(good, "good"),
                ],
            }
        ]
        # A short recovery timeout: the bad deployment is probed again and again, so
        # failing over after 5xx, hangs and resets is exercised all through the run.
        settings = config(
            models, retry=FAST_RETRY, breaker={"failure_threshold": 3, "recovery_timeout": 0.2}
        )
        with GatewayThread(settings) as gateway:
            bodies = [{"model": "chat", "messages": MESSAGES, "max_tokens": 5}] * REQUESTS
            responses = await post_many(
                f"{gateway.base_url}/chat/completions", bodies, concurrency=32
            )
            metrics = httpx.get(f"{gateway.url}/api/reliability/metrics").json()

        ok = sum(1 for r in responses if r.status == 200)
        assert ok >= REQUESTS * 0.999, [r.body for r in responses if r.status != 200][:3]
        bad_stats, good_stats = bad.stats(), good.stats()
        assert good_stats["outcomes"]["ok"] >= ok
        # The bad one was tried (and failed every way), but its breaker kept it to a trickle.
        assert set(bad_stats["outcomes"]) <= {"503", "hang", "reset"}
        assert 3 <= bad_stats["requests"] < REQUESTS * 0.1
        breaker = metrics["circuitBreakers"]["bad"]
        assert breaker["totalOpens"] >= 1
        assert metrics["circuitBreakers"]["good"]["state"] == "CLOSED"
        assert metrics["retryPolicy"]["failovers"] >= 3
