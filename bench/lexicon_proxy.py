"""A quick, model-free check of a word list: BM25 over the news articles' paragraphs (one line of a
document each) for the `train` questions, English with their translations (cross-fitted by article, as
bench/lexicon_coverage.py does) against Norwegian. Seconds on one core, no index, no model: it ranks word
lists before bench/tune_fusion.py measures the one that wins. Validation is never read.

    .venv/bin/python bench/lexicon_proxy.py [--weights 1 2.5]
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import build_lexicon  # noqa: E402
import lexicon_coverage  # noqa: E402

from semsearch.analysis import analyze  # noqa: E402
from semsearch.search import expansion, lexicon  # noqa: E402
from semsearch.search.lexical import K1, B  # noqa: E402


class Paragraphs:
    """BM25 over every non-empty line of the news articles, with each line's (doc_id, start, end)."""

    def __init__(self, docs: Path = lexicon_coverage.DOCS):
        self.spans, lengths, self.postings = [], [], defaultdict(list)
        for path in sorted(docs.glob("*.txt")):
            text, start = path.read_text(encoding="utf-8"), 0
            for line in text.split("\n"):
                terms = analyze(line)
                if terms:
                    row = len(self.spans)
                    self.spans.append((path.stem, start, start + len(line)))
                    lengths.append(len(terms))
                    for term, tf in Counter(terms).items():
                        self.postings[term].append((row, tf))
                start += len(line) + 1
        self.lengths = np.asarray(lengths, dtype=np.float64)
        self.avg = self.lengths.mean()

    def known(self, terms: list[str]) -> set[str]:
        """The terms that some paragraph holds."""
        return {t for t in terms if t in self.postings}

    def rank(self, terms: dict[str, float], k: int = 10) -> list[int]:
        """The best k rows for weighted terms."""
        n, scores = len(self.spans), np.zeros(len(self.spans))
        for term, weight in terms.items():
            plist = self.postings.get(term, [])
            if not plist:
                continue
            idf = math.log(1 + (n - len(plist) + 0.5) / (len(plist) + 0.5))
            rows = np.fromiter((r for r, _ in plist), np.int64, len(plist))
            tf = np.fromiter((t for _, t in plist), np.float64, len(plist))
            scores[rows] += weight * idf * tf / (K1 * ((1 - B) + B * self.lengths[rows] / self.avg) + tf)
        best = np.argsort(-scores, kind="stable")[:k]
        return [int(r) for r in best if scores[r] > 0]


def mrr(index: Paragraphs, questions: list[dict], terms_of) -> tuple[float, float]:
    """MRR@10 and hit@1 of answer-bearing paragraphs, for each question's terms from `terms_of(q)`."""
    total, first = 0.0, 0
    for q in questions:
        spans = [(s["doc_id"], s["start"], s["end"]) for s in q["answer_spans"]]
        for rank, row in enumerate(index.rank(terms_of(q)), 1):
            d, s, e = index.spans[row]
            if any(d == sd and s < se and ss < e for sd, ss, se in spans):
                total += 1 / rank
                first += rank == 1
                break
    return total / len(questions), first / len(questions)


def english_terms(lexicons: dict, weight: float, known=None):
    """Terms of an English question with its translations from its fold's word list (only those
    `known` holds, when given: see `expansion.translations`)."""

    def terms(q: dict) -> dict[str, float]:
        lexicon.load_lexicon = lambda: lexicons[q["id"]]
        own = {t: float(n) for t, n in Counter(analyze(q["query"])).items()}
        return expansion.add_terms(own, expansion.translations(q["query"], weight, known)) if weight else own

    return terms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=float, nargs="+", default=[1.0, 2.5])
    args = ap.parse_args()
    questions, index = lexicon_coverage.train_questions(), Paragraphs()
    lexicons = build_lexicon.fold_lexicons([(q["id"], q["relevant"]) for q in questions])
    nb = mrr(index, questions, lambda q: {t: float(n) for t, n in Counter(analyze(q["query_nb"])).items()})
    print(f"Norwegian: MRR@10 {nb[0]:.3f} hit@1 {nb[1]:.3f}")
    for weight in [0.0, *args.weights]:
        for known in (None, index.known):
            en = mrr(index, questions, english_terms(lexicons, weight, known))
            print(f"English, translations {weight}{', known terms only' if known else ''}: MRR@10 {en[0]:.3f} hit@1 {en[1]:.3f}")
    lexicon.load_lexicon = lexicon_coverage.SHIPPED


if __name__ == "__main__":
    main()
