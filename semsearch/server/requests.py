"""Search parameters as the HTTP API takes them, bounded and checked: a bad request is a 4xx, never a 500."""

from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_K = 1000
MAX_QUESTION_CHARS = 2000
MAX_WHERE_VALUES = 1000  # filter values in one request, all fields together (each cached filter holds them)
MAX_BODY_BYTES = 256 * 1024  # a POST body: room for MAX_WHERE_VALUES ids of ~200 characters


def check_date(value: Optional[str], name: str = "date") -> Optional[str]:
    """An inclusive date bound, checked as the library checks it; ValueError (a 422) otherwise."""
    from semsearch.errors import SemsearchError
    from semsearch.search.filters import check_date as library_check

    try:
        return library_check(value, name)
    except SemsearchError as e:
        raise ValueError(str(e)) from None


def parse_where(pairs: list[str]) -> dict[str, list[str]]:
    """`field:value` strings (repeatable) as {field: [values]}, at most MAX_WHERE_VALUES; ValueError (a 422) otherwise."""
    from semsearch.errors import SemsearchError
    from semsearch.search.filters import parse_where as library_parse

    try:
        return _bounded(library_parse(pairs, ":"))
    except SemsearchError as e:
        raise ValueError(f"where={e}, e.g. where=doc_id:001") from None


def _bounded(where: dict) -> dict:
    """`where` when it holds at most MAX_WHERE_VALUES values; ValueError (a 422) otherwise."""
    count = sum(len(v) if isinstance(v, list) else 1 for v in where.values())
    if count > MAX_WHERE_VALUES:
        raise ValueError(f"where holds {count} values, over the limit of {MAX_WHERE_VALUES}: ask in several requests")
    return where


class _Search(BaseModel):
    """What every search request holds; `where` differs between GET and POST."""

    q: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, description="The question, in Norwegian or English.")
    k: int = Field(5, ge=1, le=MAX_K, description="How many results.")
    mode: Literal["hybrid", "dense", "lexical"] = Field("hybrid", description="Retrieval mode.")
    per_article: bool = Field(False, description="The best passage of each of the k best articles.")
    since: Optional[str] = Field(None, description="Inclusive lower date bound: YYYY, YYYY-MM or YYYY-MM-DD.")
    until: Optional[str] = Field(None, description="Inclusive upper date bound: YYYY, YYYY-MM or YYYY-MM-DD.")
    min_score: Optional[float] = Field(None, description="Drop results scoring below this.")

    @field_validator("q")
    @classmethod
    def _question(cls, q: str) -> str:
        if not q.strip():
            raise ValueError("the question is empty: pass q, e.g. q=Hva sa Lavrov om Syria?")
        return q.strip()

    @field_validator("since", "until")
    @classmethod
    def _date(cls, value: Optional[str], info) -> Optional[str]:
        return check_date(value, info.field_name)

    @model_validator(mode="after")
    def _range(self):
        from semsearch.errors import SemsearchError
        from semsearch.search.filters import make_filter

        try:
            make_filter(self.since, self.until)
        except SemsearchError as e:
            raise ValueError(str(e)) from None
        return self

    def filters(self) -> dict:
        """The date and field filters that were given, as keyword arguments of `semsearch.query`."""
        where = getattr(self, "where", None)
        found = {"since": self.since, "until": self.until, "where": where or None, "min_score": self.min_score}
        return {name: value for name, value in found.items() if value is not None}


class SearchQuery(_Search):
    """GET /search parameters: `where` is repeatable `field:value`."""

    where: list[str] = Field(default_factory=list, description="Filter field:value on doc_id or metadata; repeatable.")

    @field_validator("where")
    @classmethod
    def _where(cls, pairs: list[str]) -> list[str]:
        parse_where(pairs)
        return pairs

    def filters(self) -> dict:
        """As `_Search.filters`, with `where` as {field: [values]}."""
        found = super().filters()
        if self.where:
            found["where"] = parse_where(self.where)
        return found


_Value = Union[str, bool, int, float]  # a metadata value as `semsearch.query(where=...)` takes it


class SearchBody(_Search):
    """POST /search JSON body; `where` maps a field to a value or a list of values. Unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")

    where: Optional[dict[str, Union[_Value, list[_Value]]]] = Field(
        None, description='e.g. {"doc_id": ["001", "002"]}; values are strings, numbers or booleans'
    )

    @field_validator("where")
    @classmethod
    def _where(cls, where: Optional[dict]) -> Optional[dict]:
        return None if where is None else _bounded(where)
