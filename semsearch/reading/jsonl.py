"""JSON Lines (*.jsonl): one record per line, read as a stream so a large archive never sits in memory whole."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial

from semsearch.reading.base import Format, RawRecord, ReadOptions, SourceFile, parsed
from semsearch.reading.document import Document
from semsearch.reading.messages import warn
from semsearch.reading.records import record_document


def _parse(raw: bytes, where: str) -> dict | None:
    """The JSON object on one line, or None with a warning naming the line and what is wrong."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        warn(where, f"line is not UTF-8 ({e.reason} at byte {e.start}), so it is skipped: re-save the file as UTF-8")
        return None
    try:
        record = json.loads(line)
    except RecursionError:
        warn(where, "line nests too deeply to read, so it is skipped: give one flat JSON object per line")
        return None
    except ValueError as e:
        detail = f"{e.msg} at character {e.pos + 1}" if isinstance(e, json.JSONDecodeError) else str(e)
        warn(where, f"line is not JSON ({detail}), so it is skipped: fix or remove the line")
        return None
    if not isinstance(record, dict):
        warn(where, f"line is a JSON {type(record).__name__}, not an object, so it is skipped: give one object per line")
        return None
    return record


def lines(source: SourceFile) -> Iterator[tuple[int, bytes]]:
    """(line number, raw bytes) of each non-blank line, a leading BOM dropped; a file that cannot be opened, or
    holds no line, is warned about. OSError while reading propagates (`read_source` reports it)."""
    try:
        handle = source.path.open("rb")
    except OSError as e:
        warn(source.where, f"cannot be read ({e.strerror or e}): check that it exists and is readable")
        return
    empty = True
    with handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            empty = False
            yield number, raw
    if empty:
        warn(source.where, "the file is empty, so it is skipped: add records or remove it")


def line_document(raw: bytes, where: str, options: ReadOptions) -> Document | None:
    """The document of one record line, or None with a warning naming `where` (path:line)."""
    record = _parse(raw, where)
    return None if record is None else record_document(record, options, where)


def records(source: SourceFile, options: ReadOptions) -> Iterator[RawRecord]:
    """Each non-blank line, unparsed: its bytes decide its document."""
    shown = source.where  # escaped once: per record it cost ~15 µs (a tenth of a record's reading)
    for number, raw in lines(source):
        where = f"{shown}:{number}"
        yield RawRecord(where, raw, partial(line_document, raw, where, options))


# One document per record line; blank lines are ignored, bad lines warned about and skipped.
FORMAT = Format("jsonl", (".jsonl", ".ndjson"), parsed(records), records)
