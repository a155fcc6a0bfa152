"""What the builder reads, through the reading layer: source files with their size and mtime (an unchanged
file is skipped unread), and each document with the entry the index stores for it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from semsearch.index.records import DocEntry
from semsearch.ingest.file_states import Hit, RecordMemo
from semsearch.reading import Document, ReadOptions, SourceFile, dedupe, list_sources, read_source, reader_for, record_document
from semsearch.reading.sources import Seen, checked, stopped

__all__ = ["EqualDoc", "SourceDoc", "SourceFile", "api_doc", "list_sources", "memo_docs", "record_docs", "source_docs"]


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


@dataclass(frozen=True)
class EqualDoc:
    """A record line found equal to its stored document without being parsed (see `file_states`)."""

    doc_id: str


def memo_docs(
    src: SourceFile, options: ReadOptions, seen: Seen, memo: RecordMemo, stored: Callable[[str, str], bool]
) -> Iterator[SourceDoc | EqualDoc]:
    """As `source_docs` for a file of many records (JSONL, CSV: its format has `records`), but a record that gave a
    document when the file was last read whole, under the same options, is an `EqualDoc` without being parsed
    when `stored(doc_id, fingerprint)` says the index still holds that document from this file. What this read
    finds is noted in `memo` once it ends."""
    before, now = memo.records_of(src.name), {}
    try:
        for where, raw, parse in reader_for(src.name).records(src, options):
            key = memo.key(raw)
            hit: Hit | None = before.get(key)
            if hit is not None and seen.get(hit[0]) is None and stored(*hit):
                seen[hit[0]], now[key] = where, hit
                yield EqualDoc(hit[0])
                continue
            doc = parse()
            for kept in dedupe(iter([doc] if doc is not None and checked(doc, options) else []), seen):
                now[key] = (kept.doc_id, kept.fingerprint)
                yield SourceDoc(kept.doc_id, kept, _entry(kept, src.name, src.size, src.mtime_ns))
    except (OSError, MemoryError) as e:
        stopped(src, e)
        return
    memo.read_whole(src.name, now)


def api_doc(doc: Document, source: str) -> SourceDoc:
    """A document added through the API (its entry names `source`, never a corpus file)."""
    return SourceDoc(doc.doc_id, doc, _entry(doc, f"{source}{doc.doc_id}", 0, 0))


def record_docs(records: Iterable[dict], options: ReadOptions, source: str) -> list[SourceDoc]:
    """Documents given as dicts with the JSONL fields; a record without id or text, or with an id given
    before, is warned about (naming the record) and skipped."""
    docs = (record_document(r, options, f"record {i + 1}") for i, r in enumerate(records))
    return [api_doc(doc, source) for doc in dedupe((d for d in docs if d is not None), {})]
