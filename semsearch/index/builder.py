"""Building and updating an index: only new or changed articles are chunked and embedded."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from semsearch.chunking import ChunkParams, chunk_article, sentences_of
from semsearch.embedding import Embedder
from semsearch.embedding.models import ENV_VAR, ModelSpec, canonical_name, resolve_model
from semsearch.errors import SemsearchError
from semsearch.index import store
from semsearch.index.lexical import ANALYZER, LexicalIndex, analyze
from semsearch.reading.articles import Article, corpus_files, fingerprint_bytes, read_article


@dataclass(frozen=True)
class IndexStats:
    """What a build did: counts, which documents changed, and what was skipped."""

    index: str
    model: str
    variant: str
    documents: int
    chunks: int
    embedded_chunks: int
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    mean_chunk_chars: float = 0.0
    mean_chunk_tokens: float = 0.0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def unchanged(self) -> bool:
        """True when the build found nothing to do."""
        return not (self.added or self.changed or self.removed)


def _pick_model(requested: str | None, previous: dict | None, log: Callable[[str], None]) -> ModelSpec:
    """The model for this build: explicit, else the one the index already uses, else the default."""
    requested = requested or os.environ.get(ENV_VAR) or None
    if previous is not None:
        recorded = previous["model"]
        same = requested is None or canonical_name(requested) == recorded["name"]
        if same and Path(recorded["path"]).is_dir():
            return ModelSpec(recorded["name"], recorded["variant"], Path(recorded["path"]))
    return resolve_model(requested, log=log)


def build_index(
    corpus: str | Path = "corpus",
    index: str | Path = "index",
    model: str | None = None,
    *,
    params: ChunkParams | None = None,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> IndexStats:
    """Index every `*.txt` under `corpus` into the folder `index`, re-embedding only what changed.

    Args:
        corpus: folder of UTF-8 articles (read recursively).
        index: index folder; created when missing. The previous index stays live until the new one is complete.
        model: hub name or local sentence-transformers folder; default: the index's model, $SEMSEARCH_MODEL,
            or intfloat/multilingual-e5-small.
        params: chunking parameters; default `ChunkParams()`.
        progress: show a progress bar while embedding (default: when stderr is a terminal).
        log: receives one-line progress messages.

    Returns:
        IndexStats. Files that could not be read are listed in `skipped` (and warned about).
    """
    t0 = time.perf_counter()
    log = log or (lambda _msg: None)
    params = params or ChunkParams()
    root = Path(index)
    files = corpus_files(Path(corpus))
    with store.lock(root):
        previous = store.current_snapshot(root)
        old = None
        if previous is not None:
            try:
                old = store.Snapshot(previous)
            except SemsearchError as e:
                log(f"rebuilding from scratch: {e}")
        spec = _pick_model(model, old.manifest if old else None, log)
        embedder = Embedder(spec)
        params = replace(params, max_tokens=min(params.max_tokens, embedder.max_seq_length))
        settings = {
            "format_version": store.FORMAT_VERSION,
            "model_fingerprint": embedder.fingerprint,
            "prompts": embedder.prompts,
            "chunking": params.to_dict(),
            "analyzer": ANALYZER,
        }
        reusable = old is not None and all(old.manifest.get(k) == v for k, v in settings.items())
        old_docs = old.manifest["documents"] if reusable else {}
        if old is not None and not reusable:
            log("index settings or model changed: re-embedding every document")

        kept, fresh, skipped = [], [], []
        for doc_id, path in files.items():
            data = path.read_bytes()
            recorded = old_docs.get(doc_id)
            if recorded and recorded["fingerprint"] == fingerprint_bytes(data):
                kept.append(doc_id)
                continue
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                article = read_article(doc_id, path, data)
            for w in caught:
                skipped.append(str(w.message))
                warnings.warn(str(w.message), stacklevel=2)
            if article is not None:
                fresh.append(article)
        if not kept and not fresh:
            raise SemsearchError(f"no readable article in corpus folder '{corpus}': fix the files named above")
        added = [a.doc_id for a in fresh if a.doc_id not in old_docs]
        changed = [a.doc_id for a in fresh if a.doc_id in old_docs]
        removed = sorted(set(old_docs) - set(kept) - set(changed))
        if reusable and not (added or changed or removed):
            chars, tokens = old.mean_lengths()
            old.close()
            return IndexStats(
                str(root),
                spec.name,
                spec.variant,
                len(kept),
                old.dense.ntotal,
                0,
                skipped=skipped,
                mean_chunk_chars=chars,
                mean_chunk_tokens=tokens,
                seconds=time.perf_counter() - t0,
            )

        rows, passages, documents = _chunk(fresh, embedder, params)
        if not rows and not reusable:
            raise SemsearchError(f"the articles in '{corpus}' hold no text to index: check the files named above")
        timings = {"read_and_chunk": time.perf_counter() - t0}
        vectors = None
        if rows:
            log(f"embedding {len(rows)} chunks of {len(fresh)} documents with {spec.describe()}")
            t1 = time.perf_counter()
            vectors = embedder.embed_passages(passages, progress=progress)
            timings["model_load"] = embedder.load_seconds
            timings["embed"] = time.perf_counter() - t1 - embedder.load_seconds
            for doc in documents.values():
                doc["backend"] = embedder.last_backend
        t2 = time.perf_counter()
        writer = store.SnapshotWriter(root)
        try:
            if reusable:
                dense = old.dense
                stale = changed + removed
                if stale:
                    marks = ",".join("?" * len(stale))
                    ids = [r[0] for r in old.db.execute(f"SELECT id FROM chunks WHERE doc_id IN ({marks})", stale)]
                    dense.remove_ids(np.asarray(ids, dtype=np.int64))
                writer.copy_chunks(previous, kept)
                documents = {**{d: old_docs[d] for d in kept}, **documents}
            else:
                dense = store.new_dense(vectors.shape[1])
            writer.add_chunks(rows)
            if vectors is not None:
                dense.add_with_ids(vectors, np.asarray([r.id for r in rows], dtype=np.int64))
            lexical = LexicalIndex.build(*writer.terms_in(store.dense_ids(dense)))
            manifest = {
                **settings,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "corpus": str(Path(corpus).resolve()),
                "model": {
                    **spec.to_dict(),
                    "fingerprint": embedder.fingerprint,
                    "dim": int(dense.d),
                    "max_seq_length": embedder.max_seq_length,
                    "backend": sorted({d.get("backend", "sentence-transformers") for d in documents.values()}),
                },
                "counts": {"documents": len(documents), "chunks": int(dense.ntotal)},
                "documents": documents,
            }
            final = writer.commit(dense, lexical, manifest)
        except BaseException:
            writer.abort()
            raise
        finally:
            if old is not None:
                old.close()
        timings["write"] = time.perf_counter() - t2
        embedder.prepare_query_encoder()
        snapshot = store.Snapshot(final)
        chars, tokens = snapshot.mean_lengths()
        snapshot.close()
        return IndexStats(
            str(root),
            spec.name,
            spec.variant,
            len(documents),
            int(dense.ntotal),
            len(rows),
            added,
            changed,
            removed,
            skipped,
            chars,
            tokens,
            time.perf_counter() - t0,
            timings,
        )


def _chunk(articles: list[Article], embedder: Embedder, params: ChunkParams):
    """Chunk articles; return stored rows, the texts to embed, and the manifest's document entries."""
    prompt = embedder.prompts.get("passage", "")
    rows: list[store.ChunkRow] = []
    passages: list[str] = []
    documents: dict[str, dict] = {}
    for article in articles:
        chunks = chunk_article(article, embedder.count_tokens, params, prompt)
        for chunk in chunks:
            text = chunk.passage(params.with_title)
            rows.append(
                store.ChunkRow(
                    chunk.id,
                    chunk.doc_id,
                    chunk.position,
                    chunk.start,
                    chunk.end,
                    chunk.text,
                    chunk.heading,
                    chunk.date,
                    chunk.title,
                    chunk.tokens,
                    " ".join(analyze(text)),
                    "\t".join(" ".join(analyze(s)) for s in sentences_of(chunk.text)),
                )
            )
            passages.append(text)
        documents[article.doc_id] = {
            "fingerprint": article.fingerprint,
            "date": article.date,
            "title": article.title,
            "chunks": len(chunks),
            "path": str(article.path),
        }
    return rows, passages, documents
