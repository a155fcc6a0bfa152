"""The one interface every format implements, and what readers share: options, source files, decoding."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from semsearch.reading.document import Document
from semsearch.reading.fields import FieldMap
from semsearch.reading.messages import place, warn

DEFAULT_MAX_FILE_SIZE = 5_000_000
DEFAULT_MAX_LINE_CHARS = 20_000


@dataclass(frozen=True)
class ReadOptions:
    """How to read: record field names, the largest document in bytes (a txt/md/html file, or one JSONL/CSV
    record's text; larger ones are skipped with a warning; None: no limit), and the line length above which
    a line is warned about (it is still indexed)."""

    fields: FieldMap = field(default_factory=FieldMap)
    max_file_size: int | None = DEFAULT_MAX_FILE_SIZE
    max_line_chars: int = DEFAULT_MAX_LINE_CHARS


class SourceFile(NamedTuple):
    """One readable file: its path, its name relative to the folder given (POSIX, with suffix), size and mtime.

    The builder skips a file whose size and mtime_ns are unchanged without reading it. (A named tuple: a corpus
    walk makes one per file, and a frozen dataclass costs about twice as much to make: 0.5 against 0.2 µs.)
    """

    location: str  # the file's path: a Path is made only for the files that are read (`path`)
    name: str
    size: int
    mtime_ns: int

    @property
    def path(self) -> Path:
        """The file's path."""
        return Path(self.location)

    @property
    def suffix(self) -> str:
        """The lower-cased suffix that picks the reader, e.g. ".txt"."""
        return Path(self.name).suffix.lower()

    @property
    def doc_id(self) -> str:
        """The doc_id of a one-document file: its relative name without the suffix."""
        return self.name[: -len(self.suffix)] if self.suffix else self.name

    @property
    def where(self) -> str:
        """The escaped path, for messages."""
        return place(self.path)


class RawRecord(NamedTuple):
    """One record of a file of many (a JSONL line, a CSV row) before it is parsed: where it is (path:line), the
    bytes that decide its document under given read options, and the parse that makes it (None: warned about)."""

    where: str
    raw: bytes
    parse: Callable[[], Document | None]


@dataclass(frozen=True)
class Format:
    """A file format: its name, the suffixes it claims and a function yielding the documents of one file.

    `read` warns (`messages.warn`) about what it cannot read and yields the rest; it never raises for bad input.
    A format of many records per file also gives `records`: each one unparsed (`RawRecord`), so that a build can
    skip parsing records it has read before (`ingest.file_states.RecordMemo`); `read` is then `parsed(records)`.
    """

    name: str
    suffixes: tuple[str, ...]
    read: Callable[[SourceFile, ReadOptions], Iterator[Document]]
    records: Callable[[SourceFile, ReadOptions], Iterator[RawRecord]] | None = None


def parsed(records: Callable[[SourceFile, ReadOptions], Iterator[RawRecord]]):
    """The `read` of a format of many records: each record parsed, the ones warned about left out."""

    def read(source: SourceFile, options: ReadOptions) -> Iterator[Document]:
        for record in records(source, options):
            doc = record.parse()
            if doc is not None:
                yield doc

    return read


def too_big(size: int, limit: int | None) -> str | None:
    """The warning text when `size` bytes is over `limit`, else None."""
    if limit is None or size <= limit:
        return None
    return (
        f"{size / 1e6:.1f} MB is over the {limit / 1e6:g} MB limit for one document, so it is skipped: "
        "split it, or raise the limit with --max-file-size"
    )


def read_bytes(source: SourceFile) -> bytes | None:
    """The file's bytes, or None with a warning when it cannot be read."""
    try:
        return source.path.read_bytes()
    except OSError as e:
        warn(source.where, f"cannot be read ({e.strerror or e}): check that it exists and is readable")
        return None


def decode(data: bytes, where: str) -> str | None:
    """UTF-8 text with a leading BOM stripped, or None with a warning when not UTF-8 or empty."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        warn(where, f"not UTF-8 ({e.reason} at byte {e.start}, line {line}), so it is skipped: re-save it as UTF-8")
        return None
    if not text.strip():
        warn(where, "the file is empty, so it is skipped: add text or remove it")
        return None
    return text


def read_text(source: SourceFile, options: ReadOptions) -> str | None:
    """The decoded text of a one-document file, or None (with a warning) when too big, unreadable, not
    UTF-8 or empty."""
    problem = too_big(source.size, options.max_file_size)
    if problem:
        warn(source.where, problem)
        return None
    data = read_bytes(source)
    return None if data is None else decode(data, source.where)
