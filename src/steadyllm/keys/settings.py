"""Settings of the ``access`` section: keys, tiers, limits, budgets, pricing, alerts.

Read once at startup. Limits apply by key tier; calls without a key (the quick
start) are limited only by ``anonymous`` and ``global_limits``, both off unless set
(``global_limits`` takes the plan's defaults when ``require_keys`` is true).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "PLAN_GLOBAL_LIMITS",
    "AccessSettings",
    "AlertSettings",
    "GlobalLimits",
    "Limits",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Strict):
    """Limits of one key, tier or anonymous caller; ``None`` means no limit.

    A key's own ``limits`` override its tier's field by field.
    """

    requests_per_minute: int | None = Field(None, gt=0)
    requests_per_hour: int | None = Field(None, gt=0)
    requests_per_day: int | None = Field(None, gt=0)
    tokens_per_minute: int | None = Field(None, gt=0)
    budget_per_day: float | None = Field(None, ge=0)  # USD, per user (UTC day)

    def over(self, base: Limits) -> Limits:
        """These limits where set, ``base``'s elsewhere."""
        mine = self.model_dump(exclude_none=True)
        return base.model_copy(update=mine) if mine else base

    @property
    def empty(self) -> bool:
        return all(value is None for value in self.model_dump().values())


class GlobalLimits(_Strict):
    """Limits on the whole gateway (every replica together); ``None``: no limit."""

    max_concurrent: int | None = Field(None, gt=0)
    requests_per_hour: int | None = Field(None, gt=0)
    budget_per_day: float | None = Field(None, ge=0)  # USD, UTC day


# The production-readiness plan's figures: applied when keys are required and the
# config names no global limits of its own.
PLAN_GLOBAL_LIMITS = GlobalLimits(max_concurrent=100, requests_per_hour=1000, budget_per_day=100.0)


class AlertSettings(_Strict):
    """Budget alerts: user or system over its daily budget, an hourly cost spike."""

    webhooks: list[str] = Field(default_factory=list)  # POSTed a JSON event each
    spike_factor: float = Field(10.0, gt=1)  # an hour's cost over this many times usual
    spike_min_usd: float = Field(1.0, ge=0)  # the usual level is taken as at least this
    spike_baseline_hours: int = Field(24, ge=1, le=168)
    timeout: float = Field(5.0, gt=0)  # seconds per delivery attempt
    attempts: int = Field(3, ge=1, le=10)
    queue_size: int = Field(1000, gt=0)  # past it, an alert is dropped and counted


def _default_tiers() -> dict[str, Limits]:
    return {
        "free": Limits(
            requests_per_minute=10,
            requests_per_hour=100,
            requests_per_day=500,
            tokens_per_minute=40_000,
            budget_per_day=5.0,
        ),
        "premium": Limits(
            requests_per_minute=60,
            requests_per_hour=1_000,
            requests_per_day=10_000,
            tokens_per_minute=400_000,
            budget_per_day=50.0,
        ),
    }


class AccessSettings(_Strict):
    require_keys: bool = False  # true: a call without a valid key gets 401
    default_tier: str = "free"  # the tier of a key created without one
    tiers: dict[str, Limits] = Field(default_factory=_default_tiers)
    anonymous: Limits = Limits()  # calls without a key, per tenant and user
    global_limits: GlobalLimits | None = None  # None: PLAN_GLOBAL_LIMITS if require_keys
    on_counter_failure: Literal["open", "closed"] = "open"  # Redis down: local limits, or 503
    counter_timeout: float = Field(2.0, gt=0)  # seconds for one Redis limit call
    key_cache_seconds: float = Field(5.0, ge=0)  # how long a replica trusts a looked-up key
    default_output_tokens: int = Field(1024, gt=0)  # estimate when max_tokens is not sent
    concurrency_lease_seconds: float = Field(900.0, gt=0)  # a crashed replica's slots free after
    price_catalog: bool = True  # price deployments without a config price from genai-prices
    alerts: AlertSettings = AlertSettings()

    @model_validator(mode="after")
    def _check_tiers(self) -> AccessSettings:
        if self.default_tier not in self.tiers:
            raise ValueError(
                f"default_tier: {self.default_tier!r} is not one of the tiers "
                f"({', '.join(sorted(self.tiers)) or 'none defined'})"
            )
        return self

    def effective_global_limits(self) -> GlobalLimits:
        if self.global_limits is not None:
            return self.global_limits
        return PLAN_GLOBAL_LIMITS if self.require_keys else GlobalLimits()

    def tier(self, name: str) -> Limits:
        """The named tier's limits; an unknown name (a tier removed from the config
        after keys were made with it) gets the default tier's."""
        return self.tiers.get(name) or self.tiers[self.default_tier]
