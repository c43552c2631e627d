"""Does a catalog model fit a machine, and which models to recommend (pure, no I/O).

Memory a model needs at a quantization and a context::

    weights (params x bits per weight, or measured) + KV cache (per-token size x context)
    + runtime overhead (compute buffers)

Where it is placed, best first: ``gpu`` (whole on one GPU), ``multi_gpu`` (split
across GPUs), ``igpu`` (an integrated GPU's share of RAM), ``split`` (GPU layers
plus the rest in RAM), ``cpu`` (RAM only). Budgets leave ``vram_reserve_gib`` per
GPU and ``ram_reserve_gib`` of RAM free.

Decode speed is memory bound: every token reads every weight once, so the estimate
is effective memory bandwidth over weight bytes. The bandwidths below are
conservative round figures; a speed measured for the tier (at the quantization, or at
any) in the catalog wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from steadyllm.local.catalog import CatalogEntry
from steadyllm.local.settings import LocalSettings
from steadyllm.local.tiers import GIB, HardwareProfile, HardwareTier, classify_tier

__all__ = [
    "Constraints",
    "FitVerdict",
    "Recommendation",
    "best_fit",
    "check_fit",
    "estimate_tokens_per_second",
    "recommend",
]

Placement = Literal["gpu", "multi_gpu", "igpu", "split", "cpu"]
_PLACEMENT_RANK: dict[str, int] = {"gpu": 0, "multi_gpu": 1, "igpu": 2, "split": 3, "cpu": 4}

# Effective decode bandwidth in GB/s (1e9 bytes).
CPU_GBPS_PER_CORE = 4.0
CPU_GBPS_MAX = 60.0
IGPU_GBPS = 60.0
APPLE_GBPS = 100.0
GPU_GBPS: dict[HardwareTier, float] = {
    HardwareTier.LOW_VRAM_GPU: 250.0,
    HardwareTier.MID_VRAM_GPU: 450.0,
    HardwareTier.HIGH_VRAM_GPU: 900.0,
    HardwareTier.MULTI_GPU: 900.0,
}
MULTI_GPU_SPLIT_OVERHEAD = 1.05  # a split model duplicates some buffers on each GPU

# Quality points lost to quantization, by quantization (from published perplexity gaps).
QUANTIZATION_PENALTY: dict[str, float] = {
    "F32": 0.0,
    "F16": 0.0,
    "BF16": 0.0,
    "Q8_0": 0.5,
    "Q6_K": 1.0,
    "Q5_K_M": 1.5,
    "Q4_K_M": 3.0,
    "Q4_1": 4.0,
    "Q4_0": 5.0,
    "Q3_K_M": 8.0,
    "Q2_K": 15.0,
}
_UNKNOWN_PENALTY = 5.0


@dataclass(frozen=True, slots=True)
class Constraints:
    kind: str = "chat"
    required_tags: frozenset[str] = frozenset()
    min_quality_score: float = 0.0
    context: int | None = None  # tokens the deployment must hold; default: settings'
    quantization: str | None = None  # only this one
    min_tokens_per_second: float | None = None  # default: settings'
    limit: int = 5


@dataclass(frozen=True, slots=True)
class FitVerdict:
    """Whether ``entry`` runs on the machine at ``quantization`` and ``context``."""

    entry_id: str
    quantization: str
    context: int
    fits: bool
    placement: Placement | None
    required_gib: float
    budget_gib: float  # the most memory the best placement offers
    tokens_per_second: float | None  # estimate (or the catalog's measured figure)
    speed_source: Literal["measured", "estimated"] | None
    reasons: tuple[str, ...] = field(default=())  # why not, or what to know

    @property
    def score_penalty(self) -> float:
        return QUANTIZATION_PENALTY.get(self.quantization, _UNKNOWN_PENALTY)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.entry_id,
            "quantization": self.quantization,
            "context": self.context,
            "fits": self.fits,
            "placement": self.placement,
            "required_gib": round(self.required_gib, 2),
            "budget_gib": round(self.budget_gib, 2),
            "tokens_per_second": (
                round(self.tokens_per_second, 1) if self.tokens_per_second is not None else None
            ),
            "speed_source": self.speed_source,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True, slots=True)
class Recommendation:
    entry: CatalogEntry
    verdict: FitVerdict
    score: float  # quality score less the quantization's penalty

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 2),
            **self.verdict.to_dict(),
            "entry": self.entry.to_dict(),
        }


def _cpu_gbps(profile: HardwareProfile) -> float:
    return min(profile.physical_cores * CPU_GBPS_PER_CORE, CPU_GBPS_MAX)


def estimate_tokens_per_second(
    weights_gib: float,
    placement: Placement,
    profile: HardwareProfile,
    tier: HardwareTier,
    gpu_share: float = 1.0,
) -> float:
    """Decode tokens/s: bandwidth over the bytes read per token (``gpu_share`` on the GPU)."""
    weights_gb = max(weights_gib * GIB / 1e9, 1e-6)
    if placement == "cpu":
        return _cpu_gbps(profile) / weights_gb
    if placement == "igpu":
        apple = any(g.vendor == "apple" for g in profile.gpus)
        return (APPLE_GBPS if apple else IGPU_GBPS) / weights_gb
    gpu_gbps = GPU_GBPS.get(tier, GPU_GBPS[HardwareTier.LOW_VRAM_GPU])
    if placement == "split":
        seconds = weights_gb * gpu_share / gpu_gbps + weights_gb * (1 - gpu_share) / _cpu_gbps(
            profile
        )
        return 1 / seconds
    return gpu_gbps / weights_gb


def _place(
    required: float, profile: HardwareProfile, settings: LocalSettings
) -> tuple[Placement | None, float, float]:
    """The best placement for ``required`` GiB: (placement, its budget, GPU share)."""
    ram = max(0.0, profile.ram_bytes / GIB - settings.ram_reserve_gib)
    discrete = profile.discrete_gpus
    vram = [max(0.0, g.memory_bytes / GIB - settings.vram_reserve_gib) for g in discrete]
    if vram and required <= max(vram):
        return "gpu", max(vram), 1.0
    if len(vram) >= 2 and required * MULTI_GPU_SPLIT_OVERHEAD <= sum(vram):
        return "multi_gpu", sum(vram), 1.0
    integrated = [g for g in profile.gpus if g.integrated]
    if not discrete and integrated:
        share = max(0.0, integrated[0].memory_bytes / GIB - settings.ram_reserve_gib / 2)
        if required <= share:
            return "igpu", share, 1.0
    if vram and required <= sum(vram) + ram:
        return "split", sum(vram) + ram, sum(vram) / required
    if required <= ram:
        return "cpu", ram, 0.0
    best = max([ram, sum(vram) + ram] if vram else [ram])
    return None, best, 0.0


def check_fit(
    entry: CatalogEntry,
    profile: HardwareProfile,
    settings: LocalSettings,
    *,
    quantization: str,
    context: int | None = None,
) -> FitVerdict:
    """The verdict for one model at one quantization and context on ``profile``."""
    tier = classify_tier(profile, settings.tiers)
    context = context or min(settings.default_context, entry.context_length)
    refusals: list[str] = []
    notes: list[str] = []
    weights = entry.weights_gib(quantization)
    required = weights + entry.kv_cache_gib(context) + settings.runtime_overhead_gib
    if quantization not in entry.quantizations:
        refusals.append(
            f"{entry.id} is not published at {quantization} "
            f"(it is at {', '.join(entry.quantizations)})"
        )
    if context > entry.context_length:
        refusals.append(f"context {context} is longer than the model's {entry.context_length}")
    placement, budget, gpu_share = _place(required, profile, settings)
    if placement is None:
        refusals.append(
            f"needs {required:.1f} GiB at {quantization} with {context} tokens of context; "
            f"this {tier.value} machine offers {budget:.1f} GiB"
        )
    elif placement in ("split", "cpu") and profile.discrete_gpus:
        notes.append(f"does not fit in GPU memory: runs {placement}, slower")
    speed: float | None = None
    source: Literal["measured", "estimated"] | None = None
    if placement is not None:
        measured = entry.tokens_per_second.get(
            f"{tier.value}/{quantization}", entry.tokens_per_second.get(tier.value)
        )
        if measured is not None:
            speed, source = measured, "measured"
        else:
            speed = estimate_tokens_per_second(weights, placement, profile, tier, gpu_share)
            source = "estimated"
    return FitVerdict(
        entry_id=entry.id,
        quantization=quantization,
        context=context,
        fits=not refusals,
        placement=placement,
        required_gib=required,
        budget_gib=budget,
        tokens_per_second=speed,
        speed_source=source,
        reasons=(*refusals, *notes),
    )


def best_fit(
    entry: CatalogEntry,
    profile: HardwareProfile,
    settings: LocalSettings,
    *,
    context: int | None = None,
    min_tokens_per_second: float = 0.0,
    quantization: str | None = None,
) -> FitVerdict:
    """The best quantization of ``entry`` that fits and is fast enough; else the smallest's
    verdict, which says why not."""
    options = [quantization] if quantization else list(entry.quantizations)
    verdicts = [
        check_fit(entry, profile, settings, quantization=q, context=context) for q in options
    ]
    good = [v for v in verdicts if v.fits and (v.tokens_per_second or 0.0) >= min_tokens_per_second]
    if good:
        return min(good, key=lambda v: (_PLACEMENT_RANK[v.placement or "cpu"], v.score_penalty))
    smallest = min(verdicts, key=lambda v: v.required_gib)
    if smallest.fits:  # fits, but too slow
        speed = smallest.tokens_per_second or 0.0
        return FitVerdict(
            entry_id=smallest.entry_id,
            quantization=smallest.quantization,
            context=smallest.context,
            fits=False,
            placement=smallest.placement,
            required_gib=smallest.required_gib,
            budget_gib=smallest.budget_gib,
            tokens_per_second=smallest.tokens_per_second,
            speed_source=smallest.speed_source,
            reasons=(
                *smallest.reasons,
                f"fits, but decodes about {speed:.1f} tokens/s, under the "
                f"{min_tokens_per_second:g} asked for",
            ),
        )
    return smallest


def recommend(
    entries: list[CatalogEntry],
    profile: HardwareProfile,
    settings: LocalSettings,
    constraints: Constraints,
) -> tuple[list[Recommendation], list[FitVerdict]]:
    """Models that meet ``constraints`` and fit, best first; and the refused ones' verdicts.

    Best: the best placement first (a model whole on the GPU before one spilling to
    RAM), then the quality score less the quantization penalty, then less memory.
    """
    floor = (
        constraints.min_tokens_per_second
        if constraints.min_tokens_per_second is not None
        else settings.min_tokens_per_second
    )
    chosen: list[Recommendation] = []
    refused: list[FitVerdict] = []
    for entry in entries:
        if entry.kind != constraints.kind:
            continue
        if not constraints.required_tags <= entry.tags:
            continue
        if entry.quality_score < constraints.min_quality_score:
            continue
        if constraints.quantization and constraints.quantization not in entry.quantizations:
            continue
        verdict = best_fit(
            entry,
            profile,
            settings,
            context=constraints.context,
            min_tokens_per_second=floor,
            quantization=constraints.quantization,
        )
        if verdict.fits:
            chosen.append(
                Recommendation(entry, verdict, entry.quality_score - verdict.score_penalty)
            )
        else:
            refused.append(verdict)
    chosen.sort(
        key=lambda r: (
            _PLACEMENT_RANK[r.verdict.placement or "cpu"],
            -r.score,
            r.verdict.required_gib,
        )
    )
    return chosen[: constraints.limit], refused
