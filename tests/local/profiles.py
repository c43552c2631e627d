"""Faked hardware profiles, one per situation the tests need."""

from __future__ import annotations

from steadyllm.local.tiers import GIB, GpuInfo, HardwareProfile


def machine(
    *, ram_gib: float = 32, cores: int = 8, gpus: tuple[GpuInfo, ...] = ()
) -> HardwareProfile:
    ram = int(ram_gib * GIB)
    return HardwareProfile(
        cpu_model="test cpu",
        physical_cores=cores,
        logical_cores=cores * 2,
        cpu_flags=frozenset({"avx2", "fma"}),
        ram_bytes=ram,
        ram_available_bytes=ram,
        gpus=gpus,
    )


def nvidia(vram_gib: float) -> GpuInfo:
    return GpuInfo(f"gpu {vram_gib}", "nvidia", int(vram_gib * GIB))


def integrated(memory_gib: float, vendor: str = "intel") -> GpuInfo:
    return GpuInfo("igpu", vendor, int(memory_gib * GIB), integrated=True)
