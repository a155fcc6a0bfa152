"""A fake encoder for the tests (after simonw/llm's EmbedDemo): deterministic vectors, and a log of what it embedded.

Registered as "counting" by conftest, so `build_index(..., backend="counting")` or `Embedder(spec,
backend="counting")` embeds with it: every passage and query goes through it (no ONNX export, no torch), and an
update of an index built with it does too (the index records its name).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import ClassVar

import numpy as np

from semsearch.embedding.encoders import Encoder, normalised

NAME = "counting"


class CountingEncoder(Encoder):
    """Each text's vector counts its lower-cased words, hashed into `DIM` dimensions (texts sharing words are
    near); every text it embeds is logged, in order, across instances."""

    backend = NAME
    quantisation = "fp32"
    DIM = 32
    texts: ClassVar[list[str]] = []  # every text embedded, in order
    calls: ClassVar[list[int]] = []  # texts per `encode` call
    opened: ClassVar[int] = 0
    on_encode: ClassVar[Callable[[int, list[str]], None] | None] = None  # called first with (call number, texts)

    def __init__(self, setup) -> None:
        super().__init__(setup)
        type(self).opened += 1

    @classmethod
    def reset(cls) -> None:
        """Forget what was embedded and opened, and the hook."""
        cls.texts, cls.calls, cls.opened, cls.on_encode = [], [], 0, None

    @property
    def dim(self) -> int:
        return self.DIM

    def encode(self, texts: Sequence[str], batch_size: int = 32, on_batch=None) -> np.ndarray:
        texts, cls = list(texts), type(self)
        if cls.on_encode is not None:
            cls.on_encode(len(cls.calls) + 1, texts)
        cls.calls.append(len(texts))
        cls.texts.extend(texts)
        vectors = np.zeros((len(texts), self.DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split() or [""]:
                vectors[row, zlib.crc32(word.encode()) % self.DIM] += 1
        if on_batch is not None:
            on_batch(len(texts))
        return normalised(vectors)
