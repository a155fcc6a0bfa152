"""Compatibility layer for the folder-of-txt builder: `corpus_files`, `read_article` and `Article`.

New code reads with `semsearch.reading.list_sources` / `iter_documents`, which handle every format.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from semsearch.errors import SemsearchError
from semsearch.reading.base import decode
from semsearch.reading.document import Block
from semsearch.reading.lines import HEADING_MAX_CHARS, classify_line, parse_lines, title_of
from semsearch.reading.messages import place, shown_path, warn
from semsearch.reading.sources import list_sources

__all__ = [
    "HEADING_MAX_CHARS",
    "Article",
    "Block",
    "classify_line",
    "corpus_files",
    "fingerprint_bytes",
    "parse_article",
    "read_article",
    "read_corpus",
]


@dataclass(frozen=True)
class Article:
    """A decoded article file with its date, title and classified lines (offsets into `text`)."""

    doc_id: str
    path: Path
    text: str
    date: str | None
    fingerprint: str
    blocks: tuple[Block, ...]

    @property
    def title(self) -> str | None:
        """The headline: the article's first line when it is a heading, else None."""
        return title_of(self.text, self.blocks)


def parse_article(doc_id: str, text: str, path: Path | None = None, fingerprint: str = "") -> Article:
    """Parse decoded article text into an `Article`; the `date YYYY-MM` prefix is never in a block."""
    date, blocks = parse_lines(text)
    return Article(doc_id, path or Path(doc_id), text, date, fingerprint, blocks)


def fingerprint_bytes(data: bytes) -> str:
    """The content fingerprint stored per document in the index manifest."""
    return hashlib.sha256(data).hexdigest()


def corpus_files(corpus: Path) -> dict[str, Path]:
    """Map document id (path relative to `corpus`, without `.txt`) to file, for every `*.txt` below it."""
    corpus = Path(corpus)
    if not corpus.is_dir():
        raise SemsearchError(f"corpus folder '{shown_path(corpus)}' does not exist: pass a folder of .txt articles")
    try:
        sources = list_sources(corpus)
    except SemsearchError:
        sources = []
    files = {s.doc_id: s.path for s in sources if s.suffix == ".txt"}
    if not files:
        raise SemsearchError(f"corpus folder '{shown_path(corpus)}' holds no .txt files: add UTF-8 articles named *.txt")
    return files


def read_article(doc_id: str, path: Path, data: bytes | None = None) -> Article | None:
    """Read one article file (a BOM is stripped); warn and return None when it is not UTF-8 or has no text."""
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as e:
            warn(place(path), f"cannot be read ({e.strerror or e}): check that it exists and is readable")
            return None
    text = decode(data, place(path))
    if text is None:
        return None
    article = parse_article(doc_id, text, path, fingerprint_bytes(data))
    if not any(b.kind == "paragraph" for b in article.blocks):
        warn(place(path), "holds no text to index (only a title or headings), so it is skipped: add text")
        return None
    return article


def read_corpus(corpus: Path) -> Iterator[Article]:
    """Yield every readable article under `corpus`, warning about and skipping unreadable ones."""
    for doc_id, path in corpus_files(corpus).items():
        article = read_article(doc_id, path)
        if article is not None:
            yield article
