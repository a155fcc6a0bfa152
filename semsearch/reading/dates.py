"""ISO 8601 dates in, one normalised string out: YYYY, YYYY-MM or YYYY-MM-DD."""

from __future__ import annotations

import datetime as dt
import re

_SHAPE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?)?)?"
)


def normalise_date(value: object) -> str | None:
    """Normalise an ISO 8601 date, or return None when `value` is not one.

    Accepts YYYY, YYYY-MM, YYYY-MM-DD (kept at their precision) and a datetime with or without an offset,
    which becomes the calendar date it names in its own offset (YYYY-MM-DD). An integer is read as a year.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = f"{value:04d}" if 1 <= value <= 9999 else ""
    if not isinstance(value, str):
        return None
    m = _SHAPE.fullmatch(value.strip())
    if m is None:
        return None
    year, month, day, hour, minute, second, offset = m.groups()
    try:
        date = dt.date(int(year), int(month or 1), int(day or 1))
        if hour is not None:
            dt.time(int(hour), int(minute), int(second or 0))
        if offset not in (None, "Z"):
            dt.time(int(offset[1:3]), int(offset[-2:]))
    except ValueError:
        return None
    if day is not None:
        return date.isoformat()
    return f"{date.year:04d}-{date.month:02d}" if month is not None else f"{date.year:04d}"
