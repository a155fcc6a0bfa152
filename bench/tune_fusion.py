"""Fit the hybrid's fusion for each question language on NorQuAD `train`; report `validation` alongside.

    .venv/bin/python bench/tune_fusion.py [--distractors 5000 0] [--lang en nb] [--translations 1.5 2.5 ...]
        [--feedback 0 0.3 ...] [--dense-span 0 0.06 ...]

Fits on archive-like indexes: the 403 news articles plus N NoReC reviews for each N given
(`semsearch.eval_index`, cached), all together, so the weights serve an archive of any size. For each
language and each setting of the grid (weights of dictionary translations and of dense feedback, the dense
feature's span), the feature weights are fitted listwise on `train` (a softmax over each question's
candidates pushed towards the answer-bearing ones; numpy gradient descent, L2-regularised); the setting
with the best mean train MRR@10 wins. English train questions are cross-fitted: each is translated with
a word list aligned without its article's questions. Uses `Searcher.features` itself, so the fitted
figures are exactly what `search.FusionParams` applies. Validation figures are printed for the record and
never choose anything.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from semsearch.api import searcher  # noqa: E402
from semsearch.embedding.pypi_model import cache_root  # noqa: E402
from semsearch.eval_index import eval_index  # noqa: E402
from semsearch.evaluate import LabelledQuery, load_queries  # noqa: E402
from semsearch.search import FEATURES, FusionParams, LanguageFusion, Searcher, lexicon  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
SHIPPED = lexicon.load_lexicon

DATA = ROOT.parent / "shared" / "data"
NORQUAD = DATA / "norquad-news"
FILES = {"nb": "queries-dev.jsonl", "en": "queries-dev-en.jsonl"}


def query_vectors(s: Searcher, queries: list[LabelledQuery]) -> np.ndarray:
    """The questions' embeddings, cached in the user cache by model and texts."""
    texts = [q.query for q in queries]
    key = hashlib.sha256(("\n".join(texts) + str(s.generation.commit.model.get("fingerprint"))).encode()).hexdigest()[:16]
    path = cache_root() / "eval" / f"queries-{key}.npy"
    if path.is_file():
        return np.load(path)
    vectors = s.embedder.embed_queries(texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def spans(s: Searcher) -> list[tuple[str, int, int]]:
    """(doc_id, start, end) of every row of the index, read once."""
    gen = s.generation
    return [(c.doc_id, c.start, c.end) for c in gen.chunks(np.arange(gen.rows))]


def fold_lexicons(queries: list[LabelledQuery]) -> dict[str, dict]:
    """For cross-fitting: per train question id, the word list that knows nothing of its article's
    questions (`build_lexicon.fold_lexicons`: the shipped list aligns all train questions, which would
    flatter the translations on the very questions it was aligned on)."""
    import build_lexicon

    return build_lexicon.fold_lexicons([(q.id, list(q.relevant)) for q in queries])


def candidate_sets(s: Searcher, queries: list[LabelledQuery], vectors: np.ndarray, lang: str, rows: list, folds=None):
    """Per question: the feature matrix of its candidates and which of them hold the answer."""
    sets = []
    for q, v in zip(queries, vectors):
        if folds:
            lexicon.load_lexicon = lambda q=q: folds[q.id]
        found = s.features(q.query, s.question_terms(q.query, lang), v, s.generation.alive, lang)
        hit = np.array([q.answered_by(*rows[r]) for r in found.rows.tolist()], dtype=bool)
        sets.append((found.features, hit))
    lexicon.load_lexicon = SHIPPED
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


def fit(sets, iterations: int = 300, temperature: float = 5.0, l2: float = 1e-3) -> np.ndarray:
    """Listwise softmax fit of the feature weights."""
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
    return w


def tune_language(indexes: list[Searcher], lang: str, grid: list[tuple[float, float, float]], cross_fit: bool = True):
    """The best setting of the grid for one language, with its fitted weights: the weights are fitted on the
    train questions asked of every index together (the same weights must serve an archive of any size),
    and the setting with the best mean train MRR@10 over the indexes wins. Validation is only printed."""
    data = {}
    for split in ("train", "validation"):
        queries = load_queries(NORQUAD / FILES[lang], split)
        data[split] = (queries, query_vectors(indexes[0], queries))
    rows = [spans(s) for s in indexes]
    folds = fold_lexicons(data["train"][0]) if lang == "en" and cross_fit else None
    best, best_mrr = None, -1.0
    for translations, feedback, span in grid:
        t0 = time.perf_counter()
        params = LanguageFusion(tuple(getattr(indexes[0].fusion, lang).weights), translations, feedback, span)
        sets = {}
        for s, r in zip(indexes, rows):
            s.fusion = replace(s.fusion, **{lang: params})
            for split, (qs, vs) in data.items():
                sets[(s.generation.rows, split)] = candidate_sets(s, qs, vs, lang, r, folds if split == "train" else None)
        w = np.round(fit([x for (_, split), v in sets.items() if split == "train" for x in v]), 3)
        found = {key: figures(w, v) for key, v in sets.items()}
        mrr = float(np.mean([f["mrr@10"] for (_, split), f in found.items() if split == "train"]))
        print(f"{lang} translations {translations} feedback {feedback} span {span}: weights {tuple(w.tolist())},"
              f" mean train MRR@10 {mrr:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
        start = np.asarray(params.weights)
        for (chunks, split), v in sets.items():
            f, f0 = found[(chunks, split)], figures(start, v)
            print(f"    {split:<10} on {chunks:>6} chunks: " + " ".join(f"{k} {x:.3f}" for k, x in f.items())
                  + "   (current weights: " + " ".join(f"{k} {x:.3f}" for k, x in f0.items()) + ")", flush=True)  # fmt: skip
        if mrr > best_mrr:
            best, best_mrr = LanguageFusion(tuple(w.tolist()), translations, feedback, span), mrr
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--distractors", type=int, nargs="+", default=[5000, 0], help="the indexes fitted on together")
    ap.add_argument("--lang", nargs="+", default=["nb", "en"])
    ap.add_argument("--translations", type=float, nargs="+", default=[0.0])
    ap.add_argument("--feedback", type=float, nargs="+", default=[0.0])
    ap.add_argument("--dense-span", type=float, nargs="+", default=[0.0])
    ap.add_argument("--candidates", type=int, default=FusionParams.candidates, help="chunks taken by cosine and by BM25")
    args = ap.parse_args()
    paths = [eval_index(NORQUAD / "docs", n, DATA / "norec" / "norec-nb.jsonl.gz") for n in args.distractors]
    indexes = [searcher(path, fusion=FusionParams(candidates=args.candidates)) for path in paths]
    print("indexes: " + ", ".join(f"{p} ({s.generation.rows} chunks)" for p, s in zip(paths, indexes)))
    chosen = {}
    for lang in args.lang:
        translations = args.translations if lang == "en" else [0.0]
        grid = list(itertools.product(translations, args.feedback, args.dense_span))
        chosen[lang] = tune_language(indexes, lang, grid)
        print(f"chosen {lang}: {chosen[lang]}", flush=True)


if __name__ == "__main__":
    main()
