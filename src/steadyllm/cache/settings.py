"""The ``cache`` section of the settings (see ``docs/CACHE.md``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from steadyllm.policy.cache_rules import CacheRule

__all__ = [
    "DEFAULT_THRESHOLDS",
    "CacheSettings",
    "ModelCacheSettings",
    "SemanticSettings",
]

# Chosen on tests/data/cache_pairs.tsv by scripts/cache_threshold_study.py: the lowest
# threshold whose false-hit rate on near misses (guard on) stays at or under 1%.
DEFAULT_THRESHOLDS = {"jaccard": 0.80, "embedding": 0.85}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SemanticSettings(_Strict):
    """Semantic matching: a fallback after the exact key misses."""

    matcher: Literal["off", "jaccard", "embedding"] = "jaccard"
    threshold: float | None = Field(None, gt=0, le=1)  # None: the matcher's default
    guard: bool = True  # refuse matches whose meaning differs (negation, dates, ...)
    max_entries: int = Field(100_000, gt=0)  # in the in-process index, all scopes together
    load_limit: int = Field(1000, ge=0)  # entries read from the store for a new scope
    embedding_cache_ttl: float = Field(7 * 86400.0, gt=0)
    embedding_cache_max_entries: int = Field(10_000, gt=0)

    def resolved_threshold(self) -> float:
        if self.threshold is not None:
            return self.threshold
        return DEFAULT_THRESHOLDS.get(self.matcher, 1.0)


class ModelCacheSettings(_Strict):
    """Per-model overrides; an unset field takes the section's value."""

    enabled: bool | None = None
    max_temperature: float | None = Field(None, ge=0, le=2)
    any_temperature: bool | None = None
    ttl: float | None = Field(None, gt=0)
    semantic: bool | None = None


class CacheSettings(_Strict):
    enabled: bool = True
    ttl: float = Field(3600.0, gt=0)  # seconds an answer stays fresh
    max_ttl: float = Field(7 * 86400.0, gt=0)  # cap on x-steadyllm-cache-ttl
    max_temperature: float = Field(0.0, ge=0, le=2)  # cacheable at or below this
    any_temperature: bool = False  # opt in: cache whatever the temperature
    max_entries: int = Field(10_000, gt=0)  # L2 (the store); LRU evicts 10% when full
    l1_max_entries: int = Field(1000, ge=0)  # in-process LRU; 0 turns L1 off
    l1_ttl: float = Field(60.0, gt=0)  # an L1 copy is re-read from L2 after this long
    serve_stale: bool = False  # answer from an expired entry when no deployment can
    stale_max_age: float = Field(3600.0, gt=0)  # how long past its TTL an entry may serve
    cleanup_interval: float = Field(60.0, gt=0)  # seconds between purges of dead entries
    write_queue: int = Field(1000, gt=0)  # L2 writes waiting; past it they are dropped
    max_stream_chunks: int = Field(20_000, gt=0)  # longer streams are not kept
    stats_max_entries: int = Field(10_000, gt=0)  # entries tracked for topQueries/byVariant
    models: dict[str, ModelCacheSettings] = Field(default_factory=dict)
    semantic: SemanticSettings = SemanticSettings()

    def rule_for(self, model: str) -> CacheRule:
        override = self.models.get(model) or ModelCacheSettings()
        return CacheRule(
            enabled=self.enabled if override.enabled is None else override.enabled,
            max_temperature=(
                self.max_temperature
                if override.max_temperature is None
                else override.max_temperature
            ),
            any_temperature=(
                self.any_temperature
                if override.any_temperature is None
                else override.any_temperature
            ),
            ttl=min(self.ttl if override.ttl is None else override.ttl, self.max_ttl),
            max_ttl=self.max_ttl,
            semantic=(self.semantic.matcher != "off")
            and (True if override.semantic is None else override.semantic),
        )

    @property
    def retention(self) -> float:
        """How long past its TTL an entry is kept (to answer when nothing else can)."""
        return self.stale_max_age if self.serve_stale else 0.0
