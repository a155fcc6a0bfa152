"""The public Python API as module functions: shortcuts over one `Index` handle per index folder, kept open
for the process (`shared_index`), with query models shared between folders. Hold an `Index` instead to choose
when it closes, or to keep two indexes apart."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from semsearch.handle import MAX_K, Document, Index, IndexInfo, Models, SearchIndex
from semsearch.search import FusionParams, Mode, Result, Searcher

if TYPE_CHECKING:
    from semsearch.index.generation import Generation
    from semsearch.ingest.builder import IndexStats, ProblemSink, build_index

__all__ = [
    "MAX_K",
    "Document",
    "Index",
    "IndexInfo",
    "IndexStats",
    "Result",
    "SearchIndex",
    "add",
    "add_file",
    "build_index",
    "compact",
    "delete",
    "document",
    "index_info",
    "query",
    "searcher",
    "shared_index",
]

_FROM_BUILDER = ("IndexStats", "build_index")


def __getattr__(name: str):
    """`build_index` and `IndexStats` load the builder (reading, chunking) on first use: a query never needs it."""
    if name in _FROM_BUILDER:
        from semsearch.ingest import builder

        return getattr(builder, name)
    raise AttributeError(f"module 'semsearch.api' has no attribute {name!r}")


_lock = threading.Lock()
_handles: dict[Path, Index] = {}
_models = Models()


def shared_index(index: str | Path = "index") -> Index:
    """The process's handle on the folder `index`, the one the module functions use (opened on first use;
    closing it makes the next call open a new one)."""
    root = Path(index).resolve()
    with _lock:
        found = _handles.get(root)
        # a relative path is kept as given: after a change of directory it may name another folder
        if found is None or found.closed or found.path.resolve() != root:
            found = _handles[root] = Index(index, models=_models)
        return found


def _handle(index: str | Path, model: str | None = None, fusion: FusionParams | None = None) -> Index:
    """The shared handle, or a handle of its own (sharing the models) when a model or fusion is asked for."""
    if model is None and fusion is None:
        return shared_index(index)
    return Index(index, model, fusion=fusion, models=_models)


def searcher(index: str | Path = "index", model: str | None = None, fusion: FusionParams | None = None) -> Searcher:
    """The opened index at `index` with its model (`Index.searcher`); cached, and reopened when another commit is
    the newest (a newer one landed, or the index was rebuilt in place). With `model` or `fusion`, a new one.

    A searcher never closes what it opened: one a caller still holds keeps answering from its generation.
    """
    return _handle(index, model, fusion).searcher()


def query(
    text: str,
    k: int = 5,
    index: str | Path = "index",
    *,
    mode: Mode = "hybrid",
    per_article: bool = False,
    since: str | date | None = None,
    until: str | date | None = None,
    where: Mapping[str, object] | None = None,
    min_score: float | None = None,
    model: str | None = None,
) -> list[Result]:
    """Ask the index a question in natural language; best passages first.

    Args:
        text: the question, in Norwegian or English.
        k: how many results (at least 1; more than the index holds gives all of them).
        index: the index folder built by `build_index`.
        mode: "hybrid" (default: dense and BM25 fused), "dense" or "lexical".
        per_article: return the best passage of each of the k best articles instead.
        since, until: inclusive date range (YYYY, YYYY-MM, YYYY-MM-DD or `datetime.date`), applied before ranking.
        where: field -> value (or list of values, any of them) over `doc_id`, `url`, `title` and metadata fields.
        min_score: drop results scoring below this.
        model: only to assert which model the index must have been built with.

    Returns:
        Up to k `Result`s, best first. When at least k chunks match the filters, k come back.
    """
    return _handle(index, model).query(
        text, k, mode=mode, per_article=per_article, since=since, until=until, where=where, min_score=min_score
    )


def document(doc_id: str, index: str | Path = "index") -> Document | None:
    """The stored document with this id (its text and fields), or None."""
    return shared_index(index).document(doc_id)


def searcher_generation(index: str | Path = "index") -> Generation:
    """The newest generation of the index, opened (shared with the cached searcher when it is current)."""
    return shared_index(index).generation()


def add(
    records: Iterable[dict], index: str | Path = "index", model: str | None = None, on_problem: ProblemSink | None = None
) -> IndexStats:
    """Upsert documents given as dicts (`Index.add`): `id`, `text`, optional `title`, `date`, `url`, other
    fields as metadata, under the index's recorded field names. Only new or changed records are embedded;
    committed atomically. A record without id or text, or a repeated id, is skipped and reported to
    `on_problem` (by default as a warning)."""
    return _handle(index, model).add(records, on_problem)


def add_file(
    path: str | Path, index: str | Path = "index", model: str | None = None, on_problem: ProblemSink | None = None
) -> IndexStats:
    """Upsert the documents of one file (`Index.add_file`: JSONL, CSV or any format `semsearch index` reads),
    read with the index's recorded field names; bad lines are skipped and reported, naming the line, to
    `on_problem` (by default as a warning)."""
    return _handle(index, model).add_file(path, on_problem)


def delete(ids: Iterable[str], index: str | Path = "index") -> IndexStats:
    """Delete documents by id (unknown ids are ignored: `removed` lists those deleted); committed atomically.
    SemsearchError when there is no index at `index` (nothing is created)."""
    return shared_index(index).delete(ids)


def compact(index: str | Path = "index") -> int:
    """Merge the index's segments into one, dropping deleted rows; returns the number of merges run."""
    return shared_index(index).compact()


def index_info(index: str | Path = "index") -> IndexInfo:
    """Describe the index at `index` without loading its model."""
    return shared_index(index).info()
