"""What the builder reads: the source files of a corpus with their size and mtime, and their documents.

This adapts the reading layer (`semsearch.reading`) to the index: a source file is skipped unread when
its size and mtime are those recorded for its documents.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from semsearch.index.records import DocEntry
from semsearch.reading.articles import Article, corpus_files, read_article


@dataclass(frozen=True)
class SourceFile:
    """A file of the corpus: `key` names it in the index (its path relative to the corpus)."""

    key: str
    path: Path
    doc_id: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class SourceDoc:
    """A document read from a source file: the parsed article (for chunking) and its stored entry."""

    doc_id: str
    article: Article
    entry: DocEntry


def list_sources(corpus: Path) -> list[SourceFile]:
    """Every readable source file under `corpus`, sorted, with its size and mtime."""
    out = []
    for doc_id, path in corpus_files(Path(corpus)).items():
        st = os.stat(path)
        out.append(SourceFile(path.relative_to(corpus).as_posix() if path != corpus else path.name, path, doc_id,
                              st.st_size, st.st_mtime_ns))  # fmt: skip
    return out


def read_source(src: SourceFile) -> Iterator[SourceDoc]:
    """The documents of one source file (warnings name what could not be read)."""
    article = read_article(src.doc_id, src.path)
    if article is None:
        return
    entry = DocEntry(src.doc_id, src.key, src.size, src.mtime_ns, article.fingerprint, article.text, article.title, article.date)
    yield SourceDoc(src.doc_id, article, entry)


_RESERVED = ("id", "text", "title", "date", "url")


def record_doc(record: dict, source: str = "api") -> SourceDoc:
    """A document given as a dict with the JSONL fields: `id`, `text`, optional `title`, `date`, `url`;
    every other field is metadata. A SemsearchError names what is missing."""
    import hashlib
    import json

    from semsearch.errors import SemsearchError
    from semsearch.reading.articles import parse_article

    if not isinstance(record, dict):
        raise SemsearchError(f"{source}: a record must be a dict with 'id' and 'text' (got {type(record).__name__})")
    doc_id, text = record.get("id"), record.get("text")
    if doc_id is None or str(doc_id) == "" or not isinstance(text, str) or not text.strip():
        raise SemsearchError(f"{source}: a record needs a non-empty 'id' and 'text' (got keys {sorted(record)})")
    doc_id = str(doc_id)
    meta = {k: v for k, v in record.items() if k not in _RESERVED and isinstance(v, (str, int, float, bool))}
    article = parse_article(doc_id, text, Path(source))
    title = record.get("title") or article.title
    date = record.get("date") or article.date
    stored = {"text": text, "title": title, "date": date, "url": record.get("url"), "metadata": meta}
    fp = hashlib.sha256(json.dumps(stored, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    article = Article(doc_id, Path(source), text, date, fp, article.blocks)
    entry = DocEntry(doc_id, f"{source}:{doc_id}", 0, 0, fp, text, title, date, record.get("url"), meta)
    return SourceDoc(doc_id, article, entry)
