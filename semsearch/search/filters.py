"""Metadata filters, applied before ranking: a filter becomes an allowed-row mask per segment.

Dates compare as ISO strings: a document dated 2019-06 counts as 2019-06-01 for `since` and `until`;
a partial `until` (2019-06) includes the whole month. Documents without a date never match a date filter.
`where` compares values as text (numbers and booleans as JSON writes them). Per-document columns are
read once per opened generation and kept with it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from semsearch.errors import SemsearchError
from semsearch.index.generation import Generation

_DATE = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?")
BUILTIN_FIELDS = ("doc_id", "url", "title")


@dataclass(frozen=True)
class Filter:
    """Which documents a query may return: an inclusive date range and field values (any of a list)."""

    since: str | None = None
    until: str | None = None
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def empty(self) -> bool:
        """True when it lets everything through."""
        return self.since is None and self.until is None and not self.where


def check_date(value, name: str = "date") -> str | None:
    """A date bound as YYYY, YYYY-MM or YYYY-MM-DD (a `datetime.date` too), stripped; None for none.

    Raises SemsearchError naming `name` for text that is not such a date, or not a real one (2017-02-30).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()[:10]
    text = str(value).strip()
    if not _DATE.fullmatch(text):
        raise SemsearchError(f"{name} '{text[:40]}' is not a date: use YYYY, YYYY-MM or YYYY-MM-DD")
    year, month, day = ([int(p) for p in text.split("-")] + [1, 1])[:3]
    try:
        dt.date(year, month, day)
    except ValueError as e:
        raise SemsearchError(f"{name} '{text}' is not a real date ({e})") from None
    return text


def _bound(value, upper: bool, name: str) -> str | None:
    key = check_date(value, name)
    if key is None:
        return None
    pad = "-99" if upper else "-00"
    return key + pad * ((10 - len(key)) // 3)


def _text(value) -> str:
    """A value as the text it is matched by: a number by its value (5 and 5.0 are one JSON number)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def parse_where(pairs: Iterable[str], separator: str) -> dict[str, list[str]]:
    """`FIELD<separator>VALUE` strings (repeatable) as {field: [values]}, spaces around either left out: the CLI's
    `--where source=nrk`, the server's `where=source:nrk`. SemsearchError names the first one without a field."""
    where: dict[str, list[str]] = {}
    for pair in pairs:
        field, found, value = pair.partition(separator)
        if not found or not field.strip():
            raise SemsearchError(f"'{pair[:60]}' is not field{separator}value")
        where.setdefault(field.strip(), []).append(value.strip())
    return where


def make_filter(since=None, until=None, where: Mapping | None = None) -> Filter:
    """Check and normalise filter arguments; a SemsearchError names the bad one."""
    lo, hi = _bound(since, False, "since"), _bound(until, True, "until")
    if lo and hi and lo > hi:
        raise SemsearchError(f"since ({since}) is later than until ({until}): swap them")
    if where is not None and not isinstance(where, Mapping):
        raise SemsearchError(f"where must map fields to values, e.g. where={{'source': 'nrk'}} (got {where!r:.60})")
    pairs = []
    for field, value in (where or {}).items():
        if not isinstance(field, str) or not field:
            raise SemsearchError(f"where: field names must be non-empty strings (got {field!r})")
        values = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
        pairs.append((field, tuple(sorted(_text(v) for v in values))))
    return Filter(lo, hi, tuple(sorted(pairs)))


def known_fields(gen: Generation) -> set[str]:
    """The fields `where` may name in this generation: built-ins and every metadata key."""
    cache = _cache(gen)
    if "fields" not in cache:
        keys = set(BUILTIN_FIELDS)
        for segment in gen.segments:
            keys.update(k for (k,) in segment.db.execute("SELECT DISTINCT j.key FROM docs, json_each(docs.metadata) j"))
        cache["fields"] = keys
    return cache["fields"]


def masks_for(gen: Generation, flt: Filter) -> list[np.ndarray | None]:
    """Allowed-row masks (live and matching) per segment; the generation's live masks when `flt` is empty."""
    if flt.empty:
        return gen.alive
    unknown = [f for f, _ in flt.where if f not in known_fields(gen)]
    if unknown:
        raise SemsearchError(f"unknown field '{unknown[0]}' in where: this index has {', '.join(sorted(known_fields(gen)))}")
    recent = _cache(gen).setdefault("masks", {})
    if flt in recent:
        return recent[flt]
    if len(recent) >= 32:  # a few recent filters per generation (a search page repeats its filters)
        recent.pop(next(iter(recent)))
    recent[flt] = masks = _masks(gen, flt)
    return masks


def _masks(gen: Generation, flt: Filter) -> list[np.ndarray]:
    masks = []
    for i, segment in enumerate(gen.segments):
        docs = np.ones(segment.docs, dtype=bool)
        if flt.since or flt.until:
            dates = _column(gen, i, "date")
            has = dates != ""
            docs &= has & (dates >= (flt.since or "")) & (dates <= (flt.until or "9999"))
        for field, values in flt.where:
            docs &= np.isin(_column(gen, i, field), values)
        rows = docs[segment.row_doc]
        masks.append(rows if gen.alive[i] is None else rows & gen.alive[i])
    return masks


def _column(gen: Generation, i: int, field: str) -> np.ndarray:
    """One per-document column of segment i as text ('' when absent), read once per generation."""
    cache = _cache(gen)
    key = (i, field)
    if key not in cache:
        db = gen.segments[i].db
        if field == "date":
            sql = "SELECT substr(COALESCE(date, ''), 1, 10) FROM docs ORDER BY ord"
        elif field in BUILTIN_FIELDS:
            sql = f"SELECT COALESCE({field}, '') FROM docs ORDER BY ord"
        else:
            sql = (
                "SELECT json_extract(metadata, '$.' || json_quote(?)), json_type(metadata, '$.' || json_quote(?)) "
                "FROM docs ORDER BY ord"
            )
        rows = db.execute(sql, (field, field)) if "?" in sql else db.execute(sql)
        values = [r[0] if len(r) == 1 else _stored_text(*r) for r in rows]
        cache[key] = _pad_dates(values) if field == "date" else np.array(values, dtype=object)
    return cache[key]


def _stored_text(value, kind) -> str:
    if value is None:
        return ""
    if kind in ("true", "false"):
        return kind
    return _text(value)


def _pad_dates(values: list[str]) -> np.ndarray:
    """Partial dates as their first day, so that string order is date order."""
    return np.array([v + "-01" * ((10 - len(v)) // 3) if v else "" for v in values], dtype="U10")


def _cache(gen: Generation) -> dict:
    return gen.cache.setdefault("filters", {})
