"""Which device bulk embedding runs on: CUDA through torch when asked for or available, else the CPU."""

from __future__ import annotations

from pathlib import Path

from semsearch.errors import SemsearchError

NVIDIA_MARKERS = (Path("/dev/nvidiactl"), Path("/proc/driver/nvidia"))


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
