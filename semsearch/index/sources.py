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
