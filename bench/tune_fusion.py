"""Fit the hybrid fusion weights on NorQuAD `train`, report on `validation`.

    .venv/bin/python bench/tune_fusion.py --index index/bench-norquad-240-40-1

Uses `Searcher.features` itself, so the fitted weights are exactly what `search.FusionParams` applies.
The fit is listwise: a softmax over each question's candidates, pushed towards the answer-bearing ones
(plain numpy gradient descent, L2-regularised). Prints the default weights' figures, the fitted weights,
and an ablation of each feature.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from semsearch.analysis import analyze  # noqa: E402
from semsearch.api import searcher  # noqa: E402
from semsearch.evaluate import load_queries  # noqa: E402
from semsearch.search import FEATURES, FusionParams, looks_english  # noqa: E402

NORQUAD = ROOT.parent / "shared" / "data" / "norquad-news"


def candidate_sets(index: Path, split: str):
    """Per question: the feature matrix of its candidates and which of them hold the answer."""
    s = searcher(index)
    queries = [q for q in load_queries(NORQUAD / "queries-dev.jsonl", split) if not looks_english(q.query)]
    vectors = s.embedder.embed_queries([q.query for q in queries])
    sets = []
    for q, v in zip(queries, vectors):
        found = s.features(q.query, analyze(q.query), v, s.generation.alive)
        chunks = [found.chunks[r] for r in found.rows.tolist()]
        hit = np.array([q.answered_by(c.doc_id, c.start, c.end) for c in chunks], dtype=bool)
        sets.append((found.features, hit))
    return sets


def figures(weights: np.ndarray, sets) -> dict[str, float]:
    """hit@1, hit@10 and MRR@10 when candidates are ranked by features @ weights."""
    ranks = []
    for features, hit in sets:
        order = np.argsort(-(features @ weights), kind="stable")[:10]
        found = np.flatnonzero(hit[order])
        ranks.append(found[0] + 1 if len(found) else None)
    n = len(ranks)
    return {
        "hit@1": round(sum(r == 1 for r in ranks) / n, 3),
        "hit@10": round(sum(r is not None for r in ranks) / n, 3),
        "mrr@10": round(sum(1 / r for r in ranks if r) / n, 3),
    }


def fit(sets, columns: list[int], iterations: int = 300, temperature: float = 5.0, l2: float = 1e-3) -> np.ndarray:
    """Listwise softmax fit of the weights of the given feature columns (others stay 0)."""
    w = np.zeros(len(FEATURES))
    for _ in range(iterations):
        grad = np.zeros(len(FEATURES))
        for features, hit in sets:
            if not hit.any():
                continue
            z = temperature * (features @ w)
            p = np.exp(z - z.max())
            p /= p.sum()
            grad += temperature * features.T @ (p - hit / hit.sum())
        w -= 0.5 * grad / len(sets) + l2 * w
        mask = np.zeros(len(FEATURES))
        mask[columns] = 1
        w *= mask
    return w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, required=True)
    args = ap.parse_args()
    train, validation = candidate_sets(args.index, "train"), candidate_sets(args.index, "validation")
    default = np.asarray(FusionParams().weights_nb)
    print(f"default {dict(zip(FEATURES, default))}: train {figures(default, train)} validation {figures(default, validation)}")
    everything = list(range(len(FEATURES)))
    w = fit(train, everything)
    print(f"fitted  {tuple(np.round(w, 3))}: train {figures(w, train)} validation {figures(w, validation)}")
    for drop in everything:
        cols = [c for c in everything if c != drop]
        wd = fit(train, cols)
        print(f"without {FEATURES[drop]:<9} train {figures(wd, train)} validation {figures(wd, validation)}")


if __name__ == "__main__":
    main()
