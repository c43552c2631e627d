"""The ``telemetry`` section of the config: metrics, traces, logs, health, SLOs, alerts.

Every field has a default, so a config without the section gets Prometheus metrics
(admin-guarded), health checks, SLO tracking with the defaults below, in-process
alerts with no webhook, plain-text logs, and no tracing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AlertSettings",
    "HealthSettings",
    "LogSettings",
    "MetricsSettings",
    "ResourceTargets",
    "SloSettings",
    "SloTargets",
    "TelemetrySettings",
    "TracingSettings",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricsSettings(_Strict):
    # Serve /metrics without the admin key (Prometheus scrapes without credentials).
    public: bool = False
    max_variants: int = Field(50, ge=1)  # distinct variant labels; more become "other"


class TracingSettings(_Strict):
    enabled: bool = False
    exporter: Literal["otlp", "console", "none"] = "otlp"
    endpoint: str = "http://127.0.0.1:4318/v1/traces"  # OTLP over HTTP/protobuf
    headers: dict[str, str] = Field(default_factory=dict)
    service_name: str = "steadyllm"
    sample_ratio: float = Field(1.0, ge=0, le=1)


class LogSettings(_Strict):
    format: Literal["text", "json"] = "text"
    # One line per request on the ``steadyllm.requests`` logger; None: on with format json.
    requests: bool | None = None
    include_content: bool = False  # prompts and answers in the request line


class HealthSettings(_Strict):
    cache_seconds: float = Field(5.0, ge=0)  # a check result is reused this long
    timeout: float = Field(2.0, gt=0)  # one dependency check
    database_weight: float = Field(3.0, gt=0)
    database_critical: bool = True
    redis_weight: float = Field(2.0, gt=0)
    redis_critical: bool = False
    # Opt-in: a minimal request (max_tokens 1) to every deployment. It costs tokens.
    provider_checks: bool = False
    provider_interval: float = Field(300.0, gt=0)
    provider_timeout: float = Field(10.0, gt=0)
    provider_weight: float = Field(1.0, gt=0)
    provider_critical: bool = False
    process_weight: float = Field(1.0, gt=0)
    max_memory_percent: float = Field(90.0, gt=0, le=100)  # of the machine, above: degraded
    max_disk_percent: float = Field(95.0, gt=0, le=100)
    disk_path: str = "."


class SloTargets(_Strict):
    """Objectives for one model; ``None`` leaves an objective out."""

    success_rate: float | None = Field(0.99, ge=0, le=1)
    latency_p95_ms: float | None = Field(5_000.0, gt=0)
    latency_p99_ms: float | None = Field(10_000.0, gt=0)
    ttft_p95_ms: float | None = Field(2_000.0, gt=0)


class ResourceTargets(_Strict):
    cpu_percent: float | None = Field(90.0, gt=0)  # of one core, for this process
    memory_mb: float | None = Field(2_048.0, gt=0)  # resident set of this process


class SloSettings(_Strict):
    windows: list[int] = Field(default_factory=lambda: [300, 3600], min_length=1)  # seconds
    default: SloTargets = SloTargets()
    models: dict[str, SloTargets] = Field(default_factory=dict)
    resources: ResourceTargets = ResourceTargets()
    min_requests: int = Field(10, ge=1)  # fewer in a window: "not enough data"
    history: int = Field(500, ge=1)  # violations kept


class AlertSettings(_Strict):
    enabled: bool = True
    interval: float = Field(15.0, gt=0)  # seconds between evaluations (alerts and SLOs)
    webhooks: list[str] = Field(default_factory=list)
    webhook_timeout: float = Field(5.0, gt=0)
    repeat_interval: float = Field(4 * 3600.0, gt=0)  # re-send a firing alert this often
    min_requests: int = Field(10, ge=1)  # ratio rules need this many events in the window
    error_rate: float = Field(0.05, ge=0, le=1)
    error_rate_for: float = Field(300.0, ge=0)
    latency_p99_ms: float = Field(10_000.0, gt=0)
    latency_for: float = Field(300.0, ge=0)
    breaker_open_for: float = Field(300.0, ge=0)
    daily_budget_usd: float | None = Field(None, gt=0)  # None: no cost alert
    cache_hit_rate: float = Field(0.5, ge=0, le=1)
    cache_for: float = Field(900.0, ge=0)
    rate_limited: float = Field(0.10, ge=0, le=1)
    rate_limited_for: float = Field(300.0, ge=0)


class TelemetrySettings(_Strict):
    metrics: MetricsSettings = MetricsSettings()
    tracing: TracingSettings = TracingSettings()
    logs: LogSettings = LogSettings()
    health: HealthSettings = HealthSettings()
    slo: SloSettings = SloSettings()
    alerts: AlertSettings = AlertSettings()

    def slo_targets(self, model: str) -> SloTargets:
        return self.slo.models.get(model, self.slo.default)
