"""Warm hybrid query latency on the NorQuAD questions, per question language, and the cold CLI query.

    OMP_NUM_THREADS=1 .venv/bin/python bench/question_latency.py [--distractors 0 5000] [--rounds 3] [--cold 3]

Opens the evaluation index (`semsearch.eval_index`, built and cached on first use), asks every validation
question `rounds` times after one warm-up pass (question embedding included, as `semsearch.query` does)
and prints p50 / p90 in milliseconds per language. The cold query runs `semsearch query` in a fresh process
(`--local`, no server) `cold` times and prints the median wall time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from semsearch.api import searcher  # noqa: E402
from semsearch.eval_index import eval_index  # noqa: E402
from semsearch.evaluate import by_language, load_queries  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
NORQUAD = DATA / "norquad-news"


def warm(index: Path, rounds: int) -> dict[str, tuple[float, float]]:
    """p50 and p90 milliseconds of a warm hybrid query, per question language."""
    s = searcher(index)
    queries = [q for name in ("queries-dev.jsonl", "queries-dev-en.jsonl") for q in load_queries(NORQUAD / name, "validation")]
    out = {}
    for lang, group in by_language(queries).items():
        for q in group:
            s.search(q.query, 10, "hybrid")
        times = []
        for _ in range(rounds):
            for q in group:
                t = time.perf_counter()
                s.search(q.query, 10, "hybrid")
                times.append(1000 * (time.perf_counter() - t))
        out[lang] = (float(np.percentile(times, 50)), float(np.percentile(times, 90)))
    return out


def cold(index: Path, runs: int) -> float:
    """Median seconds of `semsearch query` in a fresh process."""
    cmd = [sys.executable, "-m", "semsearch.cli", "query", "What did the minister say about the tax?", "--index", str(index)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([*cmd, "--local"], check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--distractors", type=int, nargs="+", default=[0, 5000])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cold", type=int, default=3)
    args = ap.parse_args()
    for n in args.distractors:
        index = eval_index(NORQUAD / "docs", n, DATA / "norec" / "norec-nb.jsonl.gz")
        figures = warm(index, args.rounds)
        line = " ".join(f"{lang} p50 {p50:.1f} ms p90 {p90:.1f} ms;" for lang, (p50, p90) in figures.items())
        print(f"+{n} distractors: warm hybrid {line} cold CLI query {cold(index, args.cold):.2f} s", flush=True)


if __name__ == "__main__":
    main()
