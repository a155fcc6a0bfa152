"""The public Python API: build an index, ask it questions, describe it. Loaded indexes are reused."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from semsearch.embedding import Embedder
from semsearch.embedding.models import model_for_index
from semsearch.errors import SemsearchError
from semsearch.index.builder import IndexStats, build_index
from semsearch.index.store import current_snapshot, open_snapshot
from semsearch.search import MODES, FusionParams, Mode, Result, Searcher

__all__ = ["Document", "IndexInfo", "IndexStats", "Result", "build_index", "document", "index_info", "query", "searcher"]

_lock = threading.Lock()
_searchers: dict[Path, Searcher] = {}
_embedders: dict[tuple[str, str, str], Embedder] = {}


@dataclass(frozen=True)
class IndexInfo:
    """What an index holds and how it was built."""

    path: str
    snapshot: str
    created: str
    model: str
    variant: str
    backend: list[str]
    dim: int
    prompts: dict
    chunking: dict
    documents: int
    chunks: int
    mean_chunk_chars: float
    mean_chunk_tokens: float


def _embedder_for(recorded: dict, model: str | None) -> Embedder:
    spec = model_for_index(recorded, model)
    key = (spec.name, spec.variant, str(spec.path))
    if key not in _embedders:
        embedder = Embedder(spec)
        if spec.variant == recorded["variant"] and embedder.fingerprint != recorded["fingerprint"]:
            raise SemsearchError(
                f"the model files at '{spec.path}' changed since the index was built: rebuild it with `semsearch index`"
            )
        _embedders[key] = embedder
    return _embedders[key]


def searcher(index: str | Path = "index", model: str | None = None, fusion: FusionParams | None = None) -> Searcher:
    """The loaded index at `index` with its model; cached, and reloaded only when the index was rebuilt."""
    root = Path(index).resolve()
    live = current_snapshot(root)
    with _lock:
        cached = _searchers.get(root)
        # Compare resolved paths: with a relative `index` the cached folder is relative and would never match.
        fresh = cached is not None and live is not None and cached.snapshot.folder.resolve() == live
        if fresh and model is None and fusion is None:
            return cached
        snapshot = open_snapshot(Path(index))
        found = Searcher(snapshot, _embedder_for(snapshot.manifest["model"], model), fusion)
        if model is None and fusion is None:
            if cached is not None:
                cached.snapshot.close()
            _searchers[root] = found
        return found


def query(
    text: str,
    k: int = 5,
    index: str | Path = "index",
    *,
    mode: Mode = "hybrid",
    per_article: bool = False,
    model: str | None = None,
) -> list[Result]:
    """Ask the index a question in natural language; best passages first.

    Args:
        text: the question, in Norwegian or English.
        k: how many results (at least 1).
        index: the index folder built by `build_index`.
        mode: "hybrid" (default: dense and BM25 fused), "dense" or "lexical".
        per_article: return the best passage of each of the k best articles instead.
        model: only to assert which model the index must have been built with.

    Returns:
        Up to k `Result`s, best first.
    """
    if not isinstance(text, str) or not text.strip():
        raise SemsearchError('the question is empty: pass a question, e.g. semsearch query "Hva sa Lavrov om Syria?"')
    if not isinstance(k, int) or k < 1:
        raise SemsearchError(f"k must be at least 1 (got {k}): pass -k 1 or more")
    if mode not in MODES:
        raise SemsearchError(f"unknown mode '{mode}': use one of {', '.join(MODES)}")
    return searcher(index, model).search(text.strip(), k, mode, per_article)


def index_info(index: str | Path = "index") -> IndexInfo:
    """Describe the index at `index` without loading its model."""
    snapshot = open_snapshot(Path(index))
    try:
        m = snapshot.manifest
        chars, tokens = snapshot.mean_lengths()
        return IndexInfo(
            str(Path(index)),
            m["snapshot"],
            m["created"],
            m["model"]["name"],
            m["model"]["variant"],
            m["model"]["backend"],
            m["model"]["dim"],
            m["prompts"],
            m["chunking"],
            m["counts"]["documents"],
            m["counts"]["chunks"],
            chars,
            tokens,
        )
    finally:
        snapshot.close()


# --- document(): a small stand-in for the server branch; the lead re-implements it on the new store. ---------------


@dataclass(frozen=True)
class Document:
    """One indexed article: its id, indexed text (its chunks joined in order), title, date, url and metadata."""

    doc_id: str
    text: str
    title: str | None
    date: str | None
    url: str | None
    metadata: dict


def document(doc_id: str, index: str | Path = "index") -> Document | None:
    """The article `doc_id` of the index at `index`, or None when it holds none by that id.

    The id is only a key: it is looked up in the chunk store, never used as a path.
    """
    import json
    import sqlite3

    from semsearch.index.store import CHUNKS, MANIFEST

    folder = _live_folder(index)
    entry = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["documents"].get(doc_id)
    if entry is None:
        return None
    db = sqlite3.connect(f"file:{folder / CHUNKS}?mode=ro", uri=True)
    try:
        spans = db.execute('SELECT start, "end", text FROM chunks WHERE doc_id = ? ORDER BY start', (doc_id,)).fetchall()
    finally:
        db.close()
    parts, cursor = [], 0
    for start, end, text in spans:  # chunks may overlap: keep each character once
        if end <= cursor:
            continue
        parts.append(text[max(0, cursor - start) :] if start < cursor else ("\n\n" if parts else "") + text)
        cursor = end
    return Document(doc_id, "".join(parts), entry.get("title"), entry.get("date"), None, {})


def _live_folder(index: str | Path) -> Path:
    """The live snapshot folder of `index`, with the usual one-line errors when there is none."""
    root = Path(index)
    if not root.is_dir():
        raise SemsearchError(f"index folder '{root}' does not exist: build it with `semsearch index CORPUS --index {root}`")
    folder = current_snapshot(root)
    if folder is None:
        raise SemsearchError(f"index folder '{root}' holds no index: build it with `semsearch index CORPUS --index {root}`")
    return folder
