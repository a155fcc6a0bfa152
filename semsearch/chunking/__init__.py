"""Chunking: sentence-aligned, token-budgeted spans of a document, with exact offsets."""

from semsearch.chunking.chunker import (
    Chunk,
    ChunkParams,
    TokenCounter,
    chunk_article,
    chunk_id,
    chunk_many,
    sentences_of,
    split_sentences,
)

__all__ = [
    "Chunk",
    "ChunkParams",
    "TokenCounter",
    "chunk_article",
    "chunk_id",
    "chunk_many",
    "sentences_of",
    "split_sentences",
]
