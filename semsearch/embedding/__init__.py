"""Embedding backends: model resolution, the PyPI rebuild, prompts, and the encoders."""

from semsearch.embedding.embedder import Embedder

__all__ = ["Embedder"]
