"""The index as the server sees it: searches, documents and a summary, through the library's API.

The API's cached searcher reopens by itself when `semsearch index` commits a new generation, so a running
server answers from the new index on its next request. One search runs at a time in a process (each
search is single-threaded and CPU-bound, and its thread limits are process-wide); `semsearch serve
--workers N` runs N processes for parallel searches.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from semsearch.errors import SemsearchError

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
    """Serialised access to one index folder through `semsearch.api`."""

    def __init__(self, index: str | Path):
        self.index = Path(index).resolve()
        self._lock = threading.Lock()
        self._info: tuple[object, dict] | None = None  # (searcher it describes, IndexInfo as a dict)

    def search(self, question: str, k: int, mode: str, per_article: bool, filters: dict) -> list[dict]:
        """Results as JSON-ready dicts; filters (since/until/where) are passed only when given."""
        from semsearch import api

        with self._lock:
            with _index_side():
                api.searcher(self.index)  # opened here, so that a request's own mistakes alone are 4xx below
            found = api.query(question, k, self.index, mode=mode, per_article=per_article, **filters)
        return [r.to_dict() for r in found]

    def info(self) -> dict:
        """`semsearch.index_info` of the live index, recomputed only when the loaded index changed."""
        from semsearch import api

        with self._lock, _index_side():
            live = api.searcher(self.index)
            if self._info is None or self._info[0] is not live:
                self._info = (live, asdict(api.index_info(self.index)))
            return dict(self._info[1])

    def summary(self) -> dict:
        """What /health reports: the live generation and the counts."""
        info = self.info()
        return {key: info[key] for key in _SUMMARY_KEYS if key in info}

    def document(self, doc_id: str) -> dict | None:
        """The article `doc_id` as a dict, or None."""
        from semsearch import api

        with _index_side():
            found = api.document(doc_id, self.index)
        return None if found is None else asdict(found)

    def warm(self) -> None:
        """Load the model and the index (dense and lexical parts) before the first request."""
        self.search("varm opp", 1, "hybrid", False, {})
