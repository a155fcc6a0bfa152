"""Writing index segments straight from texts, with random unit vectors: store tests need no model."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from semsearch.analysis import analyze
from semsearch.chunking import chunk_id
from semsearch.index import store
from semsearch.index.commit import new_commit
from semsearch.index.records import ChunkEntry, DocEntry, sentence_texts
from semsearch.index.segment import SegmentWriter
from semsearch.ingest.chunk_terms import sentence_spans

DIM = 8
SETTINGS = {"format_version": 4, "test": True}
MODEL = {"name": "none", "variant": "local", "path": "", "fingerprint": "", "dim": DIM}


def vector_of(text: str) -> np.ndarray:
    """A deterministic unit vector for a text."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def entries(doc_id: str, chunks: list[str]) -> tuple[DocEntry, list[ChunkEntry], np.ndarray]:
    """A document made of these chunk texts (joined by newlines), its chunk entries and vectors."""
    text = "\n".join(chunks)
    out, at = [], 0
    for pos, chunk in enumerate(chunks):
        spans = sentence_spans(chunk)
        out.append(
            ChunkEntry(
                chunk_id(doc_id, at, at + len(chunk), chunk),
                doc_id,
                pos,
                at,
                at + len(chunk),
                chunk,
                None,
                len(chunk.split()),
                tuple(analyze(chunk)),
                tuple(tuple(analyze(chunk[s:e])) for s, e in spans),
                tuple(spans),
            )  # fmt: skip
        )
        at += len(chunk) + 1
    fp = hashlib.sha256(text.encode()).hexdigest()
    doc = DocEntry(doc_id, f"{doc_id}.txt", len(text), 0, fp, text, title=None, date="2019-06", metadata={"n": len(chunks)})
    return doc, out, np.stack([vector_of(c) for c in chunks])


def sentence_vectors(chunks: list[ChunkEntry]) -> np.ndarray:
    """The vectors of the chunks' sentences (`records.sentence_texts`), in order."""
    return np.stack([vector_of(t) for c in chunks for t in sentence_texts(c.text, c.sentence_spans)])


def write_segment(root: Path, docs: dict[str, list[str]], sentences: bool = False) -> tuple[str, int, int, dict]:
    """One finished segment holding these documents (with their sentence vectors when `sentences`)."""
    built = [entries(d, c) for d, c in docs.items()]
    count = sum(len(sentence_vectors(c)) for _, c, _ in built) if sentences else None
    writer = SegmentWriter(root, DIM, sum(len(c) for _, c, _ in built), sentences=count)
    for doc, chunks, vectors in built:
        writer.add(doc, chunks, vectors, sentence_vectors(chunks) if sentences else None)
    name, files = writer.finish()
    return name, writer.rows, writer.docs, files, writer.ann_info


def commit_docs(root: Path, docs: dict[str, list[str]], delete: tuple[str, ...] = (), sentences: bool = False) -> int:
    """Commit these documents (replacing any with the same id) and delete others; the new generation."""
    root = Path(root)
    with store.lock(root):
        base, _ = store.latest_commit(root)
        writer = store.Writer(root, base or new_commit(SETTINGS, MODEL))
        catalog = {d.doc_id: d for d in writer.generation.catalog()}
        for doc_id in list(docs) + list(delete):
            if doc_id in catalog:
                d = catalog[doc_id]
                writer.delete_rows(d.segment, d.first_row, d.chunks)
        if docs:
            writer.add_segment(*write_segment(root, docs, sentences))
        return writer.commit().generation


def passages_in(index: Path) -> int:
    """How many passages an index's vectors embed: its chunks and their sentences."""
    gen = store.open_generation(index)
    return gen.rows + sum(int(seg.sentence_starts[-1]) for seg in gen.segments if seg.has_sentence_vectors)
