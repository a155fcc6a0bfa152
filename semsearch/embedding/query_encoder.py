"""The torch-free query encoder: a numpy export of the model, cached per model fingerprint."""

from __future__ import annotations

from pathlib import Path

from semsearch.embedding import numpy_encoder
from semsearch.embedding.pypi_model import cache_root


def export_dir(fingerprint: str) -> Path:
    """Where the numpy export of the model with this fingerprint lives."""
    return cache_root() / "encoders" / fingerprint


def load(model_dir: Path, fingerprint: str) -> numpy_encoder.NumpyEncoder | None:
    """The numpy encoder for `model_dir`, exported on first use; None when the model's architecture is unsupported."""
    out = export_dir(fingerprint)
    try:
        return numpy_encoder.NumpyEncoder.load(out)
    except (OSError, ValueError):  # not exported yet, or by an older version of the format
        pass
    if not numpy_encoder.supports(model_dir):
        return None
    from filelock import FileLock

    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out) + ".lock", timeout=600):
        if not numpy_encoder.is_export(out):
            numpy_encoder.export(model_dir, out)
    return numpy_encoder.NumpyEncoder.load(out)
