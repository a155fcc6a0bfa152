"""Encoders by name: every backend behind one interface (`Encoder`), chosen from a registry.

    onnx            the ONNX export on ONNX Runtime, in fp32 (torch's vectors)
    onnx-int8       the export's int8 graph on ONNX Runtime
    openvino-bf16   the export's fp32 graph compiled by OpenVINO in bf16 (CPUs with AMX or AVX512-BF16)
    torch           sentence-transformers: fp32 on the CPU, fp16 on CUDA

Each is imported only when asked for, so a query never imports OpenVINO or torch. `register` adds one made
elsewhere (the tests' counting encoder).
"""

from __future__ import annotations

from importlib import import_module

from semsearch.embedding.encoders.base import Encoder, Setup, normalised
from semsearch.errors import SemsearchError

BUILT_IN = {  # name: (module, class)
    "onnx": ("semsearch.embedding.encoders.onnx", "OnnxEncoder"),
    "onnx-int8": ("semsearch.embedding.encoders.onnx", "OnnxInt8Encoder"),
    "openvino-bf16": ("semsearch.embedding.encoders.openvino", "OpenVinoEncoder"),
    "torch": ("semsearch.embedding.encoders.torch", "TorchEncoder"),
}
_REGISTERED: dict[str, type[Encoder]] = {}


def register(name: str, cls: type[Encoder]) -> None:
    """Make `cls` the encoder named `name` (one outside semsearch: `Embedder(spec, backend=name)` then runs it)."""
    if name in BUILT_IN:
        raise ValueError(f"'{name}' is a built-in encoder")
    _REGISTERED[name] = cls


def registered(name: str) -> bool:
    """Whether `name` is an encoder added with `register`."""
    return name in _REGISTERED


def encoder_class(name: str) -> type[Encoder]:
    """The encoder class named `name`; SemsearchError for an unknown name."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name not in BUILT_IN:
        raise SemsearchError(f"unknown encoder '{name}': use one of {', '.join([*BUILT_IN, *_REGISTERED])}")
    module, cls = BUILT_IN[name]
    return getattr(import_module(module), cls)


__all__ = ["BUILT_IN", "Encoder", "Setup", "encoder_class", "normalised", "register", "registered"]
