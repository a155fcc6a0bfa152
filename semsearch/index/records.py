"""What the index stores: a document's entry and its chunks, as the builder hands them to a segment."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


def joined_sentences(sentence_terms: Iterable[Iterable[str]]) -> str:
    """A chunk's analysed sentences as the chunk store holds them: terms joined by spaces, sentences by tabs."""
    return "\t".join(" ".join(s) for s in sentence_terms)


@dataclass(frozen=True)
class DocEntry:
    """One indexed document: where it came from (to skip it when unchanged), and its stored fields."""

    doc_id: str
    source: str  # the file it was read from
    size: int  # the file's size and mtime when read: an unchanged file is never re-read
    mtime_ns: int
    fingerprint: str  # sha256 of what determines its chunks
    text: str
    title: str | None = None
    date: str | None = None
    url: str | None = None
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ChunkEntry:
    """One chunk: a span of its document's text, with its analysed terms (whole and per sentence)."""

    id: int
    doc_id: str
    position: int
    start: int
    end: int
    text: str
    heading: str | None
    tokens: int
    terms: tuple[str, ...]
    sentence_terms: tuple[tuple[str, ...], ...]
    sentence_spans: tuple[tuple[int, int], ...] = ()  # offsets of each sentence in `text` (highlights)


def sentence_texts(text: str, spans: Iterable[tuple[int, int]]) -> list[str]:
    """The texts a chunk's sentence vectors embed, one per sentence (the whole chunk when it has none)."""
    return [text[a:b] for a, b in spans if b > a] or [text]
