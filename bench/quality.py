"""Answer quality, every mode side by side: NorQuAD news (validation) and our own corpus questions.

    .venv/bin/python bench/quality.py [--split validation] [--target-tokens 160] [--json OUT]

Builds (incrementally) an index of ../shared/data/norquad-news/docs under index/bench-norquad-*, and of
corpus/ under index/bench-corpus-*, then prints hit@k / MRR@10 at chunk and article level for dense,
lexical and hybrid, with each figure's ratio to dense. Skips NorQuAD with a message when the data is absent.
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
from semsearch.evaluate import LabelledQuery, evaluate, load_queries  # noqa: E402

NORQUAD = ROOT.parent / "shared" / "data" / "norquad-news"
MODES = ("dense", "lexical", "hybrid")


def table(title: str, reports: list, baseline: str = "dense") -> None:
    """Print one question set's reports, with ratios against the baseline mode."""
    base = next(r for r in reports if r.mode == baseline)
    r0 = reports[0]
    print(f"\n## {title}: {r0.queries} questions, mean chunk {r0.mean_chunk_chars:.0f} chars / {r0.mean_chunk_tokens:.0f} tokens")
    cols = list(r0.chunk.row())
    print(f"{'mode':<8} {'level':<8} " + " ".join(f"{c:>14}" for c in cols))
    for r in reports:
        for level in ("chunk", "article"):
            row, brow = getattr(r, level).row(), getattr(base, level).row()
            cells = [f"{row[c]:.3f} ({row[c] / brow[c] if brow[c] else float('nan'):4.2f}x)" for c in cols]
            print(f"{r.mode:<8} {level:<8} " + " ".join(f"{c:>14}" for c in cells))


def run_set(name: str, corpus: Path, queries: list[LabelledQuery], params: ChunkParams) -> list:
    """Index `corpus` with `params` and evaluate every mode on `queries`."""
    tag = f"{params.target_tokens}-{params.overlap_tokens}-{int(params.with_title)}"
    index = ROOT / "index" / f"bench-{name}-{tag}"
    t0 = time.perf_counter()
    stats = build_index(corpus, index, params=params, log=lambda m: print(m, file=sys.stderr))
    print(
        f"[{name}] index: {stats.chunks} chunks, {stats.embedded_chunks} embedded in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )
    found = searcher(index)
    return [evaluate(found, queries, mode) for mode in MODES]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="validation")
    ap.add_argument("--target-tokens", type=int, default=ChunkParams.target_tokens)
    ap.add_argument("--overlap-tokens", type=int, default=ChunkParams.overlap_tokens)
    ap.add_argument("--no-title", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    params = ChunkParams(target_tokens=args.target_tokens, overlap_tokens=args.overlap_tokens, with_title=not args.no_title)
    out = {}
    if (NORQUAD / "docs").is_dir():
        queries = load_queries(NORQUAD / "queries-dev.jsonl", args.split)
        out["norquad"] = run_set("norquad", NORQUAD / "docs", queries, params)
        table(f"NorQuAD news, {args.split}", out["norquad"])
    else:
        print(f"skipping NorQuAD: {NORQUAD} is absent", file=sys.stderr)
    corpus_q = load_queries(ROOT / "bench" / "corpus_questions.jsonl")
    out["corpus"] = run_set("corpus", ROOT / "corpus", corpus_q, params)
    table("corpus/ questions (Norwegian and English)", out["corpus"])
    english = [q for q in corpus_q if q.id in _english_ids()]
    if english:
        found = searcher(ROOT / "index" / f"bench-corpus-{params.target_tokens}-{params.overlap_tokens}-{int(params.with_title)}")
        table("corpus/ questions, English only", [evaluate(found, english, m) for m in MODES])
    if args.json:
        args.json.write_text(json.dumps({k: [r.to_dict() for r in v] for k, v in out.items()}, indent=1))


def _english_ids() -> set[str]:
    lines = (ROOT / "bench" / "corpus_questions.jsonl").read_text(encoding="utf-8").splitlines()
    return {o["id"] for o in map(json.loads, lines) if o.get("lang") == "en"}


if __name__ == "__main__":
    main()
