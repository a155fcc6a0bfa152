"""Which device bulk embedding runs on (CUDA through torch when asked for or available, else the CPU),
and what the CPU computes natively (from /proc/cpuinfo, without importing torch)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from semsearch.errors import SemsearchError

NVIDIA_MARKERS = (Path("/dev/nvidiactl"), Path("/proc/driver/nvidia"))
CPUINFO = Path("/proc/cpuinfo")


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The instruction-set flags of this CPU as the kernel lists them (empty where /proc/cpuinfo is absent)."""
    try:
        text = CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def bf16_isa() -> str:
    """The CPU's native bfloat16 matrix instructions: "amx_bf16" (Intel AMX), "avx512_bf16" (Zen 4, Cooper Lake
    and later) or "none" (bf16 would be emulated, slower than fp32)."""
    flags = cpu_flags()
    return next((isa for isa in ("amx_bf16", "avx512_bf16") if isa in flags), "none")


def _nvidia_driver_present() -> bool:
    """A cheap check before importing torch: without an NVIDIA driver, torch cannot see a GPU."""
    return any(p.exists() for p in NVIDIA_MARKERS)


def cuda_available() -> bool:
    """`torch.cuda.is_available()`, without importing torch (seconds) where no NVIDIA driver is installed."""
    if not _nvidia_driver_present():
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve(requested: str) -> str:
    """ "cpu" or "cuda" for a requested "auto", "cpu" or "cuda"; SemsearchError for "cuda" without a usable GPU."""
    if requested == "cpu":
        return "cpu"
    if requested == "cuda":
        if not cuda_available():
            raise SemsearchError(
                "--device cuda: torch sees no CUDA GPU here (torch.cuda.is_available() is false): "
                "use --device cpu or --device auto"
            )
        return "cuda"
    return "cuda" if cuda_available() else "cpu"
