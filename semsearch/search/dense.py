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
    """The n best live rows by cosine (global rows, scores), best first."""
    rows, scores = [], []
    for i in range(len(gen.segments)):
        local, found = _segment_top(gen, i, q, n, masks[i])
        rows.append(local.astype(np.int64) + gen.offsets[i])
        scores.append(found.astype(np.float32))
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    rows_all, scores_all = np.concatenate(rows), np.concatenate(scores)
    best = top_rows(scores_all, n)
    return rows_all[best], scores_all[best]


SPARSE_SHARE = 0.25  # below this share of allowed rows, score only those rows


def _segment_top(gen: Generation, i: int, q: np.ndarray, n: int, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The n best allowed rows of segment i (local rows, scores)."""
    segment = gen.segments[i]
    allowed = None if mask is None else np.count_nonzero(mask)  # a count: listing 1M rows costs ~3 ms
    if allowed is not None and allowed < SPARSE_SHARE * segment.rows:
        rows = np.flatnonzero(mask)
        found = segment.vectors[rows] @ q  # a narrow filter: exact over the allowed rows only
        best = top_rows(found, n)
        return rows[best], found[best]
    ann = gen.ann(i)
    if ann is not None:
        return ann.search(q, n, mask)
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
