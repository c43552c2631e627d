"""Budget alerts: delivered to webhooks, logged, counted, and sent once per event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web

from steadyllm.alerts.budget import BudgetAlerts
from steadyllm.keys.settings import AlertSettings
from steadyllm.limits.rules import Rule
from steadyllm.policy.spend_spike import is_spike, usual_level
from steadyllm.stores.memory import MemoryCounterStore
from tests.limits.conftest import Clock

USER_BUDGET = Rule(
    "fixed", "budget_per_day", "usd:4:acme:ana:20231114", 5.0, 0.1, 1, "user", settles="cost"
)
SYSTEM_BUDGET = Rule(
    "fixed", "budget_per_day", "usd:global:20231114", 100.0, 0.1, 1, "global", settles="cost"
)


async def no_wait(seconds: float) -> None:
    await asyncio.sleep(0)


class Hook:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.fail_first = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        if self.fail_first > 0:
            self.fail_first -= 1
            return web.Response(status=503)
        self.received.append(orjson.loads(await request.read()))
        return web.Response(status=204)


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    target = Hook()
    app = web.Application()
    app.router.add_post("/hook", target.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    target.url = f"http://127.0.0.1:{port}/hook"
    yield target
    await runner.cleanup()


async def test_budget_alerts_are_delivered_once_per_event(hook: Hook) -> None:
    counters = MemoryCounterStore()
    alerts = BudgetAlerts(AlertSettings(webhooks=[hook.url]), counters, clock=Clock())
    other_replica = BudgetAlerts(AlertSettings(webhooks=[hook.url]), counters, clock=Clock())
    alerts.start()
    other_replica.start()
    for _ in range(5):
        alerts.budget_exceeded(USER_BUDGET, None)
        other_replica.budget_exceeded(USER_BUDGET, 5.01)
    alerts.budget_exceeded(SYSTEM_BUDGET, 100.2)
    await alerts.stop()
    await other_replica.stop()
    events = sorted((e["event"], e["subject"]) for e in hook.received)
    assert events == [("system_budget_exceeded", "global"), ("user_budget_exceeded", "4:acme:ana")]
    assert alerts.sent + other_replica.sent == 2
    assert alerts.raised["user_budget_exceeded"] + other_replica.raised["user_budget_exceeded"] == 1
    assert hook.received[0]["type"] == "steadyllm.budget_alert"


async def test_a_failing_webhook_is_retried_then_counted(
    hook: Hook, caplog: pytest.LogCaptureFixture
) -> None:
    hook.fail_first = 1
    alerts = BudgetAlerts(
        AlertSettings(webhooks=[hook.url], attempts=2), MemoryCounterStore(), sleep=no_wait
    )
    alerts.start()
    alerts.budget_exceeded(USER_BUDGET, None)
    await alerts.stop()
    assert (alerts.sent, alerts.failed, len(hook.received)) == (1, 0, 1)

    hook.fail_first = 5
    failing = BudgetAlerts(
        AlertSettings(webhooks=[hook.url], attempts=2), MemoryCounterStore(), sleep=no_wait
    )
    failing.start()
    with caplog.at_level("ERROR", logger="steadyllm.alerts"):
        failing.budget_exceeded(SYSTEM_BUDGET, None)
        await failing.stop()
    assert (failing.sent, failing.failed) == (0, 1)
    assert "not delivered" in caplog.text


async def test_a_full_queue_drops_and_counts() -> None:
    alerts = BudgetAlerts(AlertSettings(queue_size=1), MemoryCounterStore())
    alerts.budget_exceeded(USER_BUDGET, None)
    alerts.budget_exceeded(SYSTEM_BUDGET, None)  # not started: nothing drains the queue
    assert alerts.dropped == 1


async def test_an_hour_over_ten_times_usual_is_a_spike(hook: Hook) -> None:
    clock = Clock()
    counters = MemoryCounterStore()
    settings = AlertSettings(webhooks=[hook.url], spike_min_usd=0.5, spike_baseline_hours=4)
    for back in range(1, 5):  # the usual level: $1 an hour
        from steadyllm.policy.rate_window import hour_period

        await counters.incr(f"spend:hour:{hour_period(clock.now, back)}", 1.0)
    alerts = BudgetAlerts(settings, counters, clock=clock)
    alerts.spent(9.0)
    await alerts._flush_spend()
    assert alerts._queue.empty()  # $9 is not over 10 x $1
    alerts.spent(2.0)
    alerts.spent(0.5)
    await alerts._flush_spend()
    alerts.spent(5.0)
    await alerts._flush_spend()  # the same hour alerts once
    alerts.start()
    await alerts.stop()
    assert [(e["event"], e["amount_usd"]) for e in hook.received] == [("cost_spike", 11.5)]
    assert hook.received[0]["threshold_usd"] == pytest.approx(10.0)


async def test_without_webhooks_spend_is_not_tracked() -> None:
    alerts = BudgetAlerts(AlertSettings(), MemoryCounterStore())
    alerts.spent(100.0)
    assert alerts._pending_spend == 0.0


@pytest.mark.parametrize(
    ("hour", "previous", "spike"),
    [
        (10.0, [1.0] * 24, False),
        (10.01, [1.0] * 24, True),
        (5.0, [0.0] * 24, False),
        (0.0, [], False),
    ],
)
def test_spike_policy(hour: float, previous: list[float], spike: bool) -> None:
    assert is_spike(hour, previous, factor=10, floor=1.0) is spike
    assert usual_level(previous, 1.0) >= 1.0


async def test_stop_without_start_is_harmless() -> None:
    await BudgetAlerts(AlertSettings(), MemoryCounterStore()).stop()
    await asyncio.sleep(0)
