"""Reading news articles: dates, sub-headings, captions and boilerplate, with character offsets."""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from semsearch.errors import SemsearchError

_DATE = re.compile(r"\s*date (\d{4}-\d{2})\b[ \t]*")
_CAPTION = re.compile(r"\bFoto:\s*[^.!?]{1,80}$")
_BOILERPLATE = re.compile(
    r"^(\(©\s*[\w ]+\)|©\s*\w+|Mest (sett|lest)( siste (uken|døgnet|timen))?|Les også:?.*)$",
    re.IGNORECASE,
)
_FINAL_PUNCT = ".!?…:;,"
_CLOSERS = "\"'»”’)]"
HEADING_MAX_CHARS = 100


@dataclass(frozen=True)
class Block:
    """One line of an article: `kind` is "paragraph", "heading", "caption" or "boilerplate"."""

    kind: str
    start: int
    end: int


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
        if self.blocks and self.blocks[0].kind == "heading":
            first = self.blocks[0]
            return self.text[first.start : first.end]
        return None


def classify_line(line: str) -> str:
    """Classify one stripped line of an article as paragraph, heading, caption or boilerplate."""
    if _BOILERPLATE.match(line):
        return "boilerplate"
    if _CAPTION.search(line):
        return "caption"
    core = line.rstrip(_CLOSERS)
    if len(line) <= HEADING_MAX_CHARS and core and core[-1] not in _FINAL_PUNCT:
        return "heading"
    return "paragraph"


def parse_article(doc_id: str, text: str, path: Path | None = None, fingerprint: str = "") -> Article:
    """Parse decoded article text into an `Article`; the `date YYYY-MM` prefix is never in a block."""
    date = None
    blocks: list[Block] = []
    offset = 0
    for number, line in enumerate(text.splitlines(keepends=True)):
        line_start, offset = offset, offset + len(line)
        start = line_start
        if number == 0:
            m = _DATE.match(line)
            if m:
                date = m.group(1)
                start = line_start + m.end()
        body = text[start:offset]
        stripped = body.strip()
        if not stripped:
            continue
        start += len(body) - len(body.lstrip())
        end = start + len(stripped)
        # The lead paragraph after the date is never a heading, however short.
        kind = "paragraph" if (number == 0 and date) else classify_line(stripped)
        blocks.append(Block(kind, start, end))
    return Article(doc_id, path or Path(doc_id), text, date, fingerprint, tuple(blocks))


def fingerprint_bytes(data: bytes) -> str:
    """The content fingerprint stored per document in the index manifest."""
    return hashlib.sha256(data).hexdigest()


def corpus_files(corpus: Path) -> dict[str, Path]:
    """Map document id (path relative to `corpus`, without `.txt`) to file, for every `*.txt` below it."""
    corpus = Path(corpus)
    if not corpus.is_dir():
        raise SemsearchError(f"corpus folder '{corpus}' does not exist: pass a folder of .txt articles")
    files = {p.relative_to(corpus).with_suffix("").as_posix(): p for p in sorted(corpus.rglob("*.txt")) if p.is_file()}
    if not files:
        raise SemsearchError(f"corpus folder '{corpus}' holds no .txt files: add UTF-8 articles named *.txt")
    return files


def read_article(doc_id: str, path: Path, data: bytes | None = None) -> Article | None:
    """Read one article file; warn and return None when it is not UTF-8 or holds no text."""
    data = path.read_bytes() if data is None else data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        warnings.warn(f"skipping '{path}': not UTF-8 ({e.reason} at byte {e.start}); re-save it as UTF-8", stacklevel=2)
        return None
    article = parse_article(doc_id, text, path, fingerprint_bytes(data))
    if not any(b.kind in ("paragraph", "heading") for b in article.blocks):
        warnings.warn(f"skipping '{path}': the file is empty; add text or remove it", stacklevel=2)
        return None
    return article


def read_corpus(corpus: Path) -> Iterator[Article]:
    """Yield every readable article under `corpus`, warning about and skipping unreadable ones."""
    for doc_id, path in corpus_files(corpus).items():
        article = read_article(doc_id, path)
        if article is not None:
            yield article
