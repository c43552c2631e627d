"""Tier classification over faked profiles (pure)."""

from __future__ import annotations

import pytest

from steadyllm.local.settings import TierSettings
from steadyllm.local.tiers import HardwareProfile, HardwareTier, classify_tier, reference_profile
from tests.local.profiles import integrated, machine, nvidia

T = HardwareTier


@pytest.mark.parametrize(
    ("profile", "tier"),
    [
        (machine(), T.CPU_ONLY),
        (machine(gpus=(integrated(8),)), T.IGPU),
        (machine(gpus=(integrated(16, "apple"),)), T.IGPU),
        (machine(gpus=(nvidia(4),)), T.LOW_VRAM_GPU),
        (machine(gpus=(nvidia(8),)), T.LOW_VRAM_GPU),
        (machine(gpus=(nvidia(9.99),)), T.LOW_VRAM_GPU),
        (machine(gpus=(nvidia(10),)), T.MID_VRAM_GPU),
        (machine(gpus=(nvidia(16),)), T.MID_VRAM_GPU),
        (machine(gpus=(nvidia(24),)), T.HIGH_VRAM_GPU),
        (machine(gpus=(nvidia(80),)), T.HIGH_VRAM_GPU),
        (machine(gpus=(nvidia(8), nvidia(8))), T.MULTI_GPU),
        # an integrated GPU beside a discrete one does not make it multi-GPU
        (machine(gpus=(integrated(8), nvidia(12))), T.MID_VRAM_GPU),
    ],
)
def test_classify(profile: HardwareProfile, tier: HardwareTier) -> None:
    assert classify_tier(profile, TierSettings()) is tier


def test_thresholds_come_from_settings() -> None:
    profile = machine(gpus=(nvidia(12),))
    assert classify_tier(profile, TierSettings(mid_vram_gib=10)) is T.MID_VRAM_GPU
    assert classify_tier(profile, TierSettings(mid_vram_gib=14)) is T.LOW_VRAM_GPU
    assert classify_tier(profile, TierSettings(high_vram_gib=12)) is T.HIGH_VRAM_GPU


@pytest.mark.parametrize("tier", list(HardwareTier))
def test_reference_profiles_are_of_their_tier(tier: HardwareTier) -> None:
    assert classify_tier(reference_profile(tier), TierSettings()) is tier


def test_profile_report() -> None:
    info = machine(ram_gib=16, gpus=(nvidia(24),)).to_dict()
    assert info["tier"] == "HIGH_VRAM_GPU"
    assert info["ram_gib"] == 16
    assert info["cpu"]["simd"] == ["avx2", "fma"]
    assert info["gpus"][0]["memory_gib"] == 24
