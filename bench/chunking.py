"""Chunking throughput, side by side from one run, as ratios to today's (reference) chunker.

    .venv/bin/python bench/chunking.py [--norec 2000] [--runs 3] [--processes 2]

Uses the real e5 model's tokenizer (install it with `semsearch model install`) and default ChunkParams,
with the passage prompt, on NorQuAD (403 articles) and the first N NoReC reviews (`title\\ntext`).
Rows, each the best of `--runs`:
  reference      tests/reference_chunker.py (the algorithm before the fast chunker), Embedder.count_tokens
  batched        chunk_many with Embedder.count_tokens: a few large counter calls per 32 articles
  word-cached    chunk_many with TokenizerCounter (loaded beforehand): each word's model count cached;
                 cold = its cache emptied before each run, warm = the cache kept from the run before
  N processes    the same in N worker processes (opt-in; start-up and tokenizer loading included)
Wall and CPU time (this process's threads; not the workers') are both shown: on a loaded machine the CPU
figures are the steadier measure of the work done. Every row must give exactly the reference's chunks
(checked). Also reported: reading (parse) time and the builder's per-chunk lexical analysis (analyze
passage + sentences), for scale. The machine is shared: figures are noisy; the ratios from one run are
the meaningful part.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
DATA = ROOT.parent / "shared" / "data"

import reference_chunker  # noqa: E402

from semsearch.analysis import analyze  # noqa: E402
from semsearch.chunking import ChunkParams, chunk_many, sentences_of  # noqa: E402
from semsearch.embedding import Embedder  # noqa: E402
from semsearch.embedding.models import resolve_model  # noqa: E402
from semsearch.embedding.tokenizer import TokenizerCounter  # noqa: E402
from semsearch.reading.articles import parse_article, read_corpus  # noqa: E402


def norec(n: int) -> list:
    """The first n NoReC reviews as articles: title line, then text."""
    with gzip.open(DATA / "norec" / "norec-nb.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in itertools.islice(f, n)]
    return [parse_article(str(r["id"]), f"{r['title']}\n{r['text']}") for r in rows]


def key(chunk) -> tuple:
    return (chunk.id, chunk.doc_id, chunk.position, chunk.start, chunk.end, chunk.text, chunk.heading, chunk.title, chunk.tokens)


def best_of(runs: int, fn) -> tuple[float, float, list]:
    """Best wall time and best CPU time (this process, all its threads) of `runs` calls of fn, and its result."""
    wall, cpu, result = float("inf"), float("inf"), None
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    return wall, cpu, result


def bench(name: str, articles: list, embedder: Embedder, runs: int, processes: int) -> None:
    params, prompt = ChunkParams(), embedder.prompts.get("passage", "")
    counter = TokenizerCounter(embedder.spec.path / "tokenizer.json")
    rows = {
        "reference": lambda: [reference_chunker.chunk_article(a, embedder.count_tokens, params, prompt) for a in articles],
        "batched": lambda: list(chunk_many(articles, embedder.count_tokens, params, prompt)),
        "word-cached (cold cache)": lambda: counter.forget() or list(chunk_many(articles, counter, params, prompt)),
        "word-cached (warm cache)": lambda: list(chunk_many(articles, counter, params, prompt)),
        f"word-cached, {processes} processes": lambda: list(chunk_many(articles, counter, params, prompt, processes=processes)),
    }
    timings, expected = {}, None
    for label, fn in rows.items():
        wall, cpu, result = best_of(runs, fn)
        got = [[key(c) for c in cs] for cs in result]
        expected = expected or got
        if got != expected:
            raise SystemExit(f"{name}: '{label}' gives different chunks from the reference")
        timings[label] = (wall, cpu if "processes" not in label else None)
    n = sum(map(len, expected))
    chunks = [c for cs in rows["batched"]() for c in cs]

    def lexical_analysis():
        return [(analyze(c.passage(True)), [analyze(s) for s in sentences_of(c.text)]) for c in chunks]

    lexical, lexical_cpu, _ = best_of(runs, lexical_analysis)
    print(f"\n{name}: {len(articles)} articles, {n} chunks (identical in every row)")
    ref_wall, ref_cpu = timings["reference"]
    print(f"  {'':32} {'wall s':>7} {'chunks/s':>9} {'ratio':>6}   {'CPU s':>6} {'chunks/CPU-s':>12} {'ratio':>6}")
    for label, (wall, cpu) in timings.items():
        line = f"  {label:32} {wall:7.2f} {n / wall:9.0f} {ref_wall / wall:5.1f}x"
        print(line + (f"   {cpu:6.2f} {n / cpu:12.0f} {ref_cpu / cpu:5.1f}x" if cpu else "   (CPU in workers)"))
    label = "(builder lexical analysis)"
    print(f"  {label:32} {lexical:7.2f} {n / lexical:9.0f}         {lexical_cpu:6.2f} {n / lexical_cpu:12.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--norec", type=int, default=2000, help="NoReC reviews to chunk (0 to skip)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--processes", type=int, default=2)
    args = ap.parse_args()
    embedder = Embedder(resolve_model(None))
    if not (embedder.spec.path / "tokenizer.json").is_file():
        raise SystemExit(f"{embedder.spec.path} has no tokenizer.json: run `semsearch model install`")
    embedder.count_tokens(["warm-up"])
    print(f"tokenizer: {embedder.spec.path / 'tokenizer.json'}; timings are best of {args.runs}, on a shared machine: noisy")
    docs = DATA / "norquad-news" / "docs"
    if docs.is_dir():
        t0 = time.perf_counter()
        articles = list(read_corpus(docs))
        print(f"NorQuAD read+parse: {time.perf_counter() - t0:.2f} s")
        bench("NorQuAD", articles, embedder, args.runs, args.processes)
    else:
        print(f"skipping NorQuAD: {docs} is absent")
    if args.norec and (DATA / "norec" / "norec-nb.jsonl.gz").is_file():
        bench(f"NoReC, first {args.norec} reviews", norec(args.norec), embedder, args.runs, args.processes)
    elif args.norec:
        print("skipping NoReC: ../shared/data/norec/norec-nb.jsonl.gz is absent")


if __name__ == "__main__":
    main()
