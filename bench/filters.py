"""Filtered against unfiltered queries on one index: a filter that 1% of the documents match, applied
before ranking, should cost no more than no filter.

    .venv/bin/python bench/filters.py --index INDEX [--share 0.01] [--queries 100]

The filter is `where={"doc_id": [...]}` over a seeded random `share` of the documents (any metadata field
works the same way: both become a per-segment allowed-row mask). Prints warm p50/p99 per mode, one thread,
with the filtered figures as ratios to the unfiltered ones, and how many results each filtered query got.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import semsearch  # noqa: E402
from semsearch.api import searcher  # noqa: E402

QUESTIONS = [
    "Hva synes anmelderen om filmen?", "Er boka verdt å lese?", "Hvordan var konserten i Oslo?", "Hvem spiller hovedrollen?",
    "Hva koster spillet?", "Er albumet bedre enn det forrige?", "Hvordan er lyden på hodetelefonene?", "Hva handler serien om?",
    "Hvilken karakter fikk restauranten?", "Er forestillingen morsom?",
]  # fmt: skip


def timings(index: Path, mode: str, questions: list[str], where: dict | None) -> tuple[list[float], list[int]]:
    """Seconds per query and result counts."""
    semsearch.query(questions[0], k=10, index=index, mode=mode, where=where)  # warm: model, columns, caches
    seconds, counts = [], []
    for q in questions:
        t = time.perf_counter()
        found = semsearch.query(q, k=10, index=index, mode=mode, where=where)
        seconds.append(time.perf_counter() - t)
        counts.append(len(found))
    return seconds, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--share", type=float, default=0.01)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--where", help="FIELD=VALUE to filter on instead of a random share of doc ids")
    args = parser.parse_args()
    if args.where:
        field, _, value = args.where.partition("=")
        where = {field: int(value) if value.isdigit() else value}
        picked = [args.where]
    else:
        docs = sorted(d.doc_id for d in searcher(args.index).generation.catalog())
        picked = random.Random(1).sample(docs, max(1, int(len(docs) * args.share)))
        where = {"doc_id": picked}
    questions = [QUESTIONS[i % len(QUESTIONS)] + f" {i}" for i in range(args.queries)]
    gen = searcher(args.index).generation
    print(f"{args.index}: {gen.commit.documents} documents, {gen.commit.chunks} chunks, {len(gen.segments)} segments; "
          f"filter: {args.where or f'{len(picked)} doc ids ({args.share:.0%})'}")  # fmt: skip
    print(f"{'mode':<8} {'unfiltered p50/p99 ms':>22} {'filtered p50/p99 ms':>20} {'p50 ratio':>9} {'results':>8}")
    for mode in ("dense", "lexical", "hybrid"):
        plain, _ = timings(args.index, mode, questions, None)
        narrow, counts = timings(args.index, mode, questions, where)

        def p(xs, q):
            return 1000 * sorted(xs)[min(len(xs) - 1, int(q * len(xs)))]

        ratio = statistics.median(narrow) / statistics.median(plain)
        print(f"{mode:<8} {p(plain, .5):10.1f} / {p(plain, .99):6.1f}   {p(narrow, .5):9.1f} / {p(narrow, .99):6.1f} "
              f"{ratio:8.2f}x {statistics.mean(counts):8.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
