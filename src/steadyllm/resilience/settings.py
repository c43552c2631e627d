"""The ``resilience`` section of the settings: retries, budget, breakers, balancing.

Every key has a default, so a config without the section behaves as documented in
``docs/RESILIENCE.md``. ``models`` and ``deployments`` override the retry policy,
the breaker and (per model) the balancing strategy by name; a retry override may be
just a preset name (``retry: aggressive``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from steadyllm.policy.backoff import PRESETS, BackoffPolicy, PresetName
from steadyllm.policy.balancing import Strategy
from steadyllm.policy.breaker import BreakerPolicy
from steadyllm.policy.retry_budget import BudgetPolicy

__all__ = [
    "BreakerSettings",
    "BudgetSettings",
    "HedgingSettings",
    "OverrideSettings",
    "ResilienceSettings",
    "RetrySettings",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _preset_shorthand(value: Any) -> Any:
    return {"preset": value} if isinstance(value, str) else value


class RetrySettings(_Strict):
    """A preset, with any of its numbers overridden."""

    preset: PresetName = "standard"
    max_retries: int | None = Field(None, ge=0, le=100)
    initial_delay: float | None = Field(None, ge=0)
    max_delay: float | None = Field(None, ge=0)
    multiplier: float | None = Field(None, ge=1)
    jitter_factor: float = Field(0.1, ge=0, le=1)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return _preset_shorthand(value)

    def policy(self) -> BackoffPolicy:
        base = PRESETS[self.preset]
        return BackoffPolicy(
            max_retries=base.max_retries if self.max_retries is None else self.max_retries,
            initial_delay=base.initial_delay if self.initial_delay is None else self.initial_delay,
            max_delay=base.max_delay if self.max_delay is None else self.max_delay,
            multiplier=base.multiplier if self.multiplier is None else self.multiplier,
            jitter_factor=self.jitter_factor,
        )


class BudgetSettings(_Strict):
    max_retries_per_window: int = Field(10, ge=0)
    window: float = Field(60.0, gt=0)
    ratio: float = Field(0.2, ge=0)
    min_retries: int = Field(5, ge=0)

    def policy(self) -> BudgetPolicy:
        return BudgetPolicy(
            max_retries_per_window=self.max_retries_per_window,
            ratio=self.ratio,
            min_retries=self.min_retries,
            window=self.window,
        )


class BreakerSettings(_Strict):
    enabled: bool = True
    failure_threshold: int = Field(5, ge=1)
    mode: Literal["consecutive", "rate"] = "consecutive"
    failure_rate: float = Field(0.5, gt=0, le=1)
    minimum_requests: int = Field(10, ge=1)
    window: float = Field(60.0, gt=0)
    recovery_timeout: float = Field(60.0, gt=0)
    half_open_max_attempts: int = Field(1, ge=1)
    success_threshold: int = Field(1, ge=1)

    def policy(self) -> BreakerPolicy:
        return BreakerPolicy(
            failure_threshold=self.failure_threshold,
            mode=self.mode,
            failure_rate=self.failure_rate,
            minimum_requests=self.minimum_requests,
            window=self.window,
            recovery_timeout=self.recovery_timeout,
            half_open_max_attempts=self.half_open_max_attempts,
            success_threshold=self.success_threshold,
        )


class HedgingSettings(_Strict):
    """A second attempt on another deployment when the first is slow (off by default)."""

    enabled: bool = False
    delay: float | None = Field(None, gt=0)  # fixed seconds; None: the deployment's quantile
    quantile: float = Field(0.95, gt=0, lt=1)
    min_samples: int = Field(20, ge=1)  # latencies needed before the quantile is trusted


class OverrideSettings(_Strict):
    retry: RetrySettings | None = None
    breaker: BreakerSettings | None = None
    balancing: Strategy | None = None


class ResilienceSettings(_Strict):
    retry: RetrySettings = RetrySettings()
    retry_after_cap: float = Field(30.0, ge=0)
    deadline: float = Field(120.0, gt=0)  # seconds for all attempts of one request
    failover_first: bool = True
    budget: BudgetSettings = BudgetSettings()
    breaker: BreakerSettings = BreakerSettings()
    balancing: Strategy = "weighted"
    latency_alpha: float = Field(0.2, gt=0, le=1)  # EWMA weight of a new latency sample
    latency_stale_after: float = Field(30.0, gt=0)  # older figures count as unknown
    hedging: HedgingSettings = HedgingSettings()
    unavailable_retry_after: float = Field(1.0, gt=0)
    context_window_fallbacks: dict[str, str] = Field(default_factory=dict)
    content_policy_fallbacks: dict[str, str] = Field(default_factory=dict)
    models: dict[str, OverrideSettings] = Field(default_factory=dict)
    deployments: dict[str, OverrideSettings] = Field(default_factory=dict)

    def retry_for(self, model: str, deployment: str) -> RetrySettings:
        chosen = self.retry
        for override in (self.models.get(model), self.deployments.get(deployment)):
            if override is None or override.retry is None:
                continue
            explicit = override.retry.model_dump(exclude_unset=True)
            # A new preset starts fresh, not from the global numbers.
            fresh = "preset" in explicit
            chosen = override.retry if fresh else chosen.model_copy(update=explicit)
        return chosen

    def breaker_for(self, model: str, deployment: str) -> BreakerSettings:
        chosen = self.breaker
        for override in (self.models.get(model), self.deployments.get(deployment)):
            if override is not None and override.breaker is not None:
                chosen = chosen.model_copy(update=override.breaker.model_dump(exclude_unset=True))
        return chosen

    def balancing_for(self, model: str) -> Strategy:
        override = self.models.get(model)
        if override is not None and override.balancing is not None:
            return override.balancing
        return self.balancing
