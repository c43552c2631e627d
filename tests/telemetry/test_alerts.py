"""Alert rules: conditions, pending -> firing -> resolved, dedup, webhooks."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from steadyllm.gateway import Gateway
from steadyllm.stores.base import CallRecord
from steadyllm.telemetry.alerts import AlertBook, conditions
from steadyllm.telemetry.components import Sample
from steadyllm.telemetry.settings import AlertSettings
from steadyllm.telemetry.window import CallOutcome, RollingStats

SETTINGS = AlertSettings(daily_budget_usd=1.0)


def rules(stats: RollingStats, now: float, samples: list[Sample] | None = None) -> set[str]:
    found = conditions(now, stats, stats.models(), samples or [], SETTINGS)
    return {c.rule for c in found}


def add(stats: RollingStats, now: float, n: int, **outcome: Any) -> None:
    for _ in range(n):
        stats.add(now, "fast", CallOutcome(**{"failed": False, "latency_ms": 100.0, **outcome}))


def test_each_rule_and_its_threshold() -> None:
    stats = RollingStats()
    add(stats, 0.0, 19)
    add(stats, 0.0, 1, failed=True)  # exactly 5%: not over
    assert rules(stats, 0.0) == set()
    add(stats, 0.0, 1, failed=True)
    assert rules(stats, 0.0) == {"SteadyllmHighErrorRate"}

    stats = RollingStats()
    add(stats, 0.0, 10, latency_ms=12_000.0)
    add(stats, 0.0, 10, rate_limited=True)
    add(stats, 0.0, 10, cache="hit")
    add(stats, 0.0, 11, cache="miss")
    add(stats, 0.0, 1, cost_usd=1.5)
    breaker = [Sample("breaker_state", (("deployment", "d1"),), 2.0)]
    assert rules(stats, 0.0, breaker) == {
        "SteadyllmHighLatencyP99",
        "SteadyllmHighRateLimitRefusals",
        "SteadyllmLowCacheHitRate",
        "SteadyllmDailyCostOverBudget",
        "SteadyllmCircuitBreakerOpen",
    }


def test_too_little_traffic_raises_nothing() -> None:
    stats = RollingStats()
    add(stats, 0.0, 3, failed=True)
    assert rules(stats, 0.0) == set()


def test_pending_firing_resolved_once_each() -> None:
    stats = RollingStats()
    book = AlertBook(repeat_interval=3600)
    add(stats, 0.0, 20, failed=True)
    assert book.update(0.0, conditions(0.0, stats, ["fast"], [], SETTINGS)) == []
    assert [a.state for a in book.current()] == ["pending"]
    assert book.update(200.0, conditions(200.0, stats, ["fast"], [], SETTINGS)) == []
    add(stats, 250.0, 20, failed=True)
    fired = book.update(300.0, conditions(300.0, stats, ["fast"], [], SETTINGS))
    assert [(a.rule, a.state) for a in fired] == [("SteadyllmHighErrorRate", "firing")]
    assert book.update(310.0, conditions(310.0, stats, ["fast"], [], SETTINGS)) == []  # dedup
    add(stats, 900.0, 50)
    resolved = book.update(900.0, conditions(900.0, stats, ["fast"], [], SETTINGS))
    assert [(a.rule, a.state, a.resolved_at) for a in resolved] == [
        ("SteadyllmHighErrorRate", "resolved", 900.0)
    ]
    assert book.current() == []
    assert len(book.history) == 1


def test_a_condition_that_clears_while_pending_says_nothing() -> None:
    book = AlertBook(repeat_interval=3600)
    stats = RollingStats()
    add(stats, 0.0, 20, failed=True)
    book.update(0.0, conditions(0.0, stats, ["fast"], [], SETTINGS))
    assert book.update(400.0, conditions(400.0, stats, ["fast"], [], SETTINGS)) == []
    assert book.current() == []


def test_firing_alerts_repeat_after_the_interval() -> None:
    book = AlertBook(repeat_interval=100)
    stats = RollingStats()
    add(stats, 0.0, 1, cost_usd=2.0)
    assert len(book.update(0.0, conditions(0.0, stats, ["fast"], [], SETTINGS))) == 1
    assert book.update(50.0, conditions(50.0, stats, ["fast"], [], SETTINGS)) == []
    assert len(book.update(100.0, conditions(100.0, stats, ["fast"], [], SETTINGS))) == 1


async def test_webhooks_get_firing_and_resolved_once() -> None:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    now = [10_000.0]
    config = {
        "store": {"url": "memory://"},
        "telemetry": {
            "alerts": {
                "webhooks": [f"http://127.0.0.1:{port}/hook"],
                "error_rate_for": 60,
            }
        },
    }
    try:
        gateway = Gateway.from_config(config)
        gateway.telemetry.clock = lambda: now[0]
        async with gateway:
            telemetry = gateway.telemetry
            failing = CallRecord(
                id="r",
                request_id="q",
                created_at=0,
                kind="chat",
                model="fast",
                status=502,
                error_type="upstream_status",
                latency_ms=50.0,
            )
            for _ in range(20):
                telemetry.begin(None)  # type: ignore[arg-type]
                telemetry.finish(None, None, failing)  # type: ignore[arg-type]
            assert telemetry.in_flight == 0
            await telemetry.evaluate()
            now[0] += 61
            await telemetry.evaluate()
            now[0] += 30
            await telemetry.evaluate()  # still firing: no second message
            now[0] += 600
            await telemetry.evaluate()
    finally:
        await runner.cleanup()
    assert [body["status"] for body in received] == ["firing", "resolved"]
    alert = received[0]["alerts"][0]
    assert alert["labels"] == {
        "alertname": "SteadyllmHighErrorRate", "severity": "critical", "model": "fast"
    }  # fmt: skip
    assert received[1]["alerts"][0]["endsAt"] is not None
