"""The 1M-chunk point of bench/scale.py, written without embedding anything.

NoReC reviews are chunked once with the real e5 tokenizer (the builder's own chunking and analysis), then
repeated under new document ids until the archive holds `rows` chunks. Vectors are synthetic but shaped
like real ones: each is a real vector of the tiny model (from a built NoReC index) plus Gaussian noise,
re-normalised, so they form a mixture around the model's own directions rather than an isotropic cloud,
and the tiny model's question vectors fall among them (sigma 0.015 per dimension: cosine ~0.95 to the
centre). Segments of `segment_rows` are written with
`SegmentWriter` and committed one by one, as the builder commits batches; then the merge policy runs.

`store_update` times the store's side of an update on such an index (embedding excluded): look the
document up by id (as `update_index` does), chunk it, write a one-document segment plus delete marks, commit, merge.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from semsearch.chunking import ChunkParams, chunk_id
from semsearch.embedding import Embedder
from semsearch.embedding.models import ModelSpec
from semsearch.index import store
from semsearch.index.commit import Commit, latest_commit, new_commit
from semsearch.index.compaction import maybe_merge
from semsearch.index.records import ChunkEntry, DocEntry
from semsearch.index.segment import SegmentWriter
from semsearch.ingest.chunk_terms import chunk_entries
from semsearch.reading.articles import fingerprint_bytes, parse_article

Doc = tuple[DocEntry, list[ChunkEntry]]


def _log(msg: str) -> None:
    print(f"[million {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _embedder(commit: Commit) -> Embedder:
    m = commit.model
    return Embedder(ModelSpec(m["name"], m["variant"], Path(m["path"])))


def chunk_reviews(reviews, embedder: Embedder, params: ChunkParams, prompt: str) -> list[Doc]:
    """Each review read and chunked as the builder would; analysed terms are interned (they repeat)."""
    from scale_data import review_text

    interned: dict[str, str] = {}
    counter = embedder.token_counter()  # the builder's own

    def intern(terms):
        return tuple(interned.setdefault(t, t) for t in terms)

    docs = []
    for review in reviews:
        text = review_text(review)
        doc_id = review["id"]
        article = parse_article(doc_id, text, Path(f"{doc_id}.txt"), fingerprint_bytes(text.encode()))
        entries, _ = chunk_entries(article, counter, params, prompt)
        if not entries:
            continue
        entries = [replace(e, terms=intern(e.terms), sentence_terms=tuple(intern(s) for s in e.sentence_terms)) for e in entries]
        size = len(text.encode())
        docs.append((DocEntry(doc_id, f"{doc_id}.txt", size, 0, article.fingerprint, text, article.title, article.date), entries))
    return docs


def replica(doc: Doc, copy: int) -> Doc:
    """The document under a new id (`<id>~<copy>`), with chunk ids of that id."""
    entry, chunks = doc
    new_id = f"{entry.doc_id}~{copy}"
    moved = [replace(c, id=chunk_id(new_id, c.start, c.end, c.text), doc_id=new_id) for c in chunks]
    return replace(entry, doc_id=new_id, source=f"{new_id}.txt"), moved


def centres_of(source_index: Path) -> np.ndarray:
    """The live vectors of a real index: the mixture's centres."""
    gen = store.open_generation(source_index)
    parts = [np.asarray(s.vectors if a is None else s.vectors[a]) for s, a in zip(gen.segments, gen.alive)]
    return np.concatenate(parts).astype(np.float32)


def noisy(centres: np.ndarray, picks: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors near the picked centres."""
    v = centres[picks] + rng.standard_normal((len(picks), centres.shape[1]), dtype=np.float32) * sigma
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _write(root: Path, writer: store.Writer, docs: list[Doc], vectors: np.ndarray) -> None:
    seg = SegmentWriter(root, vectors.shape[1], len(vectors))
    at = 0
    for entry, chunks in docs:
        seg.add(entry, chunks, vectors[at : at + len(chunks)])
        at += len(chunks)
    name, files = seg.finish()
    writer.add_segment(name, seg.rows, seg.docs, files, seg.ann_info)
    writer.commit()


def build_million(
    index: str, source_index: str, base_docs: int = 20000, rows: int = 1_000_000, segment_rows: int = 100_000,
    sigma: float = 0.015, seed: int = 8,
) -> dict:  # fmt: skip
    """Write the synthetic archive into a fresh folder `index`; timings and segment counts."""
    from scale_data import reviews

    root, t0 = Path(index), time.perf_counter()
    source, _ = latest_commit(Path(source_index))
    embedder = _embedder(source)
    params = ChunkParams(**source.settings["chunking"])
    base = chunk_reviews(reviews(limit=base_docs), embedder, params, source.settings["prompts"].get("passage", ""))
    base_chunks = sum(len(c) for _, c in base)
    t_chunk = time.perf_counter() - t0
    _log(f"chunked {len(base)} reviews into {base_chunks} chunks in {t_chunk:.0f} s ({base_chunks / t_chunk:.0f} chunks/s)")
    centres, rng = centres_of(Path(source_index)), np.random.default_rng(seed)
    writer = store.Writer(root, new_commit(source.settings, dict(source.model)))
    written, copy, t1 = 0, 0, time.perf_counter()
    while written < rows:
        batch, n = [], 0
        while n < segment_rows and written + n < rows:
            doc = replica(base[copy % len(base)], copy // len(base))
            batch.append(doc)
            n += len(doc[1])
            copy += 1
        _write(root, writer, batch, noisy(centres, rng.integers(0, len(centres), n), sigma, rng))
        written += n
        _log(f"{written} rows in {len(writer.base.segments)} segments ({time.perf_counter() - t1:.0f} s)")
    t_write = time.perf_counter() - t1
    before = len(writer.base.segments)
    t2 = time.perf_counter()
    merges = maybe_merge(writer, log=_log)
    return {"base_docs": len(base), "base_chunks": base_chunks, "chunk_s": t_chunk, "chunks_per_s": base_chunks / t_chunk,
            "write_s": t_write, "merge_s": time.perf_counter() - t2, "merges": merges, "segments_before_merge": before,
            "segments": len(writer.base.segments), "rows": writer.base.chunks, "documents": writer.base.documents,
            "seconds": time.perf_counter() - t0}  # fmt: skip


def _pick(gen, n: int, seed: int) -> list[str]:
    """n live documents spread over the archive, chosen without reading the catalog (by position)."""
    picked: list[str] = []
    for i in range(n * 4):
        seg = (seed + i) % len(gen.segments)
        total = gen.segments[seg].db.execute("SELECT max(ord) FROM docs").fetchone()[0]
        ord_ = (seed * 7919 + i * 104729) % (total + 1)
        row = gen.segments[seg].db.execute("SELECT doc_id FROM docs WHERE ord >= ? LIMIT 1", (ord_,)).fetchone()
        if row and row[0] in gen.lookup([row[0]]) and row[0] not in picked:
            picked.append(row[0])
        if len(picked) == n:
            break
    return picked


def store_update(index: str, kind: str, seed: int = 1) -> dict:
    """One update of the store as the builder makes it, embedding excluded: change1, add10, delete1 or unchanged."""
    root, times = Path(index), {}
    t0 = time.perf_counter()
    with store.lock(root):
        base, _ = latest_commit(root)
        writer = store.Writer(root, base)
        if kind == "unchanged":  # a folder build's check: the whole catalog, against the files' sizes and times
            known = {d.doc_id: d for d in writer.generation.catalog()}
            times["catalog_s"] = time.perf_counter() - t0
            return {"seconds": time.perf_counter() - t0, **times, "documents": len(known)}
        picked = _pick(writer.generation, 10 if kind == "add10" else 1, seed)  # the ids a caller would upsert
        t = time.perf_counter()
        known = writer.generation.lookup(picked)  # as `update_index` finds them: by id, never the whole catalog
        times["lookup_s"] = time.perf_counter() - t
        t = time.perf_counter()
        if kind in ("change1", "delete1"):
            d = known[picked[0]]
            writer.delete_rows(d.segment, d.first_row, d.chunks)
        if kind in ("change1", "add10"):
            embedder, params = _embedder(base), ChunkParams(**base.settings["chunking"])
            reviews = []
            for i, doc_id in enumerate(picked):
                stored = writer.generation.document(doc_id)
                new_id = doc_id if kind == "change1" else f"{doc_id}+new{seed}.{i}"
                text = stored["text"] + "\n\nOppdatert: anmeldelsen er endret."
                reviews.append({"id": new_id, "title": stored["title"] or "", "text": text.split("\n\n", 1)[-1]})
            docs = chunk_reviews(reviews, embedder, params, base.settings["prompts"].get("passage", ""))
            times["chunk_s"] = time.perf_counter() - t
            rng = np.random.default_rng(seed)
            vectors = rng.standard_normal((sum(len(c) for _, c in docs), base.model.get("dim", 384)), dtype=np.float32)
            t = time.perf_counter()
            _write(root, writer, docs, vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
        else:
            writer.commit()
        times["write_commit_s"] = time.perf_counter() - t
        t = time.perf_counter()
        times["merges"] = maybe_merge(writer)
        times["merge_s"] = time.perf_counter() - t
    return {"seconds": time.perf_counter() - t0, **times, "documents": writer.base.documents}
