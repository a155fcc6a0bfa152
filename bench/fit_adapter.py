"""Fit the English question adapter (`semsearch.search.adapter`) on NorQuAD `train`, and ship it.

    OMP_NUM_THREADS=1 .venv/bin/python bench/fit_adapter.py [--lambdas 3 10 30] [--listwise 0.02:1e-4 ...] [--dry-run]

Each English train question is paired with its Norwegian twin (same id), and a linear map W moves the English
question's vector q to normalise(q W), towards where the Norwegian question lies. Two ways of fitting W are tried:
- ridge: min ||E W - N||^2 + lambda ||W - I||^2 over the pairs' vectors (E English, N Norwegian), in closed form;
- listwise: the English question's softmax over passages (cosine / tau) is made to imitate its twin's, by KL
  divergence, + lambda ||W - I||^2. It matches the scores near the top of the ranking, where vector distance
  weighs every direction alike. The passages are every chunk of the news index and a seeded sample of the
  largest index's (the NoReC distractors), so no answer label enters the fit.
Each candidate is judged by the dense MRR@10 of the English train questions out of fold (five folds split by
article, so no question is mapped by a W that saw its article's questions), averaged over the news index with
and without 5,000 NoReC distractors. The best is fitted on every train question and written as float16 beside
the word list. Validation is printed for the record and chooses nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tune_fusion import DATA, NORQUAD, query_vectors, spans  # noqa: E402

from semsearch.api import searcher  # noqa: E402
from semsearch.eval_index import eval_index  # noqa: E402
from semsearch.evaluate import LabelledQuery, load_queries, rank_metrics  # noqa: E402
from semsearch.search import Searcher  # noqa: E402
from semsearch.search.adapter import adapter_path  # noqa: E402

FOLDS = 5


def ridge_to_identity(e: np.ndarray, n: np.ndarray, lam: float) -> np.ndarray:
    """argmin_W ||e W - n||^2 + lam ||W - I||^2, in closed form."""
    eye = np.eye(e.shape[1])
    return np.linalg.solve(e.T @ e + lam * eye, e.T @ n + lam * eye)


def listwise(e: np.ndarray, n: np.ndarray, passages: np.ndarray, tau: float, lam: float, steps: int = 300) -> np.ndarray:
    """argmin_W KL(softmax(n P / tau) || softmax(normalise(e W) P / tau)) + lam ||W - I||^2, by Adam (torch)."""
    import torch

    e_t, p_t, eye = torch.tensor(e, dtype=torch.float32), torch.tensor(passages, dtype=torch.float32), torch.eye(e.shape[1])
    with torch.no_grad():
        target = torch.log_softmax(torch.tensor(n, dtype=torch.float32) @ p_t.T / tau, dim=1)
    w = eye.clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=2e-3)
    for _ in range(steps):
        q = torch.nn.functional.normalize(e_t @ w, dim=1)
        logp = torch.log_softmax(q @ p_t.T / tau, dim=1)
        loss = (target.exp() * (target - logp)).sum(1).mean() + lam * ((w - eye) ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w.detach().numpy().astype(np.float64)


def mapped(e: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Rows of e mapped by w, back to unit length."""
    x = e @ w
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


class DenseJudge:
    """Dense hit@1 / hit@10 / MRR@10 of question vectors over one index, exact inner products."""

    def __init__(self, s: Searcher, queries: list[LabelledQuery]):
        self.vectors = np.concatenate([np.asarray(seg.vectors, np.float32) for seg in s.generation.segments])
        rows = spans(s)
        by_doc: dict[str, list[int]] = {}
        for r, (doc, _, _) in enumerate(rows):
            by_doc.setdefault(doc, []).append(r)
        self.answers = [{r for d in q.relevant for r in by_doc.get(d, []) if q.answered_by(*rows[r])} for q in queries]

    def ranks(self, q: np.ndarray, which: np.ndarray) -> list[int | None]:
        """Per question selected by `which`, the 1-based rank of its first answering chunk in the top 10 (or None)."""
        out = []
        for i in np.flatnonzero(which):
            top = np.argpartition(-(self.vectors @ q[i]), 10)[:10]
            top = top[np.argsort(-(self.vectors[top] @ q[i]))]
            out.append(next((k for k, r in enumerate(top.tolist(), 1) if r in self.answers[i]), None))
        return out

    def figures(self, q: np.ndarray, which: np.ndarray) -> tuple[float, float, float]:
        """hit@1, hit@10, MRR@10."""
        m = rank_metrics(self.ranks(q, which))
        return m.hits[1], m.hits[10], m.mrr10


def out_of_fold(e: np.ndarray, n: np.ndarray, train: np.ndarray, folds: np.ndarray, fit) -> np.ndarray:
    """Train questions mapped by a W that `fit(e, n)` gave without their fold's articles (other rows as they are)."""
    out = e.copy()
    for f in range(FOLDS):
        fit_on, held = train & (folds != f), train & (folds == f)
        out[held] = mapped(e[held], fit(e[fit_on], n[fit_on]))
    return out


def sample_passages(indexes: list[Searcher], sample: int = 4000) -> np.ndarray:
    """The listwise fit's passages: every chunk of the first (news) index and a seeded sample of the last's."""
    first, last = ([np.asarray(seg.vectors, np.float32) for seg in s.generation.segments] for s in (indexes[0], indexes[-1]))
    pool = np.concatenate(last)
    pick = np.random.default_rng(0).choice(len(pool), min(sample, len(pool)), replace=False)
    return np.concatenate([*first, pool[np.sort(pick)]])


def candidates(args, passages: np.ndarray) -> dict:
    """name: fit(e, n) -> W, for every setting tried."""
    out = {f"ridge lambda {lam:g}": (lambda e, n, lam=lam: ridge_to_identity(e, n, lam)) for lam in args.lambdas}
    for setting in args.listwise:
        tau, lam = (float(x) for x in setting.split(":"))
        out[f"listwise tau {tau:g} lambda {lam:g}"] = lambda e, n, tau=tau, lam=lam: listwise(e, n, passages, tau, lam)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lambdas", type=float, nargs="*", default=[3.0, 10.0, 30.0], help="ridge settings tried")
    ap.add_argument("--listwise", nargs="*", default=["0.02:1e-4", "0.02:1e-3", "0.05:1e-3"], help="tau:lambda tried")
    ap.add_argument("--distractors", type=int, nargs="+", default=[0, 5000])
    ap.add_argument("--dry-run", action="store_true", help="print the figures, write nothing")
    args = ap.parse_args()
    english = load_queries(NORQUAD / "queries-dev-en.jsonl")
    twin = {q.id: q for q in load_queries(NORQUAD / "queries-dev.jsonl")}
    norwegian = [twin[q.id] for q in english]
    paths = [eval_index(NORQUAD / "docs", n, DATA / "norec" / "norec-nb.jsonl.gz") for n in args.distractors]
    indexes = [searcher(p) for p in paths]
    e, n = query_vectors(indexes[0], english).astype(np.float64), query_vectors(indexes[0], norwegian).astype(np.float64)
    judges = [DenseJudge(s, english) for s in indexes]
    train = np.array([q.split == "train" for q in english])
    articles = sorted({min(q.relevant) for q in english})
    fold_of = dict(zip(articles, np.random.default_rng(0).permutation(len(articles)) % FOLDS))
    folds = np.array([fold_of[min(q.relevant)] for q in english])
    best = (-1.0, "", None)
    print("train MRR@10 out of fold, per index (" + ", ".join(f"+{d}" for d in args.distractors) + "):")
    print(f"  raw vectors: {[round(float(j.figures(e.astype(np.float32), train)[2]), 4) for j in judges]}")
    for name, fit in candidates(args, sample_passages(indexes)).items():
        oof = out_of_fold(e, n, train, folds, fit)
        mrr = [float(j.figures(oof, train)[2]) for j in judges]
        print(f"  {name}: {[round(m, 4) for m in mrr]}, mean {np.mean(mrr):.4f}", flush=True)
        best = max(best, (float(np.mean(mrr)), name, fit), key=lambda b: b[0])
    w = best[2](e[train], n[train])
    val = ~train
    for d, j in zip(args.distractors, judges):
        before, after = j.figures(e.astype(np.float32), val), j.figures(mapped(e, w), val)
        show = " / ".join
        print(f"validation +{d}, dense hit@1 / hit@10 / MRR@10: raw {show(f'{x:.3f}' for x in before)}, "
              f"mapped {show(f'{x:.3f}' for x in after)}")  # fmt: skip
    path = adapter_path(indexes[0].generation.commit.model["name"])
    print(f"{best[1]} chosen; {path.name}: {w.shape}, float16")
    if not args.dry_run:
        np.save(path, w.astype(np.float16))


if __name__ == "__main__":
    main()
