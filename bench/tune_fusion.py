"""Tune hybrid fusion on NorQuAD `train`, report on `validation`, from one pass of score matrices.

    .venv/bin/python bench/tune_fusion.py --index index/bench-norquad-160-40-1

Computes dense and BM25 scores of every chunk for every question once, then grid-searches the fusion
(weights, candidate depth, article-level boost) in numpy. Prints the best settings and their figures.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from semsearch.api import searcher  # noqa: E402
from semsearch.evaluate import load_queries  # noqa: E402
from semsearch.search import looks_english  # noqa: E402

NORQUAD = ROOT.parent / "shared" / "data" / "norquad-news"


def matrices(index: Path, queries):
    """Dense scores, lexical scores and the hit mask, each [questions, chunks]; and the row -> doc map."""
    s = searcher(index)
    rows = s.snapshot.rows(s.snapshot.ids.tolist())
    docs = np.array([r.doc_id for r in rows])
    starts = np.array([r.start for r in rows])
    ends = np.array([r.end for r in rows])
    from semsearch.store import dense_vectors

    vectors = dense_vectors(s.snapshot.dense)
    q = s.embedder.embed_queries([x.query for x in queries])
    dense = q @ vectors.T
    lexical = np.stack([s.snapshot.lexical.scores(x.query) for x in queries])
    hits = np.zeros_like(dense, dtype=bool)
    for i, x in enumerate(queries):
        for d, a, b in x.spans:
            hits[i] |= (docs == d) & (starts < b) & (a < ends)
    return dense, lexical, hits, docs


def fuse(dense, lexical, docs, w, depth, doc_boost, norm="minmax"):
    """The fusion of search.Searcher, vectorised over questions, plus an optional article-level boost."""
    out = np.full(dense.shape, -np.inf, dtype=np.float32)
    _, doc_index = np.unique(docs, return_inverse=True)
    for i in range(dense.shape[0]):
        d, lx = dense[i], lexical[i]
        cand = np.union1d(np.argsort(-d)[:depth], np.argsort(-lx)[:depth])
        dc = d[cand]
        if norm == "minmax":
            dn = (dc - dc.min()) / max(dc.max() - dc.min(), 1e-9)
        else:
            dn = (dc - dc.mean()) / max(dc.std(), 1e-9)
        lmax = lx[cand].max()
        ln = lx[cand] / lmax if lmax > 0 else np.zeros_like(dc)
        if norm == "z":
            ln = (lx[cand] - lx[cand].mean()) / max(lx[cand].std(), 1e-9)
        f = w * dn + (1 - w) * ln
        if doc_boost:
            best = np.full(doc_index.max() + 1, -np.inf)
            np.maximum.at(best, doc_index[cand], f)
            f = f + doc_boost * best[doc_index[cand]]
        out[i, cand] = f
    return out


def metrics(scores, hits):
    """hit@1, hit@10, MRR@10 of score matrices against the hit mask."""
    order = np.argsort(-scores, axis=1)[:, :10]
    h = np.take_along_axis(hits, order, axis=1)
    first = np.where(h.any(1), h.argmax(1) + 1, 0)
    return {
        "hit@1": float((first == 1).mean()),
        "hit@10": float((first > 0).mean()),
        "mrr@10": float(np.where(first > 0, 1 / np.maximum(first, 1), 0).mean()),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, required=True)
    args = ap.parse_args()
    data = {}
    for split in ("train", "validation"):
        qs = load_queries(NORQUAD / "queries-dev.jsonl", split)
        qs = [q for q in qs if not looks_english(q.query)]
        data[split] = matrices(args.index, qs)
    for split, (d, lx, h, _docs) in data.items():
        print(split, "dense", metrics(d, h), "lexical", metrics(lx, h))
    grid = list(itertools.product([0.3, 0.4, 0.5, 0.6, 0.7], [20, 50, 100], [0.0, 0.3, 0.6, 1.0], ["minmax", "z"]))
    results = []
    for w, depth, boost, norm in grid:
        d, lx, h, docs = data["train"]
        results.append((metrics(fuse(d, lx, docs, w, depth, boost, norm), h)["mrr@10"], w, depth, boost, norm))
    results.sort(reverse=True)
    for mrr, w, depth, boost, norm in results[:8]:
        d, lx, h, docs = data["validation"]
        print(
            f"w={w} depth={depth} boost={boost} norm={norm}: train mrr {mrr:.3f}; validation",
            metrics(fuse(d, lx, docs, w, depth, boost, norm), h),
        )


if __name__ == "__main__":
    main()
