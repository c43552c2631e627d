"""Settings for variants, shadow deployments, experiments and query routing.

```yaml
variants:
  header: x-steadyllm-variant         # or body field "variant" / metadata.variant
  definitions:
    baseline: {system_prompt: "You are a helpful assistant."}
    professional: {prompt: {version_of: professional}, model: smart, params: {temperature: 0.2}}
  routes:                              # the default (live) variant per route (model group)
    fast: baseline
  query_routing:
    fast: {simple: fast, complex: smart}
shadow:
  queue_size: 256
  workers: 2
  tenant: shadow
  daily_budget_usd: 5.0               # null: unlimited
  criteria: {min_samples: 50, max_error_rate: 0.05, max_cost_increase: 0.1,
             min_performance_improvement: 0.05}
  ramp_step: 10
```
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CriteriaSettings",
    "PromptRef",
    "ShadowSettings",
    "VariantDefinition",
    "VariantsSettings",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PromptRef(_Strict):
    version_of: str  # the lifecycle registry's active prompt version of this variant


class VariantDefinition(_Strict):
    system_prompt: str | None = None
    prompt: PromptRef | None = None
    model: str | None = None  # a model group; None keeps the one the client asked for
    params: dict[str, Any] = Field(default_factory=dict)


class CriteriaSettings(_Strict):
    min_samples: int = Field(50, ge=1)
    max_error_rate: float = Field(0.05, ge=0, le=1)
    max_cost_increase: float = Field(0.10, ge=0)
    min_performance_improvement: float = Field(0.05)


class ShadowSettings(_Strict):
    queue_size: int = Field(256, gt=0)  # full: the shadow copy is dropped and counted
    workers: int = Field(2, gt=0)
    tenant: str = "shadow"  # budget / usage label of shadow calls
    # USD per UTC day the shadow calls may spend (None: no limit); when it is used up
    # the shadow copy is skipped and counted (status ``droppedBudget``).
    daily_budget_usd: float | None = Field(5.0, ge=0)
    max_comparisons: int = Field(10_000, gt=0)  # kept in memory per store
    ramp_step: float = Field(10.0, gt=0, le=100)
    criteria: CriteriaSettings = CriteriaSettings()


class VariantsSettings(_Strict):
    header: str = "x-steadyllm-variant"
    definitions: dict[str, VariantDefinition] = Field(default_factory=dict)
    routes: dict[str, str] = Field(default_factory=dict)  # route -> default variant
    query_routing: dict[str, dict[str, str]] = Field(default_factory=dict)
    shadow: ShadowSettings = ShadowSettings()
