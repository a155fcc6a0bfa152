"""The document model every reader produces: text, classified blocks, dates, metadata and a fingerprint."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import NamedTuple

MetadataValue = str | int | float | bool


class Block(NamedTuple):
    """One line of a document: `kind` is "paragraph", "heading", "caption" or "boilerplate". (A named tuple: a
    reader makes one per line, ~5x cheaper than a frozen dataclass.)"""

    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class Document:
    """One document as read from a file or a record; block offsets index into `text`.

    `date` is a normalised ISO string (YYYY, YYYY-MM or YYYY-MM-DD). `source` names where it came from
    (a path, plus `:line N` for JSONL and CSV records) for messages. `fingerprint` is a sha256 over every
    field that determines the chunks and the stored fields, so an unchanged document is never re-embedded.
    """

    doc_id: str
    text: str
    title: str | None = None
    date: str | None = None
    url: str | None = None
    metadata: dict[str, MetadataValue] = field(default_factory=dict)
    blocks: tuple[Block, ...] = ()
    source: str = ""
    fingerprint: str = field(init=False, default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "fingerprint", document_fingerprint(self))

    @property
    def has_text(self) -> bool:
        """True when some paragraph holds text to index: a title, headings or captions alone make no chunk."""
        return any(b.kind == "paragraph" for b in self.blocks)

    def to_dict(self) -> dict:
        """JSON form: the fields a user gives in a JSONL record, plus the source."""
        return {
            "id": self.doc_id,
            "text": self.text,
            "title": self.title,
            "date": self.date,
            "url": self.url,
            "metadata": dict(self.metadata),
            "source": self.source,
        }


def document_fingerprint(doc: Document) -> str:
    """sha256 over doc_id, text, title, date, url, metadata and blocks (not over `source`)."""
    payload = [
        doc.doc_id,
        doc.text,
        doc.title,
        doc.date,
        doc.url,
        sorted(doc.metadata.items()),
        [(b.kind, b.start, b.end) for b in doc.blocks],
    ]
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()
