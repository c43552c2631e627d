"""Detect this machine's hardware: CPU, RAM, GPUs.

Sources, each optional, each failure a note in the profile rather than an error:

- CPU model, instruction-set flags and cores: ``/proc/cpuinfo`` on Linux, else
  :mod:`platform`; usable cores from the process's CPU affinity.
- RAM: :mod:`psutil`, capped by a cgroup memory limit when one is set.
- NVIDIA GPUs: ``nvidia-ml-py`` (extra ``gpu``) when an NVIDIA driver is present.
- Integrated GPUs: ``/sys/class/drm`` on Linux (Intel; AMD with a small VRAM
  carve-out), Apple silicon on macOS (unified memory).

``pynvml`` is imported only inside :func:`detect_nvidia`; this module owns it.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

from steadyllm.local.tiers import GIB, GpuInfo, HardwareProfile

__all__ = ["detect_hardware", "detect_nvidia", "parse_cpuinfo", "parse_meminfo"]

_INTEL = "0x8086"
_AMD = "0x1002"
_APU_VRAM_LIMIT = 2 * GIB  # an AMD GPU with less dedicated VRAM than this is an APU carve-out
_APPLE_GPU_SHARE = 0.75  # Metal lets the GPU use about this share of unified memory


def parse_cpuinfo(text: str) -> tuple[str, frozenset[str], int | None]:
    """Model name, flags, and physical cores (sockets x cores) from ``/proc/cpuinfo``."""
    model = ""
    flags: set[str] = set()
    cores: dict[str, int] = {}
    physical_id = "0"
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key in ("model name", "cpu model", "hardware") and not model:
            model = value
        elif key in ("flags", "features") and not flags:  # x86 "flags", arm "Features"
            flags = set(value.split())
        elif key == "physical id":
            physical_id = value
        elif key == "cpu cores" and value.isdigit():
            cores[physical_id] = int(value)
    return model, frozenset(flags), (sum(cores.values()) or None)


def parse_meminfo(text: str) -> tuple[int | None, int | None]:
    """``MemTotal`` and ``MemAvailable`` in bytes from ``/proc/meminfo``."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[key.strip()] = int(parts[0]) * 1024
    return values.get("MemTotal"), values.get("MemAvailable")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _cgroup_memory_limit(root: Path) -> int | None:
    for name in ("sys/fs/cgroup/memory.max", "sys/fs/cgroup/memory/memory.limit_in_bytes"):
        text = _read(root / name)
        if text is not None and text.strip().isdigit():
            return int(text.strip())
    return None


def _memory(root: Path, notes: list[str]) -> tuple[int, int]:
    total: int | None
    available: int | None
    try:
        import psutil

        memory = psutil.virtual_memory()
        total, available = int(memory.total), int(memory.available)
    except Exception as exc:  # psutil missing or refusing on this platform
        notes.append(f"psutil could not read memory ({exc}); read /proc/meminfo")
        total, available = parse_meminfo(_read(root / "proc/meminfo") or "")
    if total is None:
        notes.append("RAM size unknown")
        return 0, 0
    available = total if available is None else available
    limit = _cgroup_memory_limit(root)
    if limit is not None and limit < total:
        notes.append(f"RAM capped by the cgroup memory limit ({limit / GIB:.1f} GiB)")
        return limit, min(available, limit)
    return total, available


def _cores(physical: int | None) -> tuple[int, int]:
    try:
        logical = len(os.sched_getaffinity(0))  # what this process may use
    except (AttributeError, OSError):
        logical = os.cpu_count() or 1
    if physical is None:
        try:
            import psutil

            physical = psutil.cpu_count(logical=False)
        except Exception:
            physical = None
    return min(physical or logical, logical), logical


def detect_nvidia(notes: list[str]) -> list[GpuInfo]:
    """NVIDIA GPUs through NVML; none (and a note) when the library or driver is missing."""
    try:
        import pynvml
    except ImportError:
        notes.append("nvidia-ml-py not installed (extra 'gpu'): NVIDIA GPUs not looked for")
        return []
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, _DriverNotLoaded, ...
        notes.append(f"no NVIDIA driver ({exc})")
        return []
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            gpus.append(
                GpuInfo(
                    name=_text(pynvml.nvmlDeviceGetName(handle)),
                    vendor="nvidia",
                    memory_bytes=int(memory.total),
                    memory_free_bytes=int(memory.free),
                    driver=driver,
                )
            )
        return gpus
    except Exception as exc:
        notes.append(f"NVML failed while listing GPUs ({exc})")
        return []
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            notes.append("NVML did not shut down cleanly")


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _drm_gpus(root: Path, ram_bytes: int) -> list[GpuInfo]:
    """Intel and AMD GPUs the kernel's DRM lists (NVIDIA's come from NVML)."""
    drm = root / "sys/class/drm"
    if not drm.is_dir():
        return []
    gpus = []
    for card in sorted(drm.glob("card[0-9]*")):
        if "-" in card.name:  # connectors: card0-HDMI-A-1
            continue
        device = card / "device"
        vendor = (_read(device / "vendor") or "").strip()
        if vendor == _INTEL:
            gpus.append(
                GpuInfo(
                    name="Intel integrated GPU",
                    vendor="intel",
                    memory_bytes=ram_bytes // 2,
                    integrated=True,
                )
            )
        elif vendor == _AMD:
            vram_text = (_read(device / "mem_info_vram_total") or "").strip()
            vram = int(vram_text) if vram_text.isdigit() else 0
            integrated = vram < _APU_VRAM_LIMIT
            gpus.append(
                GpuInfo(
                    name="AMD integrated GPU" if integrated else "AMD GPU",
                    vendor="amd",
                    memory_bytes=ram_bytes // 2 if integrated else vram,
                    integrated=integrated,
                )
            )
    return gpus


def detect_hardware(*, root: Path = Path("/"), nvml: bool = True) -> HardwareProfile:
    """This machine's profile (blocking: a few file reads, and NVML when installed)."""
    notes: list[str] = []
    system, machine = platform.system(), platform.machine()
    model, flags, physical = parse_cpuinfo(_read(root / "proc/cpuinfo") or "")
    if not model:
        model = platform.processor() or machine or "unknown CPU"
    if not flags:
        notes.append("CPU instruction-set flags unknown on this platform")
    physical_cores, logical_cores = _cores(physical)
    ram, available = _memory(root, notes)
    gpus: list[GpuInfo] = detect_nvidia(notes) if nvml else []
    if system == "Darwin" and machine == "arm64":
        gpus.append(
            GpuInfo(
                name="Apple silicon GPU",
                vendor="apple",
                memory_bytes=int(ram * _APPLE_GPU_SHARE),
                integrated=True,
            )
        )
    elif system == "Linux":
        gpus.extend(_drm_gpus(root, ram))
    return HardwareProfile(
        cpu_model=model,
        physical_cores=physical_cores,
        logical_cores=logical_cores,
        cpu_flags=flags,
        ram_bytes=ram,
        ram_available_bytes=available,
        gpus=tuple(gpus),
        system=system,
        machine=machine,
        notes=tuple(notes),
    )
