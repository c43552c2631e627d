"""What a machine is: its hardware profile and the tier it falls in (pure, no I/O).

Tiers, from the GPUs a model can be placed on::

    MULTI_GPU       two or more discrete GPUs
    HIGH_VRAM_GPU   one discrete GPU with at least ``high_vram_gib`` (24 GiB: 3090, 4090, A10)
    MID_VRAM_GPU    one discrete GPU with at least ``mid_vram_gib`` (10 GiB: 3080, 4070 Ti, T4)
    LOW_VRAM_GPU    one smaller discrete GPU
    IGPU            an integrated GPU only, sharing system memory (Intel, Apple silicon)
    CPU_ONLY        no usable GPU

``detect_hardware`` in ``hardware.py`` builds the profile; everything here takes
it as a value, so faked profiles test every tier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from steadyllm.local.settings import TierSettings

__all__ = [
    "GIB",
    "GpuInfo",
    "HardwareProfile",
    "HardwareTier",
    "classify_tier",
    "reference_profile",
]

GIB = 1024**3


class HardwareTier(StrEnum):
    CPU_ONLY = "CPU_ONLY"
    IGPU = "IGPU"
    LOW_VRAM_GPU = "LOW_VRAM_GPU"
    MID_VRAM_GPU = "MID_VRAM_GPU"
    HIGH_VRAM_GPU = "HIGH_VRAM_GPU"
    MULTI_GPU = "MULTI_GPU"


@dataclass(frozen=True, slots=True)
class GpuInfo:
    name: str
    vendor: str  # "nvidia", "intel", "amd", "apple"
    memory_bytes: int  # dedicated memory; for an integrated GPU, what it may use of RAM
    integrated: bool = False
    driver: str | None = None
    memory_free_bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "vendor": self.vendor,
            "memory_gib": round(self.memory_bytes / GIB, 2),
            "memory_free_gib": (
                round(self.memory_free_bytes / GIB, 2)
                if self.memory_free_bytes is not None
                else None
            ),
            "integrated": self.integrated,
            "driver": self.driver,
        }


@dataclass(frozen=True, slots=True)
class HardwareProfile:
    cpu_model: str
    physical_cores: int
    logical_cores: int
    cpu_flags: frozenset[str]
    ram_bytes: int
    ram_available_bytes: int
    gpus: tuple[GpuInfo, ...] = ()
    system: str = "Linux"
    machine: str = "x86_64"
    notes: tuple[str, ...] = field(default=())  # what detection could not find, and why

    @property
    def discrete_gpus(self) -> tuple[GpuInfo, ...]:
        return tuple(g for g in self.gpus if not g.integrated)

    @property
    def simd(self) -> list[str]:
        """The vector instruction sets llama.cpp and friends care about, best first."""
        wanted = ("avx512f", "avx512_vnni", "avx_vnni", "avx2", "fma", "f16c", "avx")
        found = [flag for flag in wanted if flag in self.cpu_flags]
        found += [flag for flag in ("neon", "asimd", "sve", "dotprod") if flag in self.cpu_flags]
        return found

    def to_dict(self, tiers: TierSettings | None = None) -> dict[str, Any]:
        return {
            "tier": classify_tier(self, tiers or TierSettings()).value,
            "system": self.system,
            "machine": self.machine,
            "cpu": {
                "model": self.cpu_model,
                "physical_cores": self.physical_cores,
                "logical_cores": self.logical_cores,
                "simd": self.simd,
                "flags": len(self.cpu_flags),
            },
            "ram_gib": round(self.ram_bytes / GIB, 2),
            "ram_available_gib": round(self.ram_available_bytes / GIB, 2),
            "gpus": [gpu.to_dict() for gpu in self.gpus],
            "notes": list(self.notes),
        }


def classify_tier(profile: HardwareProfile, tiers: TierSettings) -> HardwareTier:
    discrete = profile.discrete_gpus
    if len(discrete) >= 2:
        return HardwareTier.MULTI_GPU
    if len(discrete) == 1:
        memory = discrete[0].memory_bytes
        if memory >= tiers.high_vram_gib * GIB:
            return HardwareTier.HIGH_VRAM_GPU
        if memory >= tiers.mid_vram_gib * GIB:
            return HardwareTier.MID_VRAM_GPU
        return HardwareTier.LOW_VRAM_GPU
    if profile.gpus:
        return HardwareTier.IGPU
    return HardwareTier.CPU_ONLY


def reference_profile(tier: HardwareTier) -> HardwareProfile:
    """A typical machine of ``tier``, for recommending before the hardware is bought."""
    gpus: tuple[GpuInfo, ...] = ()
    cores, ram_gib = 8, 32
    if tier is HardwareTier.IGPU:
        gpus = (GpuInfo("integrated GPU", "intel", 16 * GIB, integrated=True),)
    elif tier is HardwareTier.MULTI_GPU:
        gpus = (GpuInfo("24 GiB GPU", "nvidia", 24 * GIB),) * 2
        cores, ram_gib = 16, 64
    elif tier is not HardwareTier.CPU_ONLY:
        vram = {
            HardwareTier.LOW_VRAM_GPU: 8,
            HardwareTier.MID_VRAM_GPU: 16,
            HardwareTier.HIGH_VRAM_GPU: 24,
        }[tier]
        gpus = (GpuInfo(f"{vram} GiB GPU", "nvidia", vram * GIB),)
    return HardwareProfile(
        cpu_model=f"reference {tier.value} machine",
        physical_cores=cores,
        logical_cores=cores * 2,
        cpu_flags=frozenset({"avx", "avx2", "fma", "f16c"}),
        ram_bytes=ram_gib * GIB,
        ram_available_bytes=ram_gib * GIB,
        gpus=gpus,
        notes=("a reference profile, not this machine",),
    )
