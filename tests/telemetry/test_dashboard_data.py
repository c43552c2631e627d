"""The dashboard's data: component snapshots become breakers, shadow, drift panels."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from steadyllm.gateway import Gateway
from steadyllm.server.dashboard import dashboard_summary


class FakeComponents:
    def telemetry_snapshot(self) -> Iterator[tuple[str, Mapping[str, str], float]]:
        yield ("breaker_state", {"deployment": "fast/a#0"}, 2.0)
        yield ("breaker_state", {"deployment": "fast/b#1"}, 0.0)
        yield ("breaker_transitions_total", {"deployment": "fast/a#0", "to": "open"}, 3.0)
        yield ("shadow_active", {"model": "fast", "variant": "casual"}, 1.0)
        yield ("experiments_active", {}, 2.0)
        yield ("drift_detected", {"variant": "baseline"}, 1.0)
        yield ("drift_severity", {"variant": "baseline"}, 2.0)


class Broken:
    def telemetry_snapshot(self) -> Iterator[tuple[str, Mapping[str, str], float]]:
        yield ("cache_entries", {"user": "alice"}, 1.0)  # not an allowed label


async def test_components_reach_dashboard_metrics_and_health() -> None:
    async with Gateway.from_config({"store": {"url": "memory://"}}) as gateway:
        gateway.telemetry.sources += [FakeComponents(), Broken()]
        summary = dashboard_summary(gateway)
        metrics = gateway.telemetry.metrics.render().decode()
        health = await gateway.telemetry.health.report()
    assert summary["breakers"] == [
        {"deployment": "fast/a#0", "state": "open"},
        {"deployment": "fast/b#1", "state": "closed"},
    ]
    assert summary["shadow"] == [
        {"name": "shadow_active", "labels": {"model": "fast", "variant": "casual"}, "value": 1.0}
    ]
    assert summary["experiments"][0]["value"] == 2.0
    assert summary["drift"] == [{"variant": "baseline", "detected": True, "severity": "medium"}]
    assert 'steadyllm_breaker_state{deployment="fast/a#0"} 2.0' in metrics
    assert 'steadyllm_breaker_transitions_total{deployment="fast/a#0",to="open"} 3.0' in metrics
    assert "alice" not in metrics
    assert health.status == "healthy"


async def test_nothing_configured() -> None:
    async with Gateway.from_config({"store": {"url": "memory://"}}) as gateway:
        summary = dashboard_summary(gateway)
    assert summary["shadow"] is None
    assert summary["drift"] is None
    assert summary["experiments"] is None
    assert summary["last5m"]["requests"] == 0
