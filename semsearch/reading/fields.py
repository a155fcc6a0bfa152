"""Which record fields hold the id, text, title, date and url (`--id-field` and friends)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from functools import cached_property


@dataclass(frozen=True)
class FieldMap:
    """Names of the record fields read as doc_id, text, title, date and url; every other field is metadata."""

    id: str = "id"
    text: str = "text"
    title: str = "title"
    date: str = "date"
    url: str = "url"

    def __post_init__(self) -> None:
        names = [getattr(self, f.name) for f in fields(self)]
        if any(not isinstance(n, str) or not n for n in names):
            raise ValueError(f"field names must be non-empty strings, got {names}")
        if len(set(names)) != len(names):
            raise ValueError(f"two roles share one field name in {self.to_dict()}: give each its own")

    def to_dict(self) -> dict[str, str]:
        """JSON form, as recorded in the index so an update reads records the same way."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> FieldMap:
        """Inverse of `to_dict`; missing keys keep their defaults, unknown keys are an error."""
        data = dict(data or {})
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown field roles {unknown}: use id, text, title, date, url")
        return cls(**data)

    @cached_property
    def reserved(self) -> frozenset[str]:
        """The field names that are not metadata (asked for each field of each record: made once)."""
        return frozenset(self.to_dict().values())
