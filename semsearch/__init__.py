"""semsearch: semantic search over news articles, Norwegian first, questions in Norwegian or English.

import semsearch
semsearch.build_index("corpus", "index")
for r in semsearch.query("Hva sa Lavrov om Syria?", k=3):
    print(r.score, r.doc_id, r.date, r.text)

with semsearch.Index("index") as index:  # a handle of your own: closed at the end of the block
    print(index.info().documents, index.query("Hvem møtte Lavrov?", k=1))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

__all__ = [
    "Document",
    "Index",
    "IndexInfo",
    "IndexStats",
    "Result",
    "SearchIndex",
    "SemsearchError",
    "add",
    "build_index",
    "compact",
    "delete",
    "document",
    "index_info",
    "query",
]

from semsearch.errors import SemsearchError

if TYPE_CHECKING:
    from semsearch.api import (
        Document,
        Index,
        IndexInfo,
        IndexStats,
        Result,
        SearchIndex,
        add,
        build_index,
        compact,
        delete,
        document,
        index_info,
        query,
    )


def __getattr__(name: str):
    """Import the API lazily, so `import semsearch` (and `semsearch --help`) stays light."""
    if name in __all__:
        from semsearch import api

        return getattr(api, name)
    raise AttributeError(f"module 'semsearch' has no attribute {name!r}")
