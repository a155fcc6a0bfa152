"""Fit the hybrid's fusion for each question language on NorQuAD `train`; report `validation` alongside.

    .venv/bin/python bench/tune_fusion.py [--lang nb en other] [--translations 2.5 ...] [--feedback 0 ...]
        [--dense-span 0 0.06 ...] [--adapt 0 1] [--features dense sentence ...] [--select] [--lambdamart] [--cache-sets]

Fits on archive-like indexes: the 403 news articles plus N NoReC reviews for each N given
(`semsearch.eval_index`, cached), all together, so the weights serve an archive of any size. For each
language and each setting of the grid (weights of dictionary translations and of dense feedback, the dense
feature's span), the weights of `--features` are fitted listwise on `train` (a softmax over each question's
candidates pushed towards the answer-bearing ones, L2-regularised, L-BFGS); the setting with the best mean
train MRR@10 wins. `--select` then adds features (`search.features.FEATURES`) one at a time, per language, while its
mean train MRR@10 over the indexes gains, and refits the language on them. `--lambdamart`
prints LightGBM LambdaMART against the linear fit, out of fold (folds split by article; it needs
`pip install --no-deps lightgbm`, which uses the scipy already installed). "other" is
fitted as the English questions without translations. English train questions are cross-fitted: each is
translated with a word list aligned without its article's questions. Uses `Searcher.features` itself, so
the fitted figures are exactly what `search.FusionParams` applies; the last line is the FusionParams to
ship. Validation figures are printed for the record and never choose anything.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import pickle
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
from semsearch.search.features import BASE  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
SHIPPED = lexicon.load_lexicon

DATA = ROOT.parent / "shared" / "data"
NORQUAD = DATA / "norquad-news"
FILES = {"nb": "queries-dev.jsonl", "en": "queries-dev-en.jsonl", "other": "queries-dev-en.jsonl"}


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


class Sets:
    """Every question's candidates of one index and split, packed: the full feature matrix (rows of all
    questions one after another), which rows answer, where each question starts, and its article."""

    def __init__(self, found: list[tuple[np.ndarray, np.ndarray]], articles: list[str]):
        self.x = np.concatenate([f for f, _ in found]) if found else np.zeros((0, len(FEATURES)), np.float32)
        self.hit = np.concatenate([h for _, h in found]) if found else np.zeros(0, bool)
        sizes = np.array([len(h) for _, h in found], np.int64)
        self.starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.sizes, self.articles = sizes, np.array(articles)
        self.group = np.repeat(np.arange(len(sizes)), sizes)

    def __len__(self) -> int:
        return len(self.sizes)

    def pack(self) -> tuple:
        """Plain arrays, to cache."""
        return self.x, self.hit, self.sizes, self.articles

    @classmethod
    def unpack(cls, packed: tuple) -> Sets:
        """The sets `pack` gave."""
        x, hit, sizes, articles = packed
        ends = np.cumsum(sizes)
        return cls(list(zip(np.split(x, ends[:-1]), np.split(hit, ends[:-1]))), list(articles))

    def subset(self, keep: np.ndarray) -> Sets:
        """The questions where `keep` is true."""
        parts = [(self.x[s : s + n], self.hit[s : s + n]) for s, n, k in zip(self.starts, self.sizes, keep) if k]
        return Sets(parts, list(self.articles[keep]))


def candidate_sets(s: Searcher, queries: list[LabelledQuery], vectors: np.ndarray, lang: str, rows: list, folds=None) -> Sets:
    """Every question's candidates: their full feature matrix (`search.FEATURES`) and which hold the answer."""
    found = []
    for q, v in zip(queries, vectors):
        if folds:
            lexicon.load_lexicon = lambda q=q: folds[q.id]
        c = s.features(q.query, s.question_terms(q.query, lang), s.question_vector(v, lang), s.generation.alive, lang)
        found.append((c.features, np.array([q.answered_by(*rows[r]) for r in c.rows.tolist()], dtype=bool)))
    lexicon.load_lexicon = SHIPPED
    return Sets(found, [min(q.relevant) for q in queries])


def ranks(scores: np.ndarray, sets: Sets) -> np.ndarray:
    """Per question, the rank of its best-scored answering candidate (0 where none is a candidate)."""
    best = np.full(len(sets), -np.inf)
    np.maximum.at(best, sets.group[sets.hit], scores[sets.hit])
    above = np.bincount(sets.group, weights=scores > best[sets.group], minlength=len(sets))
    return np.where(np.isfinite(best), above + 1, 0).astype(np.int64)


def figures(scores: np.ndarray, sets: Sets) -> dict[str, float]:
    """hit@1, hit@10 and MRR@10 when each question's candidates are ranked by `scores`, and the share of
    questions with an answer among the candidates (the most any ranking of them reaches)."""
    r = ranks(scores, sets)
    n = max(len(sets), 1)
    return {
        "hit@1": round(float(np.sum(r == 1)) / n, 3),
        "hit@10": round(float(np.sum((r >= 1) & (r <= 10))) / n, 3),
        "mrr@10": round(float(np.sum(np.where((r >= 1) & (r <= 10), 1 / np.maximum(r, 1), 0))) / n, 4),
        "candidates": round(float(np.sum(r >= 1)) / n, 3),
    }


def linear(w: np.ndarray, columns: list[int]):
    """The scorer of a linear fusion over these feature columns."""
    return lambda sets: sets.x[:, columns] @ w


def _listwise(w: np.ndarray, x: np.ndarray, sets: Sets, temperature: float, l2: float) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of each question's softmax over its candidates against its answering ones, and its
    gradient; L2-regularised."""
    z = temperature * (x @ w)
    top = np.full(len(sets), -np.inf)
    np.maximum.at(top, sets.group, z)
    e = np.exp(z - top[sets.group])
    total = np.bincount(sets.group, weights=e, minlength=len(sets))
    p = e / total[sets.group]
    answers = np.bincount(sets.group, weights=sets.hit, minlength=len(sets))
    target = np.where(sets.hit, 1 / np.maximum(answers[sets.group], 1), 0)
    logp = z - top[sets.group] - np.log(total[sets.group])
    n = len(sets)
    loss = -float(np.sum(target * logp)) / n + l2 * float(w @ w)
    grad = temperature * x.T @ (p * (answers[sets.group] > 0) - target) / n + 2 * l2 * w
    return loss, grad


def fit(sets: list[Sets], columns: list[int], temperature: float = 5.0, l2: float = 1e-3) -> np.ndarray:
    """Listwise softmax fit of the weights of these feature columns on all the sets together (L-BFGS)."""
    from scipy.optimize import minimize

    both = Sets([], [])
    both.x = np.concatenate([s.x[:, columns] for s in sets]).astype(np.float64)
    both.hit = np.concatenate([s.hit for s in sets])
    both.sizes = np.concatenate([s.sizes for s in sets])
    both.group = np.repeat(np.arange(len(both.sizes)), both.sizes)
    res = minimize(_listwise, np.zeros(len(columns)), args=(both.x, both, temperature, l2), jac=True, method="L-BFGS-B")
    return np.round(res.x, 3)


def mean_mrr(scorer, sets: list[Sets]) -> float:
    """Mean MRR@10 over the sets (each index and language counts alike)."""
    return float(np.mean([figures(scorer(s), s)["mrr@10"] for s in sets]))


def select(train: list[Sets], start: tuple[str, ...], min_gain: float = 0.001) -> tuple[str, ...]:
    """Forward selection for one language: from `start`, add the feature whose fitted weights raise the mean
    train MRR@10 over the indexes most, while it gains at least `min_gain`."""

    def score(names: tuple[str, ...]) -> float:
        cols = [FEATURES.index(f) for f in names]
        return mean_mrr(linear(fit(train, cols), cols), train)

    chosen, best = tuple(start), score(tuple(start))
    print(f"select: {chosen} mean train MRR@10 {best:.4f}", flush=True)
    while True:
        tried = {f: score(chosen + (f,)) for f in FEATURES if f not in chosen}
        print("    " + ", ".join(f"+{f} {m:.4f}" for f, m in sorted(tried.items(), key=lambda kv: -kv[1])), flush=True)
        if not tried or max(tried.values()) < best + min_gain:
            return chosen
        add = max(tried, key=tried.get)
        chosen, best = chosen + (add,), tried[add]
        print(f"select: {chosen} mean train MRR@10 {best:.4f}", flush=True)


def report(lang: str, scorer, sets: dict, baseline=None) -> None:
    """Figures of a scorer on every index and split (and of the baseline alongside)."""
    for (chunks, split), v in sets.items():
        f = figures(scorer(v), v)
        line = f"    {lang} {split:<10} on {chunks:>6} chunks: " + " ".join(f"{k} {x:.3f}" for k, x in f.items())
        if baseline is not None:
            line += "   (shipped: " + " ".join(f"{k} {x:.3f}" for k, x in figures(baseline(v), v).items()) + ")"
        print(line, flush=True)


def gather(indexes: list[Searcher], lang: str, params: LanguageFusion, data: dict, rows: list, folds) -> dict:
    """Candidate sets of every index and split with these parameters for `lang`'s questions."""
    out = {}
    for s, r in zip(indexes, rows):
        s.fusion = replace(s.fusion, **{lang: params})
        for split, (qs, vs) in data.items():
            key = (s.generation.rows, split)
            path = _sets_path(s, lang, params, split) if CACHE_SETS else None
            if path is not None and path.is_file():
                out[key] = Sets.unpack(pickle.loads(path.read_bytes()))
                continue
            out[key] = candidate_sets(s, qs, vs, lang, r, folds if split == "train" else None)
            if path is not None:
                path.write_bytes(pickle.dumps(out[key].pack()))
    return out


CACHE_SETS = False  # --cache-sets: keep candidate sets in the user cache, keyed by the ranking code and data


def _sets_path(s: Searcher, lang: str, params: LanguageFusion, split: str) -> Path:
    """Where the candidate sets of one index, language, setting and split are cached."""
    # The ranking code and what it ships beside it (the word list, the English adapter) make the sets.
    files = [p for d in ("search", "index") for p in sorted((ROOT / "semsearch" / d).rglob("*.py"))]
    files += sorted(p for p in (ROOT / "semsearch" / "search" / "data").iterdir() if p.is_file())
    code = b"".join(p.read_bytes() for p in files)
    setting = replace(params, weights=(), features=())  # the sets hold every feature: weights do not matter
    text = f"{s.generation.key}|{s.generation.rows}|{lang}|{setting}|{split}|{s.fusion.candidates}"
    key = hashlib.sha256(code + text.encode() + (ROOT / "bench" / "build_lexicon.py").read_bytes()).hexdigest()[:16]
    return cache_root() / "eval" / f"sets-{key}.arrays.pkl"


def tune_language(indexes: list[Searcher], lang: str, grid: list, features: tuple[str, ...], cross_fit: bool = True):
    """The best setting of the grid for one language, with its fitted weights: the weights are fitted on the
    train questions asked of every index together (the same weights must serve an archive of any size),
    and the setting with the best mean train MRR@10 over the indexes wins. Validation is only printed.
    Returns the chosen LanguageFusion and its candidate sets."""
    data = {}
    for split in ("train", "validation"):
        queries = load_queries(NORQUAD / FILES[lang], split)
        data[split] = (queries, query_vectors(indexes[0], queries))
    rows = [spans(s) for s in indexes]
    folds = fold_lexicons(data["train"][0]) if lang == "en" and cross_fit else None
    shipped = FusionParams().language(lang)
    best, best_mrr, best_sets = None, -1.0, None
    cols = [FEATURES.index(f) for f in features]
    for translations, feedback, span, adapt, context in grid:
        t0 = time.perf_counter()
        params = LanguageFusion(shipped.weights, translations, feedback, span, shipped.features, bool(adapt), context)
        sets = gather(indexes, lang, params, data, rows, folds)
        train = [v for (_, split), v in sets.items() if split == "train"]
        w = fit(train, cols)
        mrr = mean_mrr(linear(w, cols), train)
        print(f"{lang} translations {translations} feedback {feedback} span {span} adapt {adapt} context {context}:"
              f" weights {tuple(w.tolist())},"
              f" mean train MRR@10 {mrr:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
        report(lang, linear(w, cols), sets, linear(np.asarray(shipped.weights), shipped.columns()))
        if mrr > best_mrr:
            best = LanguageFusion(tuple(w.tolist()), translations, feedback, span, features, bool(adapt), context)
            best_mrr, best_sets = mrr, sets
    return best, best_sets


LAMBDAMART = {  # name: LGBMRanker settings; small trees keep the numpy evaluation at query time cheap
    "lambdamart-small": dict(n_estimators=100, learning_rate=0.1, num_leaves=7, min_child_samples=100),
    "lambdamart-large": dict(n_estimators=300, learning_rate=0.05, num_leaves=15, min_child_samples=50),
}


def lambdamart(sets: list[Sets], columns: list[int], settings: dict):
    """A LightGBM LambdaMART ranker fitted on the sets together."""
    import lightgbm

    ranker = lightgbm.LGBMRanker(subsample=0.8, subsample_freq=1, colsample_bytree=0.8, verbose=-1, random_state=1,
                                 lambdarank_truncation_level=20, **settings)  # fmt: skip
    x = np.concatenate([s.x[:, columns] for s in sets])
    ranker.fit(x, np.concatenate([s.hit for s in sets]).astype(int), group=np.concatenate([s.sizes for s in sets]))
    return ranker


def lambdamart_check(train: dict[str, list[Sets]], features: dict[str, tuple[str, ...]], folds: int = 5) -> None:
    """Out-of-fold train MRR@10 of the linear fusion and of LightGBM LambdaMART on the same features, with
    folds split by article (a question's candidates on every index stay in one fold). Only printed: a
    non-linear ranker ships only if it clearly beats the linear one."""
    for lang, sets in train.items():
        cols = [FEATURES.index(f) for f in features[lang]]
        articles = sorted(set(sets[0].articles))
        fold_of = {a: i % folds for i, a in enumerate(articles)}
        out = {name: [] for name in ["linear", *LAMBDAMART]}
        for k in range(folds):
            held = [np.array([fold_of[a] == k for a in s.articles]) for s in sets]
            fitted_on = [s.subset(~h) for s, h in zip(sets, held)]
            tests = [s.subset(h) for s, h in zip(sets, held)]
            w = fit(fitted_on, cols)
            out["linear"] += [(figures(linear(w, cols)(t), t), len(t)) for t in tests]
            for name, settings in LAMBDAMART.items():
                ranker = lambdamart(fitted_on, cols, settings)
                out[name] += [(figures(ranker.predict(t.x[:, cols]), t), len(t)) for t in tests]
        for name, found in out.items():
            total = sum(n for _, n in found)
            mean = {m: sum(f[m] * n for f, n in found) / total for m in ("hit@1", "hit@10", "mrr@10")}
            print(f"    {lang} out-of-fold {name:<17} " + " ".join(f"{m} {x:.4f}" for m, x in mean.items()), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--distractors", type=int, nargs="+", default=[5000, 0], help="the indexes fitted on together")
    ap.add_argument("--lang", nargs="+", default=["nb", "en", "other"], choices=["nb", "en", "other"])
    ap.add_argument("--translations", type=float, nargs="+", default=[2.5])
    ap.add_argument("--feedback", type=float, nargs="+", default=[0.0])
    ap.add_argument("--dense-span", type=float, nargs="+", default=[0.0, 0.06])
    ap.add_argument("--adapt", type=int, nargs="+", choices=[0, 1], help="English question adapter off/on (default: as shipped)")
    ap.add_argument(
        "--sentence-context", type=float, nargs="+", help="sentences read with this much of their chunk (default: as shipped)"
    )
    ap.add_argument("--features", nargs="+", default=list(BASE), choices=FEATURES, help="the features fitted (start of --select)")
    ap.add_argument("--select", action="store_true", help="add features forward while mean train MRR@10 gains")
    ap.add_argument("--lambdamart", action="store_true", help="print out-of-fold LambdaMART against the linear fit")
    ap.add_argument("--candidates", type=int, default=FusionParams.candidates, help="chunks taken by cosine and by BM25")
    ap.add_argument("--cache-sets", action="store_true", help="reuse candidate sets cached by an earlier run")
    args = ap.parse_args()
    global CACHE_SETS
    CACHE_SETS = args.cache_sets
    paths = [eval_index(NORQUAD / "docs", n, DATA / "norec" / "norec-nb.jsonl.gz") for n in args.distractors]
    indexes = [searcher(path, fusion=FusionParams(candidates=args.candidates)) for path in paths]
    print("indexes: " + ", ".join(f"{p} ({s.generation.rows} chunks)" for p, s in zip(paths, indexes)))
    chosen, sets = {}, {}
    for lang in args.lang:
        translations = args.translations if lang == "en" else [0.0]
        adapt = args.adapt if args.adapt is not None else [int(FusionParams().language(lang).adapt)]
        context = args.sentence_context or [FusionParams().language(lang).sentence_context]
        grid = list(itertools.product(translations, args.feedback, args.dense_span, adapt, context))
        chosen[lang], sets[lang] = tune_language(indexes, lang, grid, tuple(args.features))
        print(f"chosen {lang}: {chosen[lang]}", flush=True)
    train = {lang: [v for (_, split), v in found.items() if split == "train"] for lang, found in sets.items()}
    for lang, found in sets.items():
        print(f"{lang}:", flush=True)
        features = select(train[lang], tuple(args.features)) if args.select else tuple(args.features)
        cols = [FEATURES.index(f) for f in features]
        w = fit(train[lang], cols)
        chosen[lang] = replace(chosen[lang], weights=tuple(w.tolist()), features=features)
        print(f"{lang} with {features}: mean train MRR@10 {mean_mrr(linear(w, cols), train[lang]):.4f}")
        report(lang, linear(w, cols), found)
    if args.lambdamart:
        lambdamart_check(train, {lang: p.features for lang, p in chosen.items()})
    print("FusionParams(" + ", ".join(f"{lang}={p!r}" for lang, p in chosen.items()) + ")")


if __name__ == "__main__":
    main()
