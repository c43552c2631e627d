"""Hardware detection: parsers, a faked filesystem, faked NVML, and this machine."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from steadyllm.local.catalog import load_catalog
from steadyllm.local.hardware import detect_hardware, detect_nvidia, parse_cpuinfo, parse_meminfo
from steadyllm.local.settings import LocalSettings, TierSettings
from steadyllm.local.tiers import GIB, HardwareTier, classify_tier
from steadyllm.policy.catalog_fit import Constraints, check_fit, recommend

X86 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
physical id\t: 0
cpu cores\t: 4
flags\t\t: fpu sse2 avx avx2 fma f16c avx512f

processor\t: 1
model name\t: AMD EPYC 7B13
physical id\t: 1
cpu cores\t: 4
flags\t\t: fpu sse2 avx avx2 fma f16c avx512f
"""

ARM = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes sha1 asimddp
CPU implementer\t: 0x41
"""


def test_parse_cpuinfo_x86_two_sockets() -> None:
    model, flags, physical = parse_cpuinfo(X86)
    assert model == "AMD EPYC 7B13"
    assert {"avx2", "avx512f", "fma"} <= flags
    assert physical == 8


def test_parse_cpuinfo_arm() -> None:
    model, flags, physical = parse_cpuinfo(ARM)
    assert model == ""
    assert "asimd" in flags
    assert physical is None


def test_parse_meminfo() -> None:
    total, available = parse_meminfo("MemTotal:  16384 kB\nMemFree: 10 kB\nMemAvailable: 8192 kB\n")
    assert (total, available) == (16384 * 1024, 8192 * 1024)


def fake_root(
    tmp_path: Path, *, cgroup_gib: int | None = None, drm: dict[str, dict[str, str]] | None = None
) -> Path:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cpuinfo").write_text(X86, encoding="utf-8")
    if cgroup_gib is not None:
        (tmp_path / "sys/fs/cgroup").mkdir(parents=True)
        (tmp_path / "sys/fs/cgroup/memory.max").write_text(f"{cgroup_gib * GIB}\n")
    for card, files in (drm or {}).items():
        device = tmp_path / "sys/class/drm" / card / "device"
        device.mkdir(parents=True)
        for name, value in files.items():
            (device / name).write_text(value)
    return tmp_path


@pytest.mark.skipif(sys.platform != "linux", reason="reads a Linux-shaped filesystem")
def test_faked_filesystem_cpu_cgroup_and_integrated_gpu(tmp_path: Path) -> None:
    root = fake_root(
        tmp_path, cgroup_gib=1, drm={"card0": {"vendor": "0x8086\n"}, "card0-HDMI-A-1": {}}
    )
    profile = detect_hardware(root=root, nvml=False)
    assert profile.cpu_model == "AMD EPYC 7B13"
    assert "avx512f" in profile.simd
    assert profile.ram_bytes == 1 * GIB
    assert any("cgroup" in note for note in profile.notes)
    assert [g.vendor for g in profile.gpus] == ["intel"]
    assert classify_tier(profile, TierSettings()) is HardwareTier.IGPU


@pytest.mark.skipif(sys.platform != "linux", reason="reads a Linux-shaped filesystem")
def test_faked_amd_gpus_apu_and_discrete(tmp_path: Path) -> None:
    drm: Any = {
        "card0": {"vendor": "0x1002", "mem_info_vram_total": str(512 * 1024**2)},
        "card1": {"vendor": "0x1002", "mem_info_vram_total": str(16 * GIB)},
    }
    profile = detect_hardware(root=fake_root(tmp_path, drm=drm), nvml=False)
    assert [(g.integrated, g.memory_bytes) for g in profile.gpus][1] == (False, 16 * GIB)
    assert profile.gpus[0].integrated
    assert classify_tier(profile, TierSettings()) is HardwareTier.MID_VRAM_GPU


class _Memory:
    def __init__(self, total: int) -> None:
        self.total, self.free = total, total // 2


def fake_pynvml(vram_gib: list[int], *, init_error: Exception | None = None) -> Any:
    calls: list[str] = []

    def init() -> None:
        calls.append("init")
        if init_error is not None:
            raise init_error

    return types.SimpleNamespace(
        calls=calls,
        nvmlInit=init,
        nvmlShutdown=lambda: calls.append("shutdown"),
        nvmlSystemGetDriverVersion=lambda: b"550.54",
        nvmlDeviceGetCount=lambda: len(vram_gib),
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=lambda i: f"NVIDIA RTX {i}",
        nvmlDeviceGetMemoryInfo=lambda i: _Memory(vram_gib[i] * GIB),
    )


def test_nvidia_gpus_through_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    module = fake_pynvml([24, 24])
    monkeypatch.setitem(sys.modules, "pynvml", module)
    notes: list[str] = []
    gpus = detect_nvidia(notes)
    assert [(g.name, g.memory_bytes, g.driver) for g in gpus] == [
        ("NVIDIA RTX 0", 24 * GIB, "550.54"),
        ("NVIDIA RTX 1", 24 * GIB, "550.54"),
    ]
    assert module.calls == ["init", "shutdown"]
    assert notes == []


def test_no_nvidia_driver_is_a_note_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml([], init_error=OSError("no driver")))
    notes: list[str] = []
    assert detect_nvidia(notes) == []
    assert "no NVIDIA driver" in notes[0]


def test_no_nvml_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    notes: list[str] = []
    assert detect_nvidia(notes) == []
    assert "nvidia-ml-py not installed" in notes[0]


def test_this_machine_recommends_a_model_that_fits_and_refuses_one_that_does_not() -> None:
    """On the real machine (CI: 2 cores, 24 GiB, no GPU -> CPU_ONLY)."""
    settings = LocalSettings()
    profile = detect_hardware()
    tier = classify_tier(profile, settings.tiers)
    assert profile.logical_cores >= 1
    assert profile.ram_bytes > 1 * GIB
    if not profile.gpus:
        assert tier is HardwareTier.CPU_ONLY
    catalog = load_catalog(settings)
    chosen, _ = recommend(list(catalog), profile, settings, Constraints())
    assert chosen, "at least one catalog model runs here"
    budget = profile.ram_bytes / GIB - settings.ram_reserve_gib
    vram = max((g.memory_bytes / GIB for g in profile.gpus), default=0.0)
    for item in chosen:
        assert item.verdict.fits
        assert item.verdict.required_gib <= max(budget, vram)
    huge = catalog.get("qwen2.5-72b-instruct")
    assert huge is not None
    verdict = check_fit(huge, profile, settings, quantization="F16")
    total = profile.ram_bytes / GIB + sum(g.memory_bytes for g in profile.gpus) / GIB
    assert verdict.required_gib > total  # 72B at F16: about 136 GiB
    assert not verdict.fits
    assert verdict.placement is None
