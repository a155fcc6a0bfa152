"""Answer quality side by side: NorQuAD news questions in Norwegian and English, on the 403 articles alone and
with distractors (NoReC reviews) added, in every mode; then our own corpus questions.

    .venv/bin/python bench/quality.py [--split validation] [--distractors 5000] [--json OUT] [--no-corpus]

The NorQuAD indexes are built once into the user cache (`semsearch.eval_index`) and reused; corpus/ is
indexed under index/bench-corpus-*. Figures are chunk level: hit@1, hit@10 and MRR@10, then the change
that the distractors bring, in points. Skips NorQuAD with a message when the data is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from semsearch.api import build_index, searcher  # noqa: E402
from semsearch.chunking import ChunkParams  # noqa: E402
from semsearch.eval_index import eval_index  # noqa: E402
from semsearch.evaluate import LabelledQuery, evaluate, evaluate_languages, load_queries  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
NORQUAD = DATA / "norquad-news"
QUESTION_FILES = ("queries-dev.jsonl", "queries-dev-en.jsonl")
MODES = ("hybrid", "dense", "lexical")
LANG_NAMES = {"nb": "Norwegian", "en": "English"}


def _log(message: str) -> None:
    print(message, file=sys.stderr)


def norquad(split: str, sizes: list[int], params: ChunkParams) -> dict[int, list]:
    """Reports per distractor count: one per question language and mode."""
    queries = [q for name in QUESTION_FILES if (NORQUAD / name).is_file() for q in load_queries(NORQUAD / name, split)]
    out = {}
    for n in sizes:
        t0 = time.perf_counter()
        index = eval_index(NORQUAD / "docs", n, DATA / "norec" / "norec-nb.jsonl.gz", params=params, log=_log)
        _log(f"[norquad + {n} distractors] index ready in {time.perf_counter() - t0:.1f} s: {index}")
        t0 = time.perf_counter()
        out[n] = evaluate_languages(searcher(index), queries, list(MODES))
        _log(f"[norquad + {n} distractors] evaluated in {time.perf_counter() - t0:.1f} s")
    return out


def side_by_side(split: str, reports: dict[int, list]) -> str:
    """Rows: language and mode; columns: hit@1 / hit@10 / MRR@10 at each size, then the change in points."""
    sizes = sorted(reports)
    cell = {(r.lang, r.mode, n): r.chunk.row() for n in sizes for r in reports[n]}
    base = reports[sizes[0]]
    head = "| questions, mode | n | " + " | ".join(f"hit@1 / hit@10 / MRR@10 (+{n})" for n in sizes)
    lines = [f"NorQuAD {split}, chunk level; +N = NoReC distractors added to the 403 articles", ""]
    lines.append(head + (f" | change +{sizes[-1]} (points) |" if len(sizes) > 1 else " |"))
    lines.append("|---" * (2 + len(sizes) + (len(sizes) > 1)) + "|")
    for r in base:
        figures = [cell[(r.lang, r.mode, n)] for n in sizes]
        cells = [f"{f['hit@1']:.3f} / {f['hit@10']:.3f} / {f['mrr@10']:.3f}" for f in figures]
        if len(sizes) > 1:
            d = {k: 100 * (figures[-1][k] - figures[0][k]) for k in ("hit@1", "hit@10", "mrr@10")}
            cells.append(f"{d['hit@1']:+.1f} / {d['hit@10']:+.1f} / {d['mrr@10']:+.1f}")
        name = LANG_NAMES.get(r.lang, r.lang)
        lines.append(f"| {name}, {r.mode} | {r.queries} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def corpus_table(params: ChunkParams) -> str:
    """Our own corpus questions, per language and mode: hit@1 / hit@10 / MRR@10 at chunk and article level."""
    tag = f"{params.target_tokens}-{params.overlap_tokens}-{int(params.with_title)}"
    index = ROOT / "index" / f"bench-corpus-{tag}"
    build_index(ROOT / "corpus", index, params=params, log=_log)
    found = searcher(index)
    queries: list[LabelledQuery] = load_queries(ROOT / "bench" / "corpus_questions.jsonl")
    lines = ["corpus/ questions: hit@1 / hit@10 / MRR@10, chunk | article", ""]
    for r in [*evaluate_languages(found, queries, list(MODES)), *(evaluate(found, queries, m) for m in MODES)]:
        c, a = r.chunk.row(), r.article.row()
        lines.append(
            f"{r.lang:<4} {r.queries:>3} {r.mode:<8} {c['hit@1']:.3f} / {c['hit@10']:.3f} / {c['mrr@10']:.3f}"
            f" | {a['hit@1']:.3f} / {a['hit@10']:.3f} / {a['mrr@10']:.3f}"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="validation")
    ap.add_argument("--distractors", type=int, nargs="*", default=[0, 5000], help="distractor counts, side by side")
    ap.add_argument("--target-tokens", type=int, default=ChunkParams.target_tokens)
    ap.add_argument("--overlap-tokens", type=int, default=ChunkParams.overlap_tokens)
    ap.add_argument("--no-title", action="store_true")
    ap.add_argument("--no-corpus", action="store_true", help="skip the corpus/ questions")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    params = ChunkParams(target_tokens=args.target_tokens, overlap_tokens=args.overlap_tokens, with_title=not args.no_title)
    out: dict[str, list] = {}
    if (NORQUAD / "docs").is_dir():
        reports = norquad(args.split, args.distractors, params)
        print(side_by_side(args.split, reports))
        out.update({f"norquad+{n}": [r.to_dict() for r in rs] for n, rs in reports.items()})
    else:
        _log(f"skipping NorQuAD: {NORQUAD} is absent")
    if not args.no_corpus:
        print()
        print(corpus_table(params))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
