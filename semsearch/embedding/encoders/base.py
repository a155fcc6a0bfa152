"""The one interface of every encoder (`Encoder`), and what `Embedder` opens an encoder with (`Setup`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

OnBatch = Callable[[int], None]


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Setup:
    """What an encoder is opened with.

    Args:
        model: the sentence-transformers model folder.
        export: the verified ONNX export folder (for the encoders that run it; None for the others).
        marker: the export's marker (`onnx_export.read_marker`).
        device: "cpu" or "cuda".
        threads: the runtime's thread count (0: one per physical core).
        max_seq_length: the longest input in tokens (longer texts are truncated).
        vocabulary: for bulk work, gives the tokenizer vocabulary that the chunker's counter shares (see
            `Embedder.bulk_vocabulary`); None for queries and small updates: the lazy tokenizer, made in milliseconds.
        before_compile: called right before the runtime compiles its graph (the bulk vocabulary is made meanwhile).
    """

    model: Path
    export: Path | None = None
    marker: dict = field(default_factory=dict)
    device: str = "cpu"
    threads: int = 0
    max_seq_length: int = 512
    vocabulary: Callable[[], Any] | None = None
    before_compile: Callable[[], None] = _nothing


class Encoder(ABC):
    """Texts to L2-normalised float32 vectors, in input order: what every backend gives.

    A subclass says what an index records of it (`backend`, `quantisation`), whether it runs the ONNX export
    (`needs_export`), is opened with a `Setup`, and implements `dim` and `encode`. `encoders.encoder_class` finds
    one by name.
    """

    backend: ClassVar[str] = ""  # what an index records: "onnx" for every runtime of the export, "torch", ...
    needs_export: ClassVar[bool] = False
    quantisation: str = "fp32"  # what it computes in: "fp32", "int8", "bf16" or "fp16"

    def __init__(self, setup: Setup) -> None:
        self.setup = setup

    @property
    @abstractmethod
    def dim(self) -> int:
        """Length of the vectors `encode` returns."""

    @abstractmethod
    def encode(self, texts: Sequence[str], batch_size: int = 32, on_batch: OnBatch | None = None) -> np.ndarray:
        """L2-normalised float32 vectors of `texts` (prompts already prepended), in input order, [len(texts), dim].

        `on_batch(n)` is called after each batch with the number of texts it held (for progress bars).
        """

    @property
    def label(self) -> str:
        """What ran, as a commit lists it: "onnx-fp32", "onnx-int8", "onnx-bf16", "torch-fp32", "torch-fp16", ..."""
        return f"{self.backend}-{self.quantisation}"


def normalised(vectors: Any) -> np.ndarray:
    """Rows as contiguous float32 scaled to unit length (a zero row stays zero)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
