"""Prometheus metrics, derived from the call record every request produces.

This module owns ``prometheus_client``. Request metrics are updated once per call
from its :class:`~steadyllm.stores.base.CallRecord` (the record stage's observer);
component state (breakers, cache sizes, shadow, drift...) is read only at scrape
time through custom collectors (see :mod:`steadyllm.telemetry.components`).

Labels are ``model``, ``deployment`` and ``variant`` (plus small fixed sets such as
``status`` and ``error_type``): models come from the config (a name no route
serves is ``unknown``), deployments from the config, variants are capped at
``telemetry.metrics.max_variants`` distinct values (then ``other``). Never a user,
a key or a prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from importlib import metadata
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from steadyllm.stores.base import CallRecord
from steadyllm.telemetry.components import KNOWN_SAMPLES, Sample

__all__ = [
    "CACHE_HITS",
    "CONTENT_TYPE",
    "GatewayMetrics",
    "ScrapeCollector",
    "cache_result",
    "component_families",
    "gauge",
    "is_failure",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CACHE_HITS = frozenset({"hit", "semantic-hit"})
_CACHE_RESULTS = frozenset({"hit", "semantic-hit", "miss", "bypass", "stale"})
_REQUEST_LABELS = ("model", "deployment", "variant")
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120)
_OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)
_TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30)
NONE = "none"


def is_failure(record: CallRecord) -> bool:
    """A failure on the gateway's side: a 5xx, or a stream the upstream cut."""
    return record.status >= 500 or record.stream_outcome == "cut"


def cache_result(status: str | None) -> str | None:
    """The ``result`` label for a record's cache status (``None``: no cache stage ran)."""
    if status is None:
        return None
    return status if status in _CACHE_RESULTS else "other"


class _Series:
    """The metric children of one (model, deployment, variant), looked up once."""

    __slots__ = (
        "cache_results",
        "cost",
        "duration",
        "failures",
        "fallbacks",
        "input_tokens",
        "output_tokens",
        "overhead",
        "retries",
        "statuses",
        "truncations",
        "ttft",
        "unpriced",
    )

    def __init__(self, m: GatewayMetrics, labels: tuple[str, str, str]) -> None:
        self.duration = m.duration.labels(*labels)
        self.overhead = m.overhead.labels(*labels)
        self.ttft = m.ttft.labels(*labels)
        self.input_tokens = m.tokens.labels(*labels, "input")
        self.output_tokens = m.tokens.labels(*labels, "output")
        self.cost = m.cost.labels(*labels)
        self.unpriced = m.unpriced.labels(*labels)
        self.failures = m.failures.labels(*labels)
        self.retries = m.retries.labels(*labels)
        self.fallbacks = m.fallbacks.labels(*labels)
        self.truncations = m.truncations.labels(*labels)
        # Children of the counters with one more label, by that label, as they appear.
        self.statuses: dict[int, Any] = {}  # steadyllm_requests by HTTP status
        self.cache_results: dict[str, Any] = {}  # steadyllm_cache_lookups by result


class GatewayMetrics:
    """One gateway's metrics, in a registry of its own (several gateways per process)."""

    def __init__(self, models: Iterable[str], *, max_variants: int = 50) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._models = frozenset(models)
        self._max_variants = max_variants
        self._variants: set[str] = set()
        self._series: dict[tuple[str, str, str], _Series] = {}
        r = self.registry
        labels = _REQUEST_LABELS
        self.requests = Counter(
            "steadyllm_requests", "Requests by HTTP status.", [*labels, "status"], registry=r
        )
        self.failures = Counter(
            "steadyllm_request_failures",
            "Requests that failed on the gateway's side (5xx or a cut stream).",
            labels,
            registry=r,
        )
        self.errors = Counter(
            "steadyllm_errors",
            "Failed requests by error type.",
            [*labels, "error_type"],
            registry=r,
        )
        self.duration = Histogram(
            "steadyllm_request_duration_seconds",
            "Time from request to response (streams: to the last chunk).",
            labels,
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.overhead = Histogram(
            "steadyllm_gateway_overhead_seconds",
            "Time spent in the gateway itself (request duration minus upstream waits).",
            labels,
            buckets=_OVERHEAD_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "steadyllm_time_to_first_token_seconds",
            "Streams: time from request to the first content token.",
            labels,
            buckets=_TTFT_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "steadyllm_tokens", "Tokens by type (input, output).", [*labels, "type"], registry=r
        )
        self.cost = Counter("steadyllm_cost_usd", "Cost of calls in USD.", labels, registry=r)
        self.unpriced = Counter(
            "steadyllm_unpriced_requests",
            "Answered calls with no price configured (recorded with no cost).",
            labels,
            registry=r,
        )
        self.cache = Counter(
            "steadyllm_cache_lookups",
            "Cache lookups by result (hit, semantic-hit, miss, bypass, stale).",
            ["model", "variant", "result"],
            registry=r,
        )
        self.retries = Counter(
            "steadyllm_retries", "Extra attempts made after a first one.", labels, registry=r
        )
        self.fallbacks = Counter(
            "steadyllm_fallbacks",
            "Moves to another deployment within one request.",
            labels,
            registry=r,
        )
        self.rate_limited = Counter(
            "steadyllm_rate_limited",
            "Requests refused by the gateway's own limits (429).",
            ["model", "variant"],
            registry=r,
        )
        self.truncations = Counter(
            "steadyllm_stream_truncations",
            "Streams the upstream cut after they started (the client got an error event).",
            labels,
            registry=r,
        )
        self.in_flight = Gauge(
            "steadyllm_requests_in_flight", "Requests being handled now.", registry=r
        )
        ProcessCollector(registry=r)

    # --- the request path ---------------------------------------------------------------

    def model_label(self, model: str) -> str:
        return model if model in self._models else "unknown"

    def variant_label(self, variant: str | None) -> str:
        if variant is None:
            return NONE
        if variant in self._variants:
            return variant
        if len(self._variants) >= self._max_variants:
            return "other"
        self._variants.add(variant)
        return variant

    def observe(self, record: CallRecord) -> None:
        """Count one finished call."""
        model = self.model_label(record.model)
        variant = self.variant_label(record.variant)
        deployment = record.deployment or NONE
        key = (model, deployment, variant)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series(self, key)
        requests = series.statuses.get(record.status)
        if requests is None:
            requests = self.requests.labels(model, deployment, variant, str(record.status))
            series.statuses[record.status] = requests
        requests.inc()
        series.duration.observe(record.latency_ms / 1000)
        series.overhead.observe(record.overhead_ms / 1000)
        if record.ttft_ms is not None:
            series.ttft.observe(record.ttft_ms / 1000)
        if record.input_tokens:
            series.input_tokens.inc(record.input_tokens)
        if record.output_tokens:
            series.output_tokens.inc(record.output_tokens)
        if record.cost_usd:
            series.cost.inc(record.cost_usd)
        elif record.cost_usd is None and record.status < 400 and record.deployment:
            series.unpriced.inc()
        if is_failure(record):
            series.failures.inc()
        if record.error_type is not None:
            self.errors.labels(model, deployment, variant, record.error_type).inc()
            if record.error_type == "rate_limit_error":
                self.rate_limited.labels(model, variant).inc()
        if record.attempts > 1:
            series.retries.inc(record.attempts - 1)
        moves = len(dict.fromkeys(record.fallback_path)) - 1
        if moves > 0:
            series.fallbacks.inc(moves)
        if record.stream_outcome == "cut":
            series.truncations.inc()
        result = cache_result(record.cache_status)
        if result is not None:
            lookups = series.cache_results.get(result)
            if lookups is None:
                lookups = series.cache_results[result] = self.cache.labels(model, variant, result)
            lookups.inc()

    # --- scraping -----------------------------------------------------------------------

    def add_collector(self, collector: Collector) -> None:
        self.registry.register(collector)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class ScrapeCollector(Collector):
    """Families built when Prometheus (or the dashboard) reads: state, not events."""

    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self._collect = collect

    def describe(self) -> list[Metric]:
        return []  # unchecked: what it yields depends on the components present

    def collect(self) -> Iterator[Metric]:
        yield from self._collect()
        info = GaugeMetricFamily("steadyllm_info", "Build information.", labels=["version"])
        info.add_metric([_version()], 1.0)
        yield info


def gauge(
    name: str, help_text: str, rows: Iterable[tuple[dict[str, str], float]]
) -> GaugeMetricFamily:
    """A gauge family ``steadyllm_<name>`` from ``(labels, value)`` rows."""
    rows = list(rows)
    label_names = sorted({key for labels, _ in rows for key in labels})
    family = GaugeMetricFamily(f"steadyllm_{name}", help_text, labels=label_names)
    for labels, value in rows:
        family.add_metric([labels.get(key, "") for key in label_names], value)
    return family


def component_families(samples: list[Sample]) -> Iterator[Metric]:
    """Prometheus families from components' snapshots (see ``components``)."""
    grouped: dict[str, list[Sample]] = {}
    for sample in samples:
        grouped.setdefault(sample.name, []).append(sample)
    for name, rows in grouped.items():
        help_text = KNOWN_SAMPLES.get(name, f"Reported by a gateway component ({name}).")
        label_names = sorted({key for row in rows for key, _ in row.labels})
        family: Metric
        if name.endswith("_total"):
            family = CounterMetricFamily(f"steadyllm_{name[:-6]}", help_text, labels=label_names)
        else:
            family = GaugeMetricFamily(f"steadyllm_{name}", help_text, labels=label_names)
        for row in rows:
            values = row.label_map
            family.add_metric([values.get(key, "") for key in label_names], row.value)
        yield family


def _version() -> str:
    try:
        return metadata.version("steadyllm")
    except metadata.PackageNotFoundError:
        return "unknown"
