"""Line rules shared by every reader: the seed ` date YYYY-MM` prefix, headings, captions, boilerplate."""

from __future__ import annotations

import re

from semsearch.reading.dates import normalise_date
from semsearch.reading.document import Block, Document
from semsearch.reading.messages import warn

_DATE = re.compile(r"\s*date (\d{4}-\d{2})\b[ \t]*")
_CAPTION = re.compile(r"\bFoto:\s*[^.!?]{1,80}$")
_BOILERPLATE = re.compile(
    r"^(\(©\s*[\w ]+\)|©\s*\w+|Mest (sett|lest)( siste (uken|døgnet|timen))?|Les også:?.*)$",
    re.IGNORECASE,
)
_BOILERPLATE_FIRST = frozenset("(©MmLl")  # what a line that `_BOILERPLATE` matches can start with (no other
# character case-folds to m or l)
_FINAL_PUNCT = ".!?…:;,"
_CLOSERS = "\"'»”’)]"
HEADING_MAX_CHARS = 100


def classify_line(line: str) -> str:
    """Classify one stripped line as paragraph, heading, caption or boilerplate."""
    if line[:1] in _BOILERPLATE_FIRST and _BOILERPLATE.match(line):  # the first character first: most lines stop there
        return "boilerplate"
    if "Foto:" in line and _CAPTION.search(line):  # the substring test first: ~20x cheaper than the search
        return "caption"
    core = line.rstrip(_CLOSERS)
    if len(line) <= HEADING_MAX_CHARS and core and core[-1] not in _FINAL_PUNCT:
        return "heading"
    return "paragraph"


def classify_body_line(line: str) -> str:
    """Like `classify_line` for text whose headings are marked up (Markdown, HTML): never a heading."""
    kind = classify_line(line)
    return "paragraph" if kind == "heading" else kind


def parse_lines(text: str) -> tuple[str | None, tuple[Block, ...]]:
    """The seed-layout date (YYYY-MM, from a ` date ` prefix on the first line) and the classified lines.

    The prefix is never inside a block, and the lead paragraph after it is never a heading.
    """
    date = None
    blocks: list[Block] = []
    add, new_block = blocks.append, tuple.__new__  # a Block without its Python-level __new__: one is made per line
    offset = 0
    for number, line in enumerate(text.splitlines(keepends=True)):
        start, offset = offset, offset + len(line)
        if number == 0 and (m := _DATE.match(line)):
            date = m.group(1)
            start += m.end()
            line = line[m.end() :]
        body = line.lstrip()
        if not body:
            continue
        start += len(line) - len(body)
        stripped = body.rstrip()
        kind = "paragraph" if (number == 0 and date) else classify_line(stripped)
        add(new_block(Block, (kind, start, start + len(stripped))))
    return date, tuple(blocks)


def title_of(text: str, blocks: tuple[Block, ...]) -> str | None:
    """The headline: the first block's text when it is a heading, else None."""
    if blocks and blocks[0].kind == "heading":
        return text[blocks[0].start : blocks[0].end]
    return None


def text_document(
    doc_id: str,
    text: str,
    source: str,
    *,
    title: str | None = None,
    date: str | None = None,
    url: str | None = None,
    metadata: dict | None = None,
) -> Document:
    """A document from plain text with the txt rules: the ` date ` prefix, classified lines, the first
    heading as title. A given `title` or `date` wins over what the text says."""
    prefix_date, blocks = parse_lines(text)
    if date is None and prefix_date is not None:
        date = normalise_date(prefix_date)
        if date is None:
            warn(source, f"the date line says '{prefix_date}', which is not a date (YYYY-MM): indexed without a date")
    return Document(doc_id, text, title or title_of(text, blocks), date, url, dict(metadata or {}), blocks, source)
