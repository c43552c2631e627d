"""Rolling per-model statistics: what SLOs, alerts and the dashboard read.

Pure bookkeeping with the clock passed in. Time is cut into buckets of
``bucket_seconds``; each model keeps the buckets of the last ``retention``
seconds, so memory is bounded by models x buckets whatever the traffic.
Latencies go into a log-scale histogram (5% wide buckets), so a percentile is
exact to within 5% and costs no sample storage.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["CallOutcome", "LogHistogram", "RollingStats", "WindowSummary"]

_GROWTH = 1.05
_LOG_GROWTH = math.log(_GROWTH)


class LogHistogram:
    """Counts of values (milliseconds) in buckets ``(1.05**(i-1), 1.05**i]``."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts: Counter[int] = Counter()
        self.total = 0

    @staticmethod
    def index(value: float) -> int:
        if value <= 1.0:
            return 0
        return math.ceil(math.log(value) / _LOG_GROWTH - 1e-9)

    def add(self, value: float) -> None:
        self.counts[self.index(value)] += 1
        self.total += 1

    def merge(self, other: LogHistogram) -> None:
        self.counts.update(other.counts)
        self.total += other.total

    def quantile(self, q: float) -> float | None:
        """The upper edge of the bucket holding the ``q`` quantile; ``None`` when empty."""
        if self.total == 0:
            return None
        rank = max(1, math.ceil(q * self.total))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return float(_GROWTH**index) if index else 1.0
        raise AssertionError("unreachable: counts add up to total")


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """What one finished call adds to the window."""

    failed: bool  # a gateway-side failure: status >= 500 or a cut stream
    latency_ms: float
    ttft_ms: float | None = None
    rate_limited: bool = False
    cache: str | None = None  # "hit" or "miss" (other cache statuses are not lookups)
    cost_usd: float = 0.0


@dataclass(slots=True)
class _Bucket:
    requests: int = 0
    failures: int = 0
    rate_limited: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    cost_usd: float = 0.0
    latency: LogHistogram = field(default_factory=LogHistogram)
    ttft: LogHistogram = field(default_factory=LogHistogram)

    def add(self, outcome: CallOutcome) -> None:
        self.requests += 1
        self.failures += outcome.failed
        self.rate_limited += outcome.rate_limited
        if outcome.cache == "hit":
            self.cache_hits += 1
        elif outcome.cache == "miss":
            self.cache_misses += 1
        self.cost_usd += outcome.cost_usd
        self.latency.add(outcome.latency_ms)
        if outcome.ttft_ms is not None:
            self.ttft.add(outcome.ttft_ms)


@dataclass(slots=True)
class WindowSummary:
    """Totals over a window; ratios are ``None`` without data."""

    start: float
    end: float
    requests: int = 0
    failures: int = 0
    rate_limited: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    cost_usd: float = 0.0
    latency: LogHistogram = field(default_factory=LogHistogram)
    ttft: LogHistogram = field(default_factory=LogHistogram)

    def _add(self, bucket: _Bucket) -> None:
        self.requests += bucket.requests
        self.failures += bucket.failures
        self.rate_limited += bucket.rate_limited
        self.cache_hits += bucket.cache_hits
        self.cache_misses += bucket.cache_misses
        self.cost_usd += bucket.cost_usd
        self.latency.merge(bucket.latency)
        self.ttft.merge(bucket.ttft)

    @property
    def error_rate(self) -> float | None:
        return self.failures / self.requests if self.requests else None

    @property
    def success_rate(self) -> float | None:
        return 1 - self.failures / self.requests if self.requests else None

    @property
    def rate_limited_rate(self) -> float | None:
        return self.rate_limited / self.requests if self.requests else None

    @property
    def cache_lookups(self) -> int:
        return self.cache_hits + self.cache_misses

    @property
    def cache_hit_rate(self) -> float | None:
        lookups = self.cache_lookups
        return self.cache_hits / lookups if lookups else None

    def to_json(self) -> dict[str, float | int | None]:
        return {
            "start": self.start,
            "end": self.end,
            "requests": self.requests,
            "failures": self.failures,
            "errorRate": self.error_rate,
            "rateLimited": self.rate_limited,
            "cacheHits": self.cache_hits,
            "cacheMisses": self.cache_misses,
            "cacheHitRate": self.cache_hit_rate,
            "costUsd": round(self.cost_usd, 8),
            "latencyP50Ms": self.latency.quantile(0.50),
            "latencyP95Ms": self.latency.quantile(0.95),
            "latencyP99Ms": self.latency.quantile(0.99),
            "ttftP95Ms": self.ttft.quantile(0.95),
        }


class RollingStats:
    """Buckets per model for the last ``retention`` seconds."""

    def __init__(
        self, *, bucket_seconds: float = 10.0, retention: float = 7200.0, max_models: int = 1000
    ) -> None:
        self.bucket_seconds = bucket_seconds
        self._keep = max(1, math.ceil(retention / bucket_seconds))
        self._max_models = max_models
        self._models: dict[str, dict[int, _Bucket]] = {}
        self._daily_cost: dict[int, float] = {}  # hour index -> USD, for the last 24 h

    def models(self) -> list[str]:
        return sorted(self._models)

    def add(self, now: float, model: str, outcome: CallOutcome) -> None:
        buckets = self._models.get(model)
        if buckets is None:
            if len(self._models) >= self._max_models:
                model = "other"
            buckets = self._models.setdefault(model, {})
        index = int(now // self.bucket_seconds)
        bucket = buckets.get(index)
        if bucket is None:
            bucket = buckets[index] = _Bucket()
            oldest = index - self._keep
            for stale in [i for i in buckets if i <= oldest]:
                del buckets[stale]
        bucket.add(outcome)
        if outcome.cost_usd:
            hour = int(now // 3600)
            if hour not in self._daily_cost:
                for stale in [h for h in self._daily_cost if h <= hour - 24]:
                    del self._daily_cost[stale]
            self._daily_cost[hour] = self._daily_cost.get(hour, 0.0) + outcome.cost_usd

    def summary(
        self, now: float, seconds: float, model: str | None = None, *, end: float | None = None
    ) -> WindowSummary:
        """Totals over ``(end - seconds, end]`` (``end`` defaults to ``now``), one model or all.

        Whole buckets: a bucket belongs to the window when it started inside it.
        """
        end = now if end is None else end
        last = int(end // self.bucket_seconds)
        first = last - max(1, round(seconds / self.bucket_seconds)) + 1
        out = WindowSummary(start=first * self.bucket_seconds, end=end)
        names = [model] if model is not None else list(self._models)
        for name in names:
            buckets = self._models.get(name)
            if not buckets:
                continue
            for index in range(max(first, last - self._keep), last + 1):
                bucket = buckets.get(index)
                if bucket is not None:
                    out._add(bucket)
        return out

    def series(
        self, now: float, seconds: float, step: float, model: str | None = None
    ) -> list[WindowSummary]:
        """Consecutive summaries of ``step`` seconds covering the last ``seconds``."""
        count = max(1, round(seconds / step))
        return [
            self.summary(now, step, model, end=now - (count - 1 - i) * step) for i in range(count)
        ]

    def cost_last_day(self, now: float) -> float:
        hour = int(now // 3600)
        return sum(cost for h, cost in self._daily_cost.items() if hour - 24 < h <= hour)
