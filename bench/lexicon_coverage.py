"""How much of a Norwegian question's index terms its English twin reaches through the word list, on
NorQuAD `train`, cross-fitted by article (a question is never translated with pairs aligned from its own
article's questions, as in bench/tune_fusion.py), and what the missed terms are.

    .venv/bin/python bench/lexicon_coverage.py [--top 40]

Coverage: the share of the Norwegian question's distinct index terms that the English question's own
terms or their translations hold; "useful" counts only terms found in the answer's article (the others
cannot help BM25). Precision: the share of added translation terms that the Norwegian question holds. Translations
count only where some article holds them, as the search keeps only the terms its index holds.
Each missed term gets one category (first that applies): number, name (capitalised inside the Norwegian
question), inflection (shares a 5-letter start with a reached term), compound (holds a reached term of 4+
letters), unknown (the English question has a word the list lacks), sense (the list knows every word
but not this term). Validation is never read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import build_lexicon  # noqa: E402

from semsearch.analysis import analyze  # noqa: E402
from semsearch.search import expansion, lexicon  # noqa: E402

DOCS = build_lexicon.QUESTIONS.parent / "docs"
SHIPPED = lexicon.load_lexicon


def train_questions(path: Path = build_lexicon.QUESTIONS) -> list[dict]:
    """Every `train` question with its Norwegian twin."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [q for q in rows if q.get("split") == "train" and q.get("query_nb")]


def category(term: str, nb: str, reached: set[str], unknown: bool) -> str:
    """The kind of a missed term (see the module's docstring)."""
    words = nb.split()[1:]
    if term.isdigit():
        return "number"
    if any(w[:1].isupper() and analyze(w) == [term] for w in words):
        return "name"
    if any(len(r) >= 5 and len(term) >= 5 and r[:5] == term[:5] for r in reached):
        return "inflection"
    if any(len(r) >= 4 and r in term and r != term for r in reached):
        return "compound"
    return "unknown" if unknown else "sense"


def unknown_words(en: str, known: dict) -> list[str]:
    """The English question's content words (names aside) that the word list lacks."""
    words = build_lexicon.re.findall(r"[^\W\d_]+", en)
    out = []
    for i, w in enumerate(words):
        key = lexicon.english_key([w.lower()])
        if key and (i == 0 or not w[:1].isupper()) and key not in known and not analyze(w.lower()) == []:
            out.append(w.lower())
    return out


def article_terms(docs: Path = DOCS) -> dict[str, set[str]]:
    """Each news article's index terms."""
    return {p.stem: set(analyze(p.read_text(encoding="utf-8"))) for p in sorted(docs.glob("*.txt"))}


def measure(questions: list[dict], lexicons: dict[str, dict], top: int) -> dict:
    """Coverage, useful coverage, precision and the missed terms' categories over `questions`, with the
    translations the articles hold (as the search keeps those its index holds)."""
    totals, cats, missed, unknown_count = Counter(), Counter(), Counter(), Counter()
    doc_terms = article_terms()
    vocabulary = set().union(*doc_terms.values())
    for q in questions:
        lexicon.load_lexicon = lambda q=q: lexicons[q["id"]]
        own = set(analyze(q["query"]))
        added = set(expansion.translations(q["query"], 1.0, lambda terms: vocabulary.intersection(terms)))
        reached = own | added
        nb = set(analyze(q["query_nb"]))
        doc = q["relevant"][0]
        useful = nb & doc_terms[doc]
        unknown = unknown_words(q["query"], lexicons[q["id"]])
        unknown_count.update(unknown)
        extra = added - own
        totals.update(nb=len(nb), hit=len(nb & reached), useful=len(useful), useful_hit=len(useful & reached),
                      added=len(extra), added_right=len(extra & nb), added_doc=len(extra & doc_terms[doc]))  # fmt: skip
        for term in useful - reached:
            kind = category(term, q["query_nb"], reached, bool(unknown))
            cats[kind] += 1
            missed[(kind, term)] += 1
    lexicon.load_lexicon = SHIPPED
    return {
        "coverage": totals["hit"] / totals["nb"],
        "useful coverage": totals["useful_hit"] / totals["useful"],
        "precision": totals["added_right"] / max(totals["added"], 1),
        "in article": totals["added_doc"] / max(totals["added"], 1),
        "added per question": totals["added"] / len(questions),
        "categories": cats.most_common(),
        "missed": missed.most_common(top),
        "unknown": unknown_count.most_common(top),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args()
    questions = train_questions()
    found = measure(questions, build_lexicon.fold_lexicons([(q["id"], q["relevant"]) for q in questions]), args.top)
    for key in ("coverage", "useful coverage", "precision", "in article", "added per question"):
        print(f"{key:<20} {found[key]:.3f}")
    print("missed useful terms by category:", ", ".join(f"{k} {n}" for k, n in found["categories"]))
    print("most missed:", ", ".join(f"{t} ({k[:3]}) {n}" for (k, t), n in found["missed"]))
    print("English words the list lacks:", ", ".join(f"{w} {n}" for w, n in found["unknown"]))


if __name__ == "__main__":
    main()
