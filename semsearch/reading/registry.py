"""Which reader reads which suffix. A new format is one module with a `FORMAT`, named here."""

from __future__ import annotations

from semsearch.reading import csv_records, html, jsonl, markdown, txt
from semsearch.reading.base import Format

FORMATS: tuple[Format, ...] = (txt.FORMAT, markdown.FORMAT, html.FORMAT, jsonl.FORMAT, csv_records.FORMAT)
READERS: dict[str, Format] = {suffix: fmt for fmt in FORMATS for suffix in fmt.suffixes}


def reader_for(name: str) -> Format | None:
    """The format that reads a file of this name (by its lower-cased suffix), or None."""
    dot = name.rfind(".")
    return READERS.get(name[dot:].lower()) if dot > 0 and "/" not in name[dot:] else None


def supported_suffixes() -> str:
    """The suffixes read, for messages: ".txt, .md, ..."."""
    return ", ".join(READERS)
