"""Dense retrieval across segments: exact inner products over memory-mapped vectors, or a segment's
approximate index where one was built (segments of 10k+ rows: a quantised scan re-ranked exactly), each
restricted to live, allowed rows."""

from __future__ import annotations

import numpy as np

from semsearch.index.generation import Generation


def top_rows(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n highest scores, best first."""
    n = min(n, len(scores))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, n - 1)[:n]
    return part[np.argsort(-scores[part], kind="stable")]


def dense_top(gen: Generation, q: np.ndarray, n: int, masks: list[np.ndarray | None]) -> tuple[np.ndarray, np.ndarray]:
    """The n best live rows by cosine (global rows, scores), best first.

    Segments with an approximate index give their best candidates by approximate score; these are pooled and
    only the pool's best (as deep as one segment would re-rank on its own) are re-ranked exactly. Re-ranking
    per segment would read that depth's vectors from every segment: most of a query's cost at 10+ segments.
    """
    rows, scores, pool = [], [], []
    for i in range(len(gen.segments)):
        ann = _approximate(gen, i, masks[i])
        if ann is not None:
            depth = ann.rerank_depth(n)
            pool.append((i, *ann.candidates(q, depth, masks[i]), depth))
            continue
        local, found = _segment_top(gen, i, q, n, masks[i])
        rows.append(local.astype(np.int64) + gen.offsets[i])
        scores.append(found.astype(np.float32))
    if pool:
        pooled_rows, pooled_scores = _rerank_pool(gen, q, pool)
        rows.append(pooled_rows)
        scores.append(pooled_scores)
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    rows_all, scores_all = np.concatenate(rows), np.concatenate(scores)
    best = top_rows(scores_all, n)
    return rows_all[best], scores_all[best]


SPARSE_SHARE = 0.25  # below this share of allowed rows, score only those rows


def _approximate(gen: Generation, i: int, mask: np.ndarray | None):
    """Segment i's approximate index, unless the segment has none or a narrow filter leaves few rows (then an
    exact scan of the allowed rows is cheaper)."""
    ann = gen.ann(i)
    if ann is None or (mask is not None and np.count_nonzero(mask) < SPARSE_SHARE * gen.segments[i].rows):
        return None
    return ann


def _rerank_pool(gen: Generation, q: np.ndarray, pool: list) -> tuple[np.ndarray, np.ndarray]:
    """Exact scores of the pooled approximate candidates (segment, local rows, approximate scores, depth)
    with the best approximate scores, as many as the deepest segment asks to re-rank."""
    depth = max(d for *_, d in pool)
    seg = np.concatenate([np.full(len(r), i, np.int64) for i, r, _, _ in pool])
    local = np.concatenate([r for _, r, _, _ in pool]).astype(np.int64)
    best = top_rows(np.concatenate([a for _, _, a, _ in pool]), depth)
    seg, local = seg[best], local[best]
    out_rows, out_scores = [np.zeros(0, np.int64)], [np.zeros(0, np.float32)]
    for i in np.unique(seg):
        rows = np.sort(local[seg == i])  # ascending reads from the memory map
        out_rows.append(rows + gen.offsets[i])
        out_scores.append((gen.segments[int(i)].vectors[rows] @ q).astype(np.float32))
    return np.concatenate(out_rows), np.concatenate(out_scores)


def _segment_top(gen: Generation, i: int, q: np.ndarray, n: int, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The n best allowed rows of segment i searched exactly (local rows, scores)."""
    segment = gen.segments[i]
    allowed = None if mask is None else np.count_nonzero(mask)  # a count: listing 1M rows costs ~3 ms
    if allowed is not None and allowed < SPARSE_SHARE * segment.rows:
        rows = np.flatnonzero(mask)
        found = segment.vectors[rows] @ q  # a narrow filter: exact over the allowed rows only
        best = top_rows(found, n)
        return rows[best], found[best]
    found = segment.vectors @ q
    if mask is not None:
        found = np.where(mask, found, -np.inf)
    best = top_rows(found, n)
    keep = np.isfinite(found[best])
    return best[keep], found[best][keep]


def dense_scores(gen: Generation, q: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Exact cosine of the question with each of these global rows."""
    out = np.empty(len(rows), dtype=np.float32)
    seg, local = gen.locate(rows)
    for i in np.unique(seg):
        mask = seg == i
        out[mask] = gen.segments[int(i)].vectors[local[mask]] @ q
    return out
