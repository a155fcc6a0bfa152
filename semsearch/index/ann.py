"""Approximate dense search for large segments: an inverted-file (IVF) index over the segment's vectors.

FAISS's k-means picks `nlist` centroids; each row is assigned to its nearest. A query probes the
`nprobe` nearest lists and scores their rows exactly from the memory-mapped vectors, so a cold query
reads only the lists it probes, and any allowed-row mask (deletes, filters) applies before scoring.
`nprobe` is the smallest that reaches `PROBE_RECALL` (`TARGET_RECALL` plus a margin) recall@10 against
exact search on probe queries drawn from the segment, and the commit records it with the measured recall;
a segment that would need more than `MAX_SCAN_SHARE` of its rows probed is searched exactly instead.

    segments/<name>/ivf_centroids.npy  float32 [nlist, dim]
    segments/<name>/ivf_rows.npy       int32 rows grouped by list
    segments/<name>/ivf_offsets.npy    int64 [nlist + 1] start of each list in ivf_rows
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from semsearch.index.files import MappedRows, RowFile, load_array, save_array

MIN_ROWS = 10_000  # below this a segment is searched exactly (~2 ms a query on one core)
TARGET_RECALL = 0.98
# What the tuner asks of its synthetic probe queries: on NoReC (tiny model, bench/scale.py) real questions came
# in up to ~1 point under the probes (0.969 against >= 0.98 at 90k chunks), so the probes must clear a margin.
PROBE_RECALL = 0.99
# Above about this share of rows probed, an exact scan is as fast. Measured on the compacted 90k-chunk NoReC
# index (tiny model, bench/scale.py, one thread): probing 256 of 1,202 lists (21%) took 8.3 ms a question at
# p50, an exact scan of every row 10.7 ms.
MAX_SCAN_SHARE = 0.25
# k-means on 40 points a list (FAISS warns below 39), 10 rounds: the lists need not be optimal, since nprobe is
# tuned on them; at 1M rows this is ~4 TFLOP instead of ~16 with 64 points and 20 rounds.
SAMPLE_PER_LIST = 40
KMEANS_ITERATIONS = 10
_RELEASE_ROWS = 131072  # rows gathered while tuning before their pages are given back (~200 MB at 384 dims)
_PROBES = (16, 24, 32, 48, 64, 96, 128, 192, 256)  # never fewer than 16 lists: measured on NoReC, 8 gave 0.985


class IVF:
    """An opened IVF index of one segment."""

    def __init__(self, vectors: np.ndarray, centroids: np.ndarray, rows: np.ndarray, offsets: np.ndarray, nprobe: int):
        self.vectors, self.centroids, self.rows, self.offsets, self.nprobe = vectors, centroids, rows, offsets, nprobe

    def candidates(self, q: np.ndarray, nprobe: int | None = None) -> np.ndarray:
        """Rows of the lists nearest to the question."""
        nprobe = min(nprobe or self.nprobe, len(self.centroids))
        near = np.argpartition(-(self.centroids @ q), nprobe - 1)[:nprobe]
        return np.concatenate([self.rows[self.offsets[c] : self.offsets[c + 1]] for c in near])

    def search(self, q: np.ndarray, n: int, mask: np.ndarray | None = None, nprobe: int | None = None):
        """The n best allowed rows among the probed lists (local rows, scores), best first."""
        rows = self.candidates(q, nprobe)
        if mask is not None:
            rows = rows[mask[rows]]
        rows = np.sort(rows)  # ascending reads from the memory map
        scores = self.vectors[rows] @ q
        n = min(n, len(rows))
        if n <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        best = np.argpartition(-scores, n - 1)[:n]
        best = best[np.argsort(-scores[best], kind="stable")]
        return rows[best].astype(np.int64), scores[best]


def build_ivf(folder: Path, vectors_path: Path, seed: int = 1234) -> dict | None:
    """Train and write an IVF index for the vectors in `vectors_path` into `folder`; returns what the commit records.

    None when reaching the recall target would take probing more than MAX_SCAN_SHARE of the rows: gathering
    scattered rows costs several times a contiguous exact scan, so such a segment is better searched exactly.
    The vectors are read in blocks, never mapped whole, so building costs the sample and the lists in memory,
    not the vector file.
    """
    import faiss

    with RowFile(vectors_path) as source:
        rows, dim = source.shape
        nlist = max(16, int(4 * np.sqrt(rows)))
        rng = np.random.default_rng(seed)
        sample = source.take(np.sort(rng.choice(rows, min(rows, SAMPLE_PER_LIST * nlist), replace=False)))
        kmeans = faiss.Kmeans(dim, nlist, niter=KMEANS_ITERATIONS, seed=seed, spherical=True, verbose=False)
        kmeans.train(np.ascontiguousarray(sample, dtype=np.float32))
        del sample
        centroids = kmeans.centroids.astype(np.float32)
        assign = np.empty(rows, dtype=np.int64)
        quantizer = faiss.IndexFlatIP(dim)
        quantizer.add(centroids)
        for start, block in source.blocks(65536):
            _, nearest = quantizer.search(np.ascontiguousarray(block, dtype=np.float32), 1)
            assign[start : start + len(block)] = nearest[:, 0]
        order = np.argsort(assign, kind="stable").astype(np.int32)
        offsets = np.concatenate([[0], np.cumsum(np.bincount(assign, minlength=nlist))]).astype(np.int64)
        del assign
        mapped = MappedRows(vectors_path)
        ivf = IVF(mapped.array, centroids, order, offsets, 1)
        try:
            nprobe, recall = _tune(ivf, source, mapped, rng)
        finally:
            del ivf
            mapped.close()
    if recall < PROBE_RECALL or nprobe / nlist > MAX_SCAN_SHARE:
        return None
    save_array(folder / "ivf_centroids.npy", centroids)
    save_array(folder / "ivf_rows.npy", order)
    save_array(folder / "ivf_offsets.npy", offsets)
    return {"kind": "ivf", "nlist": nlist, "nprobe": nprobe, "recall@10": round(recall, 4), "probe_queries": 200}


def _tune(ivf: IVF, source: RowFile, mapped: MappedRows, rng) -> tuple[int, float]:
    """The smallest nprobe whose recall@10 against exact search reaches PROBE_RECALL on probe queries.

    Probe queries are segment rows moved far from themselves with noise, so that, as for a real
    question, the nearest passages are not the query itself and sit at a question-like distance.
    """
    rows, dim = source.shape
    picks = np.sort(rng.choice(rows, min(200, rows), replace=False))
    noise = rng.standard_normal((len(picks), dim)).astype(np.float32)
    # Far from their row (cosine ~0.5), as real questions are from their best passage: near-duplicate
    # probes would make a small nprobe look better than it is.
    queries = source.take(picks).astype(np.float32) + (1.7 / np.sqrt(dim)) * noise
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact = [set(best.tolist()) for best in _exact_top(source, queries, 10)]
    ranked = np.argsort(-(queries @ ivf.centroids.T), axis=1)  # each query's lists, nearest first
    best = [(np.zeros(0, np.int64), np.zeros(0, np.float32)) for _ in queries]  # top 10 of the lists probed so far
    probed, recall, touched = 0, 0.0, 0
    for nprobe in _PROBES:  # each level scans only the lists the previous one did not
        nprobe = min(nprobe, len(ivf.centroids))
        hits = 0
        for i, q in enumerate(queries):
            lists = ranked[i, probed:nprobe]
            rows = np.sort(np.concatenate([ivf.rows[ivf.offsets[c] : ivf.offsets[c + 1]] for c in lists]))
            rows = np.concatenate([best[i][0], rows])
            scores = np.concatenate([best[i][1], ivf.vectors[rows[len(best[i][0]) :]] @ q])
            keep = np.argpartition(-scores, 9)[:10] if len(scores) > 10 else np.arange(len(scores))
            best[i] = (rows[keep], scores[keep])
            hits += len(exact[i] & set(best[i][0].tolist()))
            touched += len(rows)
            if touched > _RELEASE_ROWS:
                mapped.release()  # the gathered rows' pages: RSS stays bounded
                touched = 0
        probed, recall = nprobe, hits / (10 * len(queries))
        if recall >= PROBE_RECALL or nprobe >= len(ivf.centroids):
            return nprobe, recall
    return probed, recall


def _exact_top(source: RowFile, queries: np.ndarray, k: int) -> np.ndarray:
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


def open_ann(segment, info: dict) -> IVF:
    """Open the IVF index a commit records for a segment (memory-mapped)."""
    folder = segment.folder
    centroids = load_array(folder / "ivf_centroids.npy", int(info["nlist"]))
    rows = load_array(folder / "ivf_rows.npy", segment.rows)
    offsets = load_array(folder / "ivf_offsets.npy", int(info["nlist"]) + 1)
    return IVF(segment.vectors, np.asarray(centroids), rows, np.asarray(offsets), int(info["nprobe"]))
