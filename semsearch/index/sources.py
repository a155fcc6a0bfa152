"""What the builder reads, through the reading layer: source files with their size and mtime (an unchanged
file is skipped unread), and each document with the entry the index stores for it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from semsearch.index.records import DocEntry
from semsearch.reading import Document, ReadOptions, SourceFile, list_sources, read_source, record_document

__all__ = ["SourceDoc", "SourceFile", "api_doc", "list_sources", "record_doc", "source_docs"]


@dataclass(frozen=True)
class SourceDoc:
    """A document read from a source file or given as a record: the document (for chunking) and its entry."""

    doc_id: str
    article: Document
    entry: DocEntry


def _entry(doc: Document, source: str, size: int, mtime_ns: int) -> DocEntry:
    meta = dict(doc.metadata)
    return DocEntry(doc.doc_id, source, size, mtime_ns, doc.fingerprint, doc.text, doc.title, doc.date, doc.url, meta)


def source_docs(src: SourceFile, options: ReadOptions) -> Iterator[SourceDoc]:
    """The documents of one source file (its problems are `ReadWarning`s)."""
    for doc in read_source(src, options):
        yield SourceDoc(doc.doc_id, doc, _entry(doc, src.name, src.size, src.mtime_ns))


def api_doc(doc: Document, source: str) -> SourceDoc:
    """A document added through the API (its entry names `source`, never a corpus file)."""
    return SourceDoc(doc.doc_id, doc, _entry(doc, f"{source}{doc.doc_id}", 0, 0))


def record_doc(record: dict, options: ReadOptions, source: str, where: str) -> SourceDoc | None:
    """A document given as a dict with the JSONL fields, or None (with a warning) when it has no id or text."""
    doc = record_document(record, options, where)
    return None if doc is None else api_doc(doc, source)
