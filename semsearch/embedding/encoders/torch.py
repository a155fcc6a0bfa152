"""The model on sentence-transformers (imports torch): fp32 on the CPU, fp16 on a CUDA GPU."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from semsearch import runtimes
from semsearch.embedding.encoders.base import Encoder, OnBatch, Setup, normalised
from semsearch.embedding.models import REINSTALL
from semsearch.errors import SemsearchError

SLICE = 1024  # texts per call to sentence-transformers: `on_batch` is told after each slice


class TorchEncoder(Encoder):
    """The sentence-transformers model of `setup.model` on `setup.device` (fp16 on CUDA), loaded when opened."""

    backend = "torch"

    def __init__(self, setup: Setup) -> None:
        super().__init__(setup)
        self.quantisation = "fp16" if setup.device == "cuda" else "fp32"
        SentenceTransformer = runtimes.load("sentence_transformers").SentenceTransformer
        try:
            model = SentenceTransformer(str(setup.model), device=setup.device)
        except Exception as e:  # a damaged folder: torch, transformers and safetensors each raise their own kind
            raise SemsearchError(f"cannot load model '{setup.model}' ({type(e).__name__}: {e}): {REINSTALL}") from None
        if setup.device == "cuda":
            model.half()
        model.max_seq_length = min(model.max_seq_length or setup.max_seq_length, setup.max_seq_length)
        self.model = model

    @property
    def dim(self) -> int:
        """Length of the vectors `encode` returns."""
        dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(dim())

    def encode(self, texts: Sequence[str], batch_size: int = 32, on_batch: OnBatch | None = None) -> np.ndarray:
        """Vectors of `texts` (prompts already prepended); sentence-transformers sorts each slice by length."""
        texts = list(texts)
        parts = [np.empty((0, self.dim), dtype=np.float32)]
        for start in range(0, len(texts), SLICE):
            part = texts[start : start + SLICE]
            parts.append(
                self.model.encode(
                    part, batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True, normalize_embeddings=True
                )
            )
            if on_batch is not None:
                on_batch(len(part))
        return normalised(np.concatenate(parts))
