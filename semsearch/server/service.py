"""The index as the server sees it: searches, documents and a summary, through the library's API.

The index handle reopens by itself when `semsearch index` commits a new generation, so a running server
answers from the new index on its next request. One search runs at a time in a process (each
search is single-threaded and CPU-bound, and its thread limits are process-wide); `semsearch serve
--workers N` runs N processes for parallel searches.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from semsearch.errors import SemsearchError

if TYPE_CHECKING:
    from semsearch.handle import SearchIndex

_SUMMARY_KEYS = ("generation", "documents", "chunks", "model", "created")


class IndexUnavailable(SemsearchError):
    """The index (or its model) cannot be opened: the server's problem, not the request's (a 503)."""


@contextmanager
def _index_side():
    """SemsearchError raised inside, where only the index or its model can be at fault (deleted, emptied,
    damaged or moved while serving), becomes IndexUnavailable."""
    try:
        yield
    except SemsearchError as e:
        raise IndexUnavailable(str(e)) from None


class IndexService:
    """Serialised access to one index: a folder (served through the process's shared `semsearch.Index`) or any
    `SearchIndex`, e.g. a test's fake."""

    def __init__(self, index: str | os.PathLike | SearchIndex):
        if isinstance(index, (str, os.PathLike)):
            from semsearch.api import shared_index

            index = shared_index(Path(index).resolve())
        self.handle: SearchIndex = index
        self._lock = threading.Lock()

    def search(self, question: str, k: int, mode: str, per_article: bool, filters: dict) -> list[dict]:
        """Results as JSON-ready dicts; filters (since/until/where) are passed only when given."""
        with self._lock:
            with _index_side():
                self.handle.open()  # opened here, so that a request's own mistakes alone are 4xx below
            found = self.handle.query(question, k, mode=mode, per_article=per_article, **filters)
        return [r.to_dict() for r in found]

    def info(self) -> dict:
        """`semsearch.index_info` of the live index (the handle works it out once per commit)."""
        with self._lock, _index_side():
            self.handle.open()
            return asdict(self.handle.info())

    def summary(self) -> dict:
        """What /health reports: the live generation and the counts."""
        info = self.info()
        return {key: info[key] for key in _SUMMARY_KEYS if key in info}

    def document(self, doc_id: str) -> dict | None:
        """The article `doc_id` as a dict, or None."""
        with _index_side():
            found = self.handle.document(doc_id)
        return None if found is None else asdict(found)

    def warm(self) -> None:
        """Load the model and the index (dense and lexical parts) before the first request."""
        self.search("varm opp", 1, "hybrid", False, {})
