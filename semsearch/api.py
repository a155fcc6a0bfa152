"""The public Python API: build an index, ask it questions, describe it. Opened indexes are reused."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from semsearch.embedding import Embedder, devices
from semsearch.embedding.embedder import recorded_path
from semsearch.embedding.models import model_for_index
from semsearch.errors import SemsearchError
from semsearch.index import store
from semsearch.search import MODES, FusionParams, Mode, Result, Searcher
from semsearch.search.filters import make_filter, masks_for

if TYPE_CHECKING:
    from semsearch.ingest.builder import IndexStats, build_index

__all__ = [
    "Document",
    "IndexInfo",
    "IndexStats",
    "Result",
    "add",
    "add_file",
    "build_index",
    "compact",
    "delete",
    "document",
    "index_info",
    "query",
    "searcher",
]

MAX_K = 10_000
_FROM_BUILDER = ("IndexStats", "build_index")


def __getattr__(name: str):
    """`build_index` and `IndexStats` load the builder (reading, chunking) on first use: a query never needs it."""
    if name in _FROM_BUILDER:
        from semsearch.ingest import builder

        return getattr(builder, name)
    raise AttributeError(f"module 'semsearch.api' has no attribute {name!r}")


_lock = threading.Lock()
_searchers: dict[Path, Searcher] = {}
_embedders: dict[tuple[str, str, str, str], Embedder] = {}


@dataclass(frozen=True)
class IndexInfo:
    """What an index holds and how it was built."""

    path: str
    generation: int
    created: str
    model: str
    variant: str
    backend: list[str]
    dim: int
    prompts: dict
    chunking: dict
    documents: int
    chunks: int
    segments: int
    mean_chunk_chars: float
    mean_chunk_tokens: float
    embedding: dict = field(default_factory=dict)  # what the index recorded: backend, quantisation, isa, device
    embedding_here: str = ""  # what embeds an update on this machine (`embedder.recorded_path`)
    cpu: str = ""  # this CPU's features that choose the path, and $SEMSEARCH_CPU when set


@dataclass(frozen=True)
class Document:
    """A stored document: its text and fields."""

    doc_id: str
    text: str
    title: str | None
    date: str | None
    url: str | None
    metadata: dict


def _embedder_for(recorded: dict, model: str | None) -> Embedder:
    spec = model_for_index(recorded, model)
    backend = recorded.get("backend_info", "torch")  # queries are embedded as the index was (older indexes: torch)
    key = (spec.name, spec.variant, str(spec.path), str(backend))
    if key not in _embedders:
        embedder = Embedder(spec, backend=backend)
        if spec.variant == recorded["variant"] and embedder.fingerprint != recorded["fingerprint"]:
            raise SemsearchError(
                f"the model files at '{spec.path}' changed since the index was built: rebuild it with `semsearch index`"
            )
        _embedders[key] = embedder
    return _embedders[key]


def searcher(index: str | Path = "index", model: str | None = None, fusion: FusionParams | None = None) -> Searcher:
    """The opened index at `index` with its model; cached, and reopened when another commit is the newest (a
    newer one landed, or the index was rebuilt in place).

    A searcher never closes what it opened: one a caller still holds keeps answering from its generation.
    """
    root = Path(index).resolve()
    newest = store.latest_commit_key(root)
    with _lock:
        cached = _searchers.get(root)
        if cached is not None and cached.generation.key == newest and model is None and fusion is None:
            return cached
        generation = store.open_generation(Path(index))
        if not generation.commit.model:
            raise SemsearchError(f"index '{index}' holds no documents: build it with `semsearch index CORPUS --index {index}`")
        found = Searcher(generation, _embedder_for(generation.commit.model, model), fusion)
        if model is None and fusion is None:
            _searchers[root] = found
        return found


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
    if not isinstance(text, str) or not text.strip():
        raise SemsearchError('the question is empty: pass a question, e.g. semsearch query "Hva sa Lavrov om Syria?"')
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise SemsearchError(f"k must be a whole number of at least 1 (got {k!r}): pass -k 1 or more")
    if mode not in MODES:
        raise SemsearchError(f"unknown mode '{mode}': use one of {', '.join(MODES)}")
    flt = make_filter(since, until, where)
    number = isinstance(min_score, (int, float)) and not isinstance(min_score, bool)
    if min_score is not None and (not number or min_score != min_score):  # nan != nan
        raise SemsearchError(f"min_score must be a number (got {min_score!r})")
    text = text.encode("utf-8", "replace").decode("utf-8").strip()  # lone surrogates from undecodable argv bytes
    found = searcher(index, model)
    masks = masks_for(found.generation, flt)
    k = min(k, MAX_K, max(found.generation.commit.chunks, 1))
    results = found.search(text, k, mode, per_article, masks=masks)
    return [r for r in results if r.score >= min_score] if min_score is not None else results


def document(doc_id: str, index: str | Path = "index") -> Document | None:
    """The stored document with this id (its text and fields), or None."""
    found = searcher_generation(index).document(str(doc_id))
    if found is None:
        return None
    return Document(found["doc_id"], found["text"], found["title"], found["date"], found["url"], found["metadata"])


def searcher_generation(index: str | Path = "index"):
    """The newest generation of the index, opened (shared with the cached searcher when it is current)."""
    root = Path(index).resolve()
    cached = _searchers.get(root)
    if cached is not None and cached.generation.key == store.latest_commit_key(root):
        return cached.generation
    return store.open_generation(Path(index))


def add(records: Iterable[dict], index: str | Path = "index", model: str | None = None) -> IndexStats:
    """Upsert documents given as dicts (`id`, `text`, optional `title`, `date`, `url`, other fields as metadata,
    under the index's recorded field names). Only new or changed records are embedded; committed atomically.

    A record without id or text, or a repeated id, is warned about (naming the record) and skipped.
    """
    from semsearch.ingest.builder import API_SOURCE, update_index
    from semsearch.ingest.sources import record_docs

    records = list(records)
    return update_index(index, lambda options: record_docs(records, options, API_SOURCE), (), model)


def add_file(path: str | Path, index: str | Path = "index", model: str | None = None) -> IndexStats:
    """Upsert the documents of one file (JSONL, CSV or any format `semsearch index` reads), read with the
    index's recorded field names; bad lines are warned about, naming the line, and skipped."""
    from semsearch.ingest.builder import API_SOURCE, update_index
    from semsearch.ingest.sources import api_doc
    from semsearch.reading import iter_documents

    def documents(options):
        return [api_doc(doc, API_SOURCE) for doc in iter_documents(path, options.fields, max_file_size=options.max_file_size)]

    return update_index(index, documents, (), model)


def delete(ids: Iterable[str], index: str | Path = "index") -> IndexStats:
    """Delete documents by id (unknown ids are ignored: `removed` lists those deleted); committed atomically.
    SemsearchError when there is no index at `index` (nothing is created)."""
    from semsearch.ingest.builder import update_index

    if store.latest_generation_number(Path(index)) is None:
        what = "does not exist" if not Path(index).is_dir() else "holds no index"
        raise SemsearchError(f"index folder '{index}' {what}, so there is nothing to delete: check --index")
    if isinstance(ids, str):
        ids = [ids]
    return update_index(index, (), [str(i) for i in ids])


def compact(index: str | Path = "index") -> int:
    """Merge the index's segments into one, dropping deleted rows; returns the number of merges run."""
    from semsearch.ingest.builder import compact_index

    return compact_index(index)


def index_info(index: str | Path = "index") -> IndexInfo:
    """Describe the index at `index` without loading its model."""
    gen = store.open_generation(Path(index))
    c = gen.commit
    chars, tokens = gen.mean_lengths()
    recorded = c.model.get("backend_info") or c.settings.get("embedding", {})
    return IndexInfo(
        str(Path(index)), c.generation, c.created, c.model.get("name", ""), c.model.get("variant", ""),
        c.model.get("backend", []), c.model.get("dim", 0), c.settings.get("prompts", {}), c.settings.get("chunking", {}),
        c.documents, c.chunks, len(c.segments), chars, tokens, recorded, recorded_path(recorded), devices.cpu_summary(),
    )  # fmt: skip
