"""The catalog against a machine: listings, fit checks and recommendations.

Used by the control plane and the CLI. The hardware profile is detected once (in a
worker thread) and kept; a ``tier`` argument swaps in that tier's reference
machine instead, to plan for hardware not at hand.
"""

from __future__ import annotations

from typing import Any

from steadyllm.errors import InvalidRequest, NotFound
from steadyllm.lazy import Lazy
from steadyllm.local.catalog import BITS_PER_WEIGHT, Catalog, load_catalog
from steadyllm.local.hardware import detect_hardware
from steadyllm.local.settings import LocalSettings
from steadyllm.local.tiers import HardwareProfile, HardwareTier, classify_tier, reference_profile
from steadyllm.policy.catalog_fit import Constraints, best_fit, check_fit, recommend

__all__ = ["Advisor", "parse_tier"]


def parse_tier(value: str | None) -> HardwareTier | None:
    if value is None or value == "":
        return None
    try:
        return HardwareTier(value.upper())
    except ValueError:
        known = ", ".join(t.value for t in HardwareTier)
        raise InvalidRequest(f"unknown tier {value!r} (known: {known})", param="tier") from None


class Advisor:
    def __init__(
        self,
        settings: LocalSettings,
        *,
        catalog: Catalog | None = None,
        profile: HardwareProfile | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog if catalog is not None else load_catalog(settings)
        self._profile: Lazy[HardwareProfile] = Lazy(
            (lambda: profile) if profile is not None else detect_hardware
        )

    async def profile(self, tier: HardwareTier | None = None) -> HardwareProfile:
        return reference_profile(tier) if tier is not None else await self._profile.get()

    def profile_blocking(self, tier: HardwareTier | None = None) -> HardwareProfile:
        return reference_profile(tier) if tier is not None else self._profile.get_blocking()

    def hardware(self, profile: HardwareProfile) -> dict[str, Any]:
        return profile.to_dict(self.settings.tiers)

    def listing(self, profile: HardwareProfile, *, kind: str | None = None) -> dict[str, Any]:
        """Every entry, each with its best fit on ``profile``."""
        models = []
        for entry in self.catalog:
            if kind is not None and entry.kind != kind:
                continue
            verdict = best_fit(
                entry,
                profile,
                self.settings,
                min_tokens_per_second=self.settings.min_tokens_per_second,
            )
            models.append({**entry.to_dict(), "fit": verdict.to_dict()})
        return {
            "object": "list",
            "tier": classify_tier(profile, self.settings.tiers).value,
            "data": models,
        }

    def check(
        self,
        profile: HardwareProfile,
        entry_id: str,
        *,
        quantization: str | None = None,
        context: int | None = None,
    ) -> dict[str, Any]:
        """Whether one model runs on ``profile`` (at a quantization, or its best one)."""
        entry = self.catalog.get(entry_id)
        if entry is None:
            raise NotFound(f"no model {entry_id!r} in the catalog", code="model_not_in_catalog")
        if quantization is not None:
            if quantization not in entry.memory_gib and quantization not in BITS_PER_WEIGHT:
                raise InvalidRequest(
                    f"unknown quantization {quantization!r} (known: {', '.join(BITS_PER_WEIGHT)})",
                    param="quantization",
                )
            verdict = check_fit(
                entry, profile, self.settings, quantization=quantization, context=context
            )
        else:
            verdict = best_fit(entry, profile, self.settings, context=context)
        return {
            "tier": classify_tier(profile, self.settings.tiers).value,
            **verdict.to_dict(),
            "entry": entry.to_dict(),
        }

    def recommend(self, profile: HardwareProfile, constraints: Constraints) -> dict[str, Any]:
        chosen, refused = recommend(list(self.catalog), profile, self.settings, constraints)
        return {
            "tier": classify_tier(profile, self.settings.tiers).value,
            "constraints": {
                "kind": constraints.kind,
                "required_tags": sorted(constraints.required_tags),
                "min_quality_score": constraints.min_quality_score,
                "context": constraints.context,
                "quantization": constraints.quantization,
                "min_tokens_per_second": (
                    constraints.min_tokens_per_second
                    if constraints.min_tokens_per_second is not None
                    else self.settings.min_tokens_per_second
                ),
            },
            "recommendations": [r.to_dict() for r in chosen],
            "refused": [v.to_dict() for v in refused],
        }
