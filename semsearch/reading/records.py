"""Records (JSONL lines, CSV rows, dicts given to the API) into documents: id, text, title, date, url, metadata."""

from __future__ import annotations

import math
from dataclasses import replace

from semsearch.reading.base import ReadOptions, too_big
from semsearch.reading.dates import normalise_date
from semsearch.reading.document import Block, Document
from semsearch.reading.fields import FieldMap
from semsearch.reading.lines import text_document
from semsearch.reading.messages import shown, warn

RESERVED_METADATA = frozenset({"doc_id"})
_INT64 = 2**63


def _valid(text: str) -> str:
    """`text` with lone surrogates (from JSON escapes such as "\\udc80") replaced by U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _record_id(value: object, fields: FieldMap, where: str) -> str | None:
    """The doc_id as a string (an integer id is accepted), or None with a warning."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return _valid(value)
    if value is None or value == "":
        what = "has no"
    else:
        what = "has a blank" if isinstance(value, str) else f"has a {type(value).__name__} in its"
    hint = "give every record a string id (or name the field with --id-field)"
    warn(where, f"{what} '{fields.id}' field, so it is skipped: {hint}")
    return None


def _optional_str(record: dict, name: str, where: str) -> str | None:
    """A string field that may be missing: None when absent or empty; a non-string is warned about and ignored."""
    value = record.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        warn(where, f"field '{name}' is a {type(value).__name__}, not a string, so it is ignored: give it as a string")
        return None
    return _valid(value)


def _metadata(record: dict, fields: FieldMap, where: str) -> dict:
    """Every other field with a string, number or boolean value; nulls are dropped, other values warned about."""
    metadata = {}
    for key, value in record.items():
        if key in fields.reserved or value is None:
            continue
        if key in RESERVED_METADATA:
            warn(where, f"field '{key}' is reserved, so it is ignored: rename it")
        elif isinstance(value, str):
            metadata[_valid(key)] = _valid(value)
        elif isinstance(value, bool) or (isinstance(value, int) and -_INT64 <= value < _INT64):
            metadata[_valid(key)] = value
        elif isinstance(value, float) and math.isfinite(value):
            metadata[_valid(key)] = value
        else:
            kind = type(value).__name__ if not isinstance(value, (int, float)) else f"{value!r:.20}"
            warn(where, f"field '{shown(key)}' holds {kind}, so it is ignored: metadata values are strings, numbers or booleans")
    return metadata


def record_document(record: dict, options: ReadOptions, where: str) -> Document | None:
    """The document a record describes, or None with a warning when it has no usable id or text.

    A record without a title gets the first heading line of its text, as a txt file does; a record
    without a date gets the text's ` date YYYY-MM` prefix if it has one; an unparseable date is warned
    about and the record is indexed without it.
    """
    fields = options.fields
    doc_id = _record_id(record.get(fields.id), fields, where)
    if doc_id is None:
        return None
    text = record.get(fields.text)
    if not isinstance(text, str) or not text.strip():
        what = "an empty" if isinstance(text, str) else ("no" if text is None else f"a {type(text).__name__} in its")
        warn(where, f"record '{shown(doc_id)}' has {what} '{fields.text}' field, so it is skipped: give its text as a string")
        return None
    problem = too_big(len(text.encode("utf-8", "surrogatepass")), options.max_file_size)
    if problem:
        warn(where, f"record '{shown(doc_id)}': {problem}")
        return None
    raw_date = record.get(fields.date)
    date = normalise_date(raw_date)
    if raw_date not in (None, "") and date is None:
        warn(
            where,
            f"record '{shown(doc_id)}' has date {shown(repr(raw_date), 40)}, not ISO 8601 (YYYY, YYYY-MM, YYYY-MM-DD or a "
            "datetime with offset): it is indexed without a date; fix the date to filter on it",
        )
    doc = text_document(
        doc_id,
        _valid(text),
        where,
        title=_optional_str(record, fields.title, where),
        date=date,
        url=_optional_str(record, fields.url, where),
        metadata=_metadata(record, fields, where),
    )
    if not doc.has_text:  # a record's text field is its text: a headline or a post of one line without a full stop
        doc = replace(doc, blocks=tuple(Block("paragraph", *b[1:]) if b.kind == "heading" else b for b in doc.blocks))
    return doc
