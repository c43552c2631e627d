"""Variants: named bundles of system prompt, model and parameters (docs/EXPERIMENTS.md)."""

from steadyllm.variants.live import LiveVariants, MemoryLiveVariants, RedisLiveVariants
from steadyllm.variants.settings import VariantDefinition, VariantsSettings

__all__ = [
    "LiveVariants",
    "MemoryLiveVariants",
    "RedisLiveVariants",
    "VariantDefinition",
    "VariantsSettings",
]
