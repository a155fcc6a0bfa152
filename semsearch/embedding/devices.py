"""Which device bulk embedding runs on (CUDA through torch when asked for or available, else the CPU),
and what the CPU computes natively (from /proc/cpuinfo, without importing torch).

$SEMSEARCH_CPU makes the choice act as it would on a lesser CPU, so every backend path can be tested on any
machine: `avx2` (no AVX-512, no VNNI, no bf16), `avx512` (AVX-512 with VNNI, no bf16), `avx512-bf16` (no AMX)
or `native` (the default). A profile only takes features away: it never claims what this CPU lacks.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from semsearch.errors import SemsearchError

NVIDIA_MARKERS = (Path("/dev/nvidiactl"), Path("/proc/driver/nvidia"))
CPUINFO = Path("/proc/cpuinfo")
CPU_ENV = "SEMSEARCH_CPU"


def _drops_avx512(flag: str) -> bool:
    return flag.startswith(("avx512", "amx", "avx_vnni"))


# What each profile hides of the kernel's flag list.
PROFILES = {
    "native": lambda flag: False,
    "avx512-bf16": lambda flag: flag.startswith("amx"),
    "avx512": lambda flag: flag.startswith("amx") or flag == "avx512_bf16",
    "avx2": _drops_avx512,
}


def cpu_profile() -> str:
    """The CPU profile in force: $SEMSEARCH_CPU, or "native"; SemsearchError for an unknown one."""
    name = os.environ.get(CPU_ENV, "").strip().lower() or "native"
    if name not in PROFILES:
        raise SemsearchError(f"{CPU_ENV}={name} is not a CPU profile: use one of {', '.join(PROFILES)}")
    return name


def cpu_flags() -> frozenset[str]:
    """The instruction-set flags of this CPU as the kernel lists them, less what $SEMSEARCH_CPU hides (empty where
    /proc/cpuinfo is absent)."""
    hidden = PROFILES[cpu_profile()]
    return frozenset(flag for flag in _native_flags() if not hidden(flag))


@lru_cache(maxsize=1)
def _native_flags() -> frozenset[str]:
    try:
        text = CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def cpu_summary() -> str:
    """One phrase for logs and `semsearch info`: the best int8 and bf16 instructions in use, and the profile."""
    flags = cpu_flags()
    best = next((f for f in ("amx_bf16", "avx512_bf16", "avx512_vnni", "avx512f", "avx2") if f in flags), "baseline")
    profile = cpu_profile()
    return best if profile == "native" else f"{best} ({CPU_ENV}={profile})"


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
