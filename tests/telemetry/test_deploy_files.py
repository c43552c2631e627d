"""deploy/: the Prometheus rules mirror the in-process rules; every metric they and the
Grafana dashboard use is one the gateway exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from steadyllm.gateway import Gateway
from steadyllm.telemetry import alerts
from steadyllm.telemetry.components import KNOWN_SAMPLES

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
_METRIC = re.compile(r"\b(steadyllm_[a-z_]+|process_[a-z_]+)")


async def _exported() -> set[str]:
    async with Gateway.from_config({"store": {"url": "memory://"}}) as gateway:
        await gateway.telemetry.health.report()  # health gauges appear once checks ran
        names = {m.name for m in gateway.telemetry.metrics.registry.collect()}
    names |= {f"steadyllm_{n.removesuffix('_total')}" for n in KNOWN_SAMPLES}
    return names


def _family(name: str) -> str:
    for suffix in ("_bucket", "_count", "_sum", "_total"):
        name = name.removesuffix(suffix)
    return name


def test_rules_match_the_in_process_rules() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())["groups"][0]
    names = {rule["alert"] for rule in rules["rules"]}
    in_process = set(re.findall(r'"(Steadyllm[A-Za-z0-9]+)"', Path(alerts.__file__).read_text()))
    assert names == in_process
    assert len(names) == 6
    durations = {rule["alert"]: rule.get("for") for rule in rules["rules"]}
    assert durations["SteadyllmHighErrorRate"] == "5m"
    assert durations["SteadyllmLowCacheHitRate"] == "15m"


async def test_every_metric_used_is_exported() -> None:
    exported = await _exported()
    used = set(_METRIC.findall((DEPLOY / "prometheus" / "rules.yml").read_text()))
    dashboard = json.loads((DEPLOY / "grafana" / "steadyllm.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used |= set(_METRIC.findall(target["expr"]))
    missing = {name for name in used if _family(name) not in exported}
    assert not missing
