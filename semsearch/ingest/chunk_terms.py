"""From a document to what a segment stores: chunks with their analysed terms and sentence spans."""

from __future__ import annotations

from semsearch.analysis import analyze
from semsearch.chunking import ChunkParams, chunk_article, split_sentences
from semsearch.chunking.chunker import TokenCounter
from semsearch.index.records import ChunkEntry


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Offsets of the sentences and lines of a chunk's text (the units `chunking.sentences_of` yields)."""
    spans = []
    for s, e in split_sentences(text, 0, len(text)):
        pos = s
        for line in text[s:e].splitlines(keepends=True):
            stripped = line.strip()
            if stripped:
                start = pos + len(line) - len(line.lstrip())
                spans.append((start, start + len(stripped)))
            pos += len(line)
    return spans


def chunk_entries(article, count_tokens: TokenCounter, params: ChunkParams, prompt: str) -> tuple[list[ChunkEntry], list[str]]:
    """Chunk a document; returns the entries to store and the passages to embed (same order)."""
    entries, passages = [], []
    for chunk in chunk_article(article, count_tokens, params, prompt):
        passage = chunk.passage(params.with_title)
        spans = sentence_spans(chunk.text)
        entries.append(
            ChunkEntry(
                chunk.id,
                chunk.doc_id,
                chunk.position,
                chunk.start,
                chunk.end,
                chunk.text,
                chunk.heading,
                chunk.tokens,
                tuple(analyze(passage)),
                tuple(tuple(analyze(chunk.text[s:e])) for s, e in spans),
                tuple(spans),
            )
        )
        passages.append(passage)
    return entries, passages
