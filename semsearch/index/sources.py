"""What the builder reads, through the reading layer: source files with their size and mtime (an unchanged
file is skipped unread), and each document with the entry the index stores for it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from semsearch.index.records import DocEntry
from semsearch.reading import Document, ReadOptions, SourceFile, dedupe, list_sources, read_source, record_document
from semsearch.reading.sources import Seen

__all__ = ["SourceDoc", "SourceFile", "api_doc", "list_sources", "record_docs", "source_docs"]


@dataclass(frozen=True)
class SourceDoc:
    """A document read from a source file or given as a record: the document (for chunking) and its entry."""

    doc_id: str
    article: Document
    entry: DocEntry


def _entry(doc: Document, source: str, size: int, mtime_ns: int) -> DocEntry:
    meta = dict(doc.metadata)
    return DocEntry(doc.doc_id, source, size, mtime_ns, doc.fingerprint, doc.text, doc.title, doc.date, doc.url, meta)


def source_docs(src: SourceFile, options: ReadOptions, seen: Seen) -> Iterator[SourceDoc]:
    """The documents of one source file whose ids are not in `seen` (id -> where it was read; updated).

    Its problems, a repeated id among them, are `ReadWarning`s.
    """
    for doc in dedupe(read_source(src, options), seen):
        yield SourceDoc(doc.doc_id, doc, _entry(doc, src.name, src.size, src.mtime_ns))


def api_doc(doc: Document, source: str) -> SourceDoc:
    """A document added through the API (its entry names `source`, never a corpus file)."""
    return SourceDoc(doc.doc_id, doc, _entry(doc, f"{source}{doc.doc_id}", 0, 0))


def record_docs(records: Iterable[dict], options: ReadOptions, source: str) -> list[SourceDoc]:
    """Documents given as dicts with the JSONL fields; a record without id or text, or with an id given
    before, is warned about (naming the record) and skipped."""
    docs = (record_document(r, options, f"record {i + 1}") for i, r in enumerate(records))
    return [api_doc(doc, source) for doc in dedupe((d for d in docs if d is not None), {})]
