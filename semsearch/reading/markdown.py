"""Markdown notes (*.md): the first `#` heading is the title, other headings open sections; text is plain.

The document's text is the rendered plain text (markup removed, one block per line), so chunk offsets
index into what a reader sees.
"""

from __future__ import annotations

from collections.abc import Iterator

from semsearch.reading.base import Format, ReadOptions, SourceFile, read_text
from semsearch.reading.document import Block, Document
from semsearch.reading.lines import classify_body_line


def _inline_text(token) -> str:
    """Plain text of an inline token: links and emphasis unwrapped, soft breaks as spaces."""
    parts = []
    for child in token.children or ():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
    return "".join(parts)


def markdown_lines(source_text: str) -> list[tuple[str, str]]:
    """(kind, line) pairs: "h1".."h6" for headings, "text" for paragraphs, list items, cells, quotes, code."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(source_text)
    lines: list[tuple[str, str]] = []
    heading, row = None, None
    for token in tokens:
        if token.type == "heading_open":
            heading = token.tag
        elif token.type == "heading_close":
            heading = None
        elif token.type == "tr_open":
            row = []
        elif token.type == "tr_close":
            lines.append(("text", " | ".join(row)))
            row = None
        elif token.type == "inline" and row is not None:
            row.append(" ".join(_inline_text(token).split()))
        elif token.type == "inline":
            lines.extend((heading or "text", ln) for ln in _inline_text(token).split("\n"))
        elif token.type in ("fence", "code_block"):
            lines.extend(("text", ln) for ln in token.content.split("\n"))
    return [(kind, " ".join(line.split())) for kind, line in lines if line.strip()]


def lines_document(doc_id: str, lines: list[tuple[str, str]], source: str, title: str | None = None, **fields) -> Document:
    """Join marked-up lines into a document: heading lines ("h1".."h6") are heading blocks, others are classified
    as body text; `title` defaults to the first h1."""
    if title is None:
        title = next((line for kind, line in lines if kind == "h1"), None)
    parts: list[str] = []
    blocks: list[Block] = []
    offset = 0
    for kind, line in lines:
        if parts:
            parts.append("\n\n")
            offset += 2
        block_kind = "heading" if kind.startswith("h") else classify_body_line(line)
        blocks.append(Block(block_kind, offset, offset + len(line)))
        parts.append(line)
        offset += len(line)
    return Document(doc_id, "".join(parts), title, blocks=tuple(blocks), source=source, **fields)


def read(source: SourceFile, options: ReadOptions) -> Iterator[Document]:
    """The file as one document; its id is the relative path without `.md`."""
    text = read_text(source, options)
    if text is not None:
        yield lines_document(source.doc_id, markdown_lines(text), source.where)


FORMAT = Format("markdown", (".md", ".markdown"), read)
