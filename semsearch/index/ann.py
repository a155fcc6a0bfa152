"""Approximate dense search for large segments: a product-quantised flat scan with an exact re-rank.

FAISS's PQ fast scan (`IndexPQFastScan`) holds every row as `dim / 2` sub-quantiser codes of 4 bits
(96 bytes a row at 384 dims, a sixteenth of the float vectors) and scores them all with in-register
lookup tables. A query takes the `depth` best rows by those approximate scores, then scores them
exactly from the memory-mapped vectors, so what it returns carries exact cosines. An inverted file
(IVF) was tried first and dropped: on weakly clustered vectors (NoReC under bench/scale.py's tiny
model) it needed a third of the rows probed for 0.98 recall, where this scan needs no clustering.

`depth` is the smallest of `DEPTHS` that reaches `PROBE_RECALL` (`TARGET_RECALL` plus a margin)
recall@10 against exact search on probe queries drawn from the segment; the commit records it with the
measured recall. A segment that would need more than `MAX_RERANK_SHARE` of its rows re-ranked is
searched exactly instead (gathering scattered rows costs several times a contiguous scan).

    segments/<name>/ann.faiss   the IndexPQFastScan (codes and codebooks; read whole at open)

Masks (deletes, filters) cannot be passed to a fast-scan search, so a masked query asks for
`depth / allowed share` rows and drops the masked ones before the re-rank; dense.py sends narrow
masks (under a quarter of the rows) to an exact scan of the allowed rows instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from semsearch.index.files import MappedRows, RowFile

MIN_ROWS = 10_000  # below this a segment is searched exactly (a few ms a query on one core)
KIND = "pq-fastscan"
FILE = "ann.faiss"
TARGET_RECALL = 0.98
# What the tuner asks of its synthetic probe queries: real questions score under such probes, so the probes
# must clear a margin above TARGET_RECALL.
PROBE_RECALL = 0.99
# Never fewer than 512 candidates: below that, probes can pass while real questions miss the target.
DEPTHS = (512, 1024, 2048, 4096, 8192)
RERANK_PER_RESULT = 8  # asked for n results, re-rank at least 8n rows (the hybrid asks for 100 candidates)
MAX_RERANK_SHARE = 0.125  # past this share of the rows re-ranked, an exact scan is as cheap
TRAIN_ROWS = 32768  # 16 centroids per sub-quantiser need few points
_PROBE_QUERIES = 200
_RELEASE_ROWS = 131072  # rows gathered while tuning before their pages are given back (~200 MB at 384 dims)


class QuantisedScan:
    """An opened PQ fast-scan index of one segment, re-ranked exactly from the segment's vectors."""

    def __init__(self, vectors: np.ndarray, index, depth: int):
        self.vectors, self.index, self.depth = vectors, index, depth

    def rerank_depth(self, n: int) -> int:
        """How many approximate candidates to re-rank exactly for n results."""
        return max(self.depth, RERANK_PER_RESULT * n)

    def candidates(self, q: np.ndarray, depth: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Up to `depth` rows that `mask` allows with the best approximate scores, and those scores, best first
        (the search goes deeper by the share of rows the mask removes)."""
        if mask is not None:
            share = np.count_nonzero(mask) / max(len(mask), 1)
            depth = int(depth / share) if share > 0 else 0
        depth = min(depth, self.index.ntotal)
        if depth <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        approx, found = self.index.search(np.ascontiguousarray(q[None], dtype=np.float32), depth)
        keep = found[0] >= 0
        if mask is not None:
            keep[keep] = mask[found[0][keep]]
        return found[0][keep], approx[0][keep]


def sub_quantisers(dim: int) -> int:
    """Codes per row: one 4-bit code for every two dimensions (one per dimension when `dim` is odd)."""
    return dim // 2 if dim % 2 == 0 else dim


def build_ann(folder: Path, vectors_path: Path, seed: int = 1234) -> dict | None:
    """Train, fill and tune a PQ fast-scan index for the vectors in `vectors_path`, written into `folder`;
    returns what the commit records, or None when the segment is better searched exactly.

    The vectors are read in blocks, never mapped whole: building costs the training sample and the codes
    (a sixteenth of the vectors) in memory, not the vector file.
    """
    import faiss

    with RowFile(vectors_path) as source:
        rows, dim = source.shape
        rng = np.random.default_rng(seed)
        index = faiss.IndexPQFastScan(dim, sub_quantisers(dim), 4, faiss.METRIC_INNER_PRODUCT)
        sample = source.take(np.sort(rng.choice(rows, min(rows, TRAIN_ROWS), replace=False)))
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        del sample
        for _, block in source.blocks(65536):
            index.add(np.ascontiguousarray(block, dtype=np.float32))
        mapped = MappedRows(vectors_path)
        try:
            depth, recall = _tune(QuantisedScan(mapped.array, index, 0), source, mapped, rng)
        finally:
            mapped.close()
    if recall < PROBE_RECALL or depth > MAX_RERANK_SHARE * rows:
        return None
    faiss.write_index(index, str(folder / FILE))
    return {"kind": KIND, "depth": depth, "recall@10": round(recall, 4), "probe_queries": _PROBE_QUERIES,
            "bytes_per_row": int(index.code_size)}  # fmt: skip


def probe_queries(source: RowFile, rng, count: int = _PROBE_QUERIES) -> np.ndarray:
    """Segment rows moved far from themselves with noise (cosine ~0.5, as real questions are from their best
    passage): near-duplicate probes would make a small depth look better than it is."""
    rows, dim = source.shape
    picks = np.sort(rng.choice(rows, min(count, rows), replace=False))
    noise = rng.standard_normal((len(picks), dim)).astype(np.float32)
    queries = source.take(picks).astype(np.float32) + (1.7 / np.sqrt(dim)) * noise
    return queries / np.linalg.norm(queries, axis=1, keepdims=True)


def _tune(scan: QuantisedScan, source: RowFile, mapped: MappedRows, rng) -> tuple[int, float]:
    """The smallest depth whose re-ranked recall@10 against exact search reaches PROBE_RECALL on probe queries.

    One approximate search at the deepest level gives every level's candidates (its prefixes); each level
    re-ranks only the rows the previous one did not, keeping a running top 10 per query.
    """
    queries = probe_queries(source, rng)
    exact = [set(best.tolist()) for best in exact_top(source, queries, 10)]
    deepest = min(DEPTHS[-1], len(source))
    _, found = scan.index.search(queries, deepest)
    best = [(np.zeros(0, np.int64), np.zeros(0, np.float32)) for _ in queries]
    done, recall, touched = 0, 0.0, 0
    for depth in DEPTHS:
        depth = min(depth, deepest)
        hits = 0
        for i, q in enumerate(queries):
            new = np.sort(found[i, done:depth])
            new = new[new >= 0]
            rows = np.concatenate([best[i][0], new])
            scores = np.concatenate([best[i][1], scan.vectors[new] @ q])
            keep = np.argpartition(-scores, 9)[:10] if len(scores) > 10 else np.arange(len(scores))
            best[i] = (rows[keep], scores[keep])
            hits += len(exact[i] & set(best[i][0].tolist()))
            touched += len(new)
            if touched > _RELEASE_ROWS:
                mapped.release()  # the gathered rows' pages: RSS stays bounded
                touched = 0
        done, recall = depth, hits / (10 * len(queries))
        if recall >= PROBE_RECALL or depth >= deepest:
            return depth, recall
    return done, recall


def exact_top(source: RowFile, queries: np.ndarray, k: int) -> np.ndarray:
    """Rows of the k best scores of each query over all rows, by exact search block by block."""
    best_scores = np.full((len(queries), 0), -np.inf, np.float32)
    best_rows = np.zeros((len(queries), 0), np.int64)
    for start, block in source.blocks(65536):
        scores = queries @ np.asarray(block, dtype=np.float32).T  # [queries, block rows]
        top = min(k, scores.shape[1])
        part = np.argpartition(-scores, top - 1, axis=1)[:, :top]
        cand_scores = np.concatenate([best_scores, np.take_along_axis(scores, part, 1)], axis=1)
        cand_rows = np.concatenate([best_rows, part + start], axis=1)
        keep = np.argpartition(-cand_scores, min(k, cand_scores.shape[1]) - 1, axis=1)[:, :k]
        best_scores, best_rows = np.take_along_axis(cand_scores, keep, 1), np.take_along_axis(cand_rows, keep, 1)
    return best_rows


def open_ann(segment, info: dict) -> QuantisedScan | None:
    """Open the approximate index a commit records for a segment; None for a kind this version does not
    build (an older index's IVF): such a segment is searched exactly until a merge or compact rewrites it."""
    if info.get("kind") != KIND:
        return None
    import faiss

    path = segment.folder / FILE
    if not path.is_file():
        raise FileNotFoundError(path)
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as e:  # FAISS reports a truncated or foreign file this way
        raise ValueError(f"{FILE} cannot be read ({str(e).splitlines()[-1][:200]})") from None
    if index.ntotal != segment.rows or index.d != segment.dim:
        raise ValueError(f"{FILE} holds {index.ntotal} rows of {index.d} dims, the segment {segment.rows} of {segment.dim}")
    return QuantisedScan(segment.vectors, index, int(info["depth"]))
