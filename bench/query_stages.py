"""Where a warm hybrid query's time goes, stage by stage, on one index: what grows with the archive.

    OMP_NUM_THREADS=1 .venv/bin/python bench/query_stages.py INDEX [INDEX ...] [--questions 100] [--rounds 3]

Each stage of `Searcher` (the question's vector, posting lists, BM25, dense candidates, sentence texts and
scores, results) is timed around its call with perf_counter, over the NoReC benchmark questions
(bench/scale_data.py) asked `rounds` times after a warm-up, and printed as mean milliseconds per query beside
the query's p50. Inside dense search: the approximate segments' scans, the exact segments' scans and the
pooled re-rank. Several indexes (e.g. bench/scale.py's 1k and 20k before `compact`) print side by side.
Stages nest (`features` holds most of the others), so they do not add up to the total.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

SPENT: dict[str, float] = defaultdict(float)


def timed(owner, name: str, label: str) -> None:
    """Replace `owner.name` by a wrapper that adds its time to SPENT[label]."""
    real = getattr(owner, name)

    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            SPENT[label] += time.perf_counter() - t

    setattr(owner, name, wrapper)


def instrument() -> None:
    """Time every stage of a hybrid query."""
    from semsearch.index import ann
    from semsearch.index.generation import Generation
    from semsearch.search import dense, searcher

    for name in ("dense_top", "dense_scores", "Postings"):
        timed(searcher, name, name)
    for name in ("query_vector", "features", "_results"):
        timed(searcher.Searcher, name, name)
    for name in ("bm25", "sentence_scores", "coverage"):
        timed(searcher.Lexical, name, name)
    for name in ("sentence_texts", "chunks"):
        timed(Generation, name, f"generation.{name}")
    timed(ann.QuantisedScan, "candidates", "dense: approximate scans")
    timed(dense, "_segment_top", "dense: exact scans")
    timed(dense, "_rerank_pool", "dense: pooled re-rank")


def main() -> None:
    """Print the stages of each index given."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("indexes", nargs="+")
    ap.add_argument("--questions", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    import numpy as np
    from scale_data import questions

    from semsearch import api

    instrument()
    qs = questions(args.questions)
    for index in args.indexes:
        for q in qs[:10]:
            api.query(q, k=10, index=index)
        SPENT.clear()
        times = []
        for _ in range(args.rounds):
            for q in qs:
                t = time.perf_counter()
                api.query(q, k=10, index=index)
                times.append(time.perf_counter() - t)
        segments = len(api.searcher(index).generation.segments)
        print(f"{index} ({segments} segments): hybrid p50 {np.percentile(times, 50) * 1e3:.2f} ms, "
              f"mean {np.mean(times) * 1e3:.2f} ms")  # fmt: skip
        for label, seconds in sorted(SPENT.items(), key=lambda kv: -kv[1]):
            print(f"  {label:28s} {seconds / len(times) * 1e3:6.2f} ms")


if __name__ == "__main__":
    main()
