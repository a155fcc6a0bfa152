"""Chunking: sentence-aligned, token-budgeted spans of a document, with exact offsets."""

from semsearch.chunking.chunker import Chunk, ChunkParams, chunk_article, chunk_id, sentences_of, split_sentences

__all__ = ["Chunk", "ChunkParams", "chunk_article", "chunk_id", "sentences_of", "split_sentences"]
