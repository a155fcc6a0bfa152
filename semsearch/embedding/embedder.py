"""Embedding with a sentence-transformers model: prompts applied here and only here, batched, normalised."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from functools import cached_property, lru_cache

import numpy as np

from semsearch.embedding.models import ModelSpec, max_seq_length, model_fingerprint, prompts_for

SMALL_BATCH = 64  # up to this many passages, skipping torch's start-up beats its faster batches


@lru_cache(maxsize=1)
def _controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def blas_threads(n: int):
    """A context that limits numpy's BLAS to `n` threads."""
    return _controller().limit(limits=n, user_api="blas")


class Embedder:
    """Embeds passages (for the index) and queries (for search) with one model.

    Bulk passages go through sentence-transformers (torch). Queries and small batches of passages use
    a torch-free numpy copy of the same model when the architecture allows it, so a cold query or a
    small update never imports torch.
    """

    def __init__(self, spec: ModelSpec, batch_size: int = 32):
        self.spec = spec
        self.batch_size = batch_size
        self.last_backend: str | None = None
        self.load_seconds = 0.0
        self.prompts = prompts_for(spec)
        self.max_seq_length = max_seq_length(spec.path)

    @cached_property
    def fingerprint(self) -> str:
        """Fingerprint of the model folder (see `models.model_fingerprint`)."""
        return model_fingerprint(self.spec.path)

    def with_prompt(self, kind: str, texts: Sequence[str]) -> list[str]:
        """Prefix texts with the model's `query` or `passage` prompt: the one place prompts are applied."""
        prompt = self.prompts.get(kind, "")
        return [prompt + t for t in texts]

    @cached_property
    def model(self):
        """The sentence-transformers model, loaded on first use (imports torch)."""
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(self.spec.path), device="cpu")
        model.max_seq_length = min(model.max_seq_length or self.max_seq_length, self.max_seq_length)
        return model

    @cached_property
    def _tokenizer(self):
        path = self.spec.path / "tokenizer.json"
        if path.is_file():
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(path))
            tok.no_truncation()
            tok.no_padding()
            return tok
        return None

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token count of each text as the model sees it, special tokens included, before truncation."""
        if self._tokenizer is not None:
            return [len(e.ids) for e in self._tokenizer.encode_batch(list(texts))]
        return [len(ids) for ids in self.model.tokenizer(list(texts), add_special_tokens=True)["input_ids"]]

    def embed_passages(self, texts: Sequence[str], progress: bool | None = None) -> np.ndarray:
        """L2-normalised float32 vectors for passages, in batches, with a progress bar on a terminal.

        A handful of passages (an incremental update) goes through the torch-free encoder, which gives
        the same vectors (cosine >= 0.99999) without seconds of torch start-up; bulk work uses
        sentence-transformers, which is about twice as fast per passage. `last_backend` says which ran.
        """
        prompted = self.with_prompt("passage", texts)
        if len(texts) <= SMALL_BATCH and os.environ.get("SEMSEARCH_BACKEND") != "torch" and self._query_encoder:
            self.last_backend = "numpy"
            vectors = self._query_encoder.encode(prompted, batch_size=self.batch_size)
        else:
            self.last_backend = "sentence-transformers"
            t0 = time.perf_counter()
            model = self.model
            self.load_seconds = time.perf_counter() - t0
            vectors = model.encode(
                prompted,
                batch_size=self.batch_size,
                show_progress_bar=sys.stderr.isatty() if progress is None else progress,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    @cached_property
    def _query_encoder(self):
        from semsearch.embedding import query_encoder

        return query_encoder.load(self.spec.path, self.fingerprint)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors for questions (torch-free when the model allows it)."""
        prompted = self.with_prompt("query", texts)
        if os.environ.get("SEMSEARCH_BACKEND") != "torch" and self._query_encoder is not None:
            # One BLAS thread: a short question gains ~10% from two on an idle machine and loses 2x
            # when another process holds a core (bench/speed.py, section 6).
            with blas_threads(1):
                vectors = self._query_encoder.encode(prompted)
        else:
            vectors = self.model.encode(prompted, convert_to_numpy=True, normalize_embeddings=True)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def prepare_query_encoder(self) -> bool:
        """Export the torch-free query encoder now (done at index time); True when the model supports it."""
        return self._query_encoder is not None
