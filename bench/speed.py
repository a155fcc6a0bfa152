"""Speed, side by side from one run, as ratios against the plain approach.

    .venv/bin/python bench/speed.py [--docs 150] [--runs 7]

1. Cold CLI query (new process, index of corpus/ already built) vs the plain script
   bench/plain_query.py (import sentence-transformers, load the model, encode, search the same FAISS file).
2. `semsearch --help`.
3. Warm `semsearch.query()` p50/p99 over NorQuAD validation questions on an index of the 403 articles,
   against encoding the question alone.
4. Indexing throughput (chunks/s) vs raw `model.encode` of the same texts, and peak memory.
5. Re-indexing: unchanged corpus, one changed file, one deleted file.
6. Threads for a single query: 1 vs 2 BLAS threads in the query encoder.
Skips the NorQuAD parts with a message when ../shared/data is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
NORQUAD = ROOT.parent / "shared" / "data" / "norquad-news"
QUESTION = "Hva sa Lavrov om angrepet i Syria?"


def timed_runs(cmd: list[str], runs: int, env: dict | None = None) -> list[float]:
    """Wall-clock seconds of `runs` fresh processes of `cmd` (each must exit 0)."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - t0)
    return times


def row(label: str, value: float, unit: str, baseline: float | None = None, note: str = "") -> None:
    """One figure, with its ratio to the baseline when there is one."""
    ratio = f"{value / baseline:6.3f}x" if baseline else " " * 7
    print(f"  {label:<46} {value:10.4f} {unit:<8} {ratio}  {note}")


def cold_query(index: Path, runs: int) -> None:
    print("\n## 1-2. Cold CLI (new process each run, median)")
    from semsearch.api import build_index

    build_index(ROOT / "corpus", index)
    subprocess.run([str(BIN / "semsearch"), "query", QUESTION, "--index", str(index)], check=True, capture_output=True)
    plain = timed_runs([sys.executable, str(ROOT / "bench" / "plain_query.py"), str(index), QUESTION], max(3, runs // 2))
    ours = timed_runs([str(BIN / "semsearch"), "query", QUESTION, "--index", str(index)], runs)
    dense = timed_runs([str(BIN / "semsearch"), "query", QUESTION, "--index", str(index), "--mode", "dense"], runs)
    helps = timed_runs([str(BIN / "semsearch"), "--help"], runs)
    base = statistics.median(plain)
    row("plain: sentence-transformers + FAISS script", base, "s", base)
    row("semsearch query (hybrid)", statistics.median(ours), "s", base, f"min {min(ours):.3f} max {max(ours):.3f}")
    row("semsearch query --mode dense", statistics.median(dense), "s", base)
    row("semsearch --help", statistics.median(helps), "s", base)
    out = subprocess.run(
        [str(BIN / "semsearch"), "query", QUESTION, "--index", str(index), "--json", "-k", "5"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    import semsearch

    cli_ids = [r["chunk_id"] for r in json.loads(out)]
    lib_ids = [r.chunk_id for r in semsearch.query(QUESTION, k=5, index=index)]
    print(f"  CLI results identical to semsearch.query(): {cli_ids == lib_ids}")


def warm_latency(index: Path) -> None:
    print("\n## 3. Warm semsearch.query() over NorQuAD validation questions (403 articles)")
    if not (NORQUAD / "docs").is_dir():
        print(f"  skipped: {NORQUAD} is absent")
        return
    import numpy as np

    import semsearch
    from semsearch.api import build_index, searcher
    from semsearch.evaluate import load_queries

    build_index(NORQUAD / "docs", index)
    questions = [q.query for q in load_queries(NORQUAD / "queries-dev.jsonl", "validation")]
    s = searcher(index)
    s.embedder.embed_queries(["oppvarming"])
    semsearch.query("oppvarming", index=index)
    encode, total = [], []
    for q in questions:
        t0 = time.perf_counter()
        s.embedder.embed_queries([q])
        encode.append(time.perf_counter() - t0)
    for q in questions:
        t0 = time.perf_counter()
        semsearch.query(q, index=index)
        total.append(time.perf_counter() - t0)
    chunks = s.snapshot.dense.ntotal
    p50e = float(np.percentile(encode, 50))
    row(f"encode the question alone, p50 ({len(questions)} q)", p50e * 1000, "ms", p50e * 1000)
    row("encode the question alone, p99", float(np.percentile(encode, 99)) * 1000, "ms", p50e * 1000)
    row(f"semsearch.query() hybrid p50 ({chunks} chunks)", float(np.percentile(total, 50)) * 1000, "ms", p50e * 1000)
    row("semsearch.query() hybrid p99", float(np.percentile(total, 99)) * 1000, "ms", p50e * 1000)


_BUILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
t0 = time.perf_counter()
import semsearch
stats = semsearch.build_index({corpus!r}, {index!r})
build = time.perf_counter() - t0
out = {{"build_s": build, "chunks": stats.chunks, "embedded": stats.embedded_chunks, "timings": stats.timings,
        "added": len(stats.added), "changed": stats.changed, "removed": stats.removed,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}
if {raw}:
    # Interleave: build, raw encode, build again (fresh folder), raw encode again, so that drift in
    # this noisy machine's speed hits both sides alike.
    from sentence_transformers import SentenceTransformer
    from semsearch.api import searcher
    from semsearch.chunking import Chunk
    s = searcher({index!r})
    params = s.snapshot.manifest["chunking"]
    texts = ["passage: " + Chunk(r.id, r.doc_id, r.position, r.start, r.end, r.text, r.heading, r.date, r.title)
             .passage(params["with_title"]) for r in s.snapshot.rows(s.snapshot.ids.tolist())]
    model = SentenceTransformer(str(s.embedder.spec.path), device="cpu")
    out["raw_s"], out["builds_less_load_s"] = [], [build - stats.timings.get("model_load", 0.0)]
    for again in (True, False):
        t0 = time.perf_counter()
        model.encode(texts, batch_size=32, normalize_embeddings=True)
        out["raw_s"].append(time.perf_counter() - t0)
        if again:
            t0 = time.perf_counter()
            second = semsearch.build_index({corpus!r}, {index!r} + "-2")
            out["builds_less_load_s"].append(time.perf_counter() - t0 - second.timings.get("model_load", 0.0))
print(json.dumps(out))
"""


def build_in_child(corpus: Path, index: Path, raw: bool = False) -> dict:
    code = _BUILD.format(root=str(ROOT), corpus=str(corpus), index=str(index), raw=raw)
    proc = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def indexing(docs: int) -> None:
    """Full build vs raw encode, then the three kinds of re-index, each in a fresh process."""
    print(f"\n## 4-5. Indexing {docs} NorQuAD articles (fresh process per build)")
    if not (NORQUAD / "docs").is_dir():
        print(f"  skipped: {NORQUAD} is absent")
        return
    with tempfile.TemporaryDirectory() as tmp:
        corpus, index = Path(tmp) / "corpus", Path(tmp) / "index"
        corpus.mkdir()
        for f in sorted((NORQUAD / "docs").glob("*.txt"))[:docs]:
            shutil.copy(f, corpus / f.name)
        full = build_in_child(corpus, index, raw=True)
        n = full["chunks"]
        raw_rate = n / statistics.mean(full["raw_s"])
        row(
            "raw model.encode (same chunk texts, batch 32)",
            raw_rate,
            "chunks/s",
            raw_rate,
            "runs: " + ", ".join(f"{n / t:.1f}" for t in full["raw_s"]),
        )
        row(
            "semsearch index, full build, end to end",
            n / full["build_s"],
            "chunks/s",
            raw_rate,
            f"{n} chunks in {full['build_s']:.1f} s incl. imports and model load; peak RSS {full['rss_mb']:.0f} MB",
        )
        row(
            "semsearch index, full build, less model load",
            n / statistics.mean(full["builds_less_load_s"]),
            "chunks/s",
            raw_rate,
            "builds: "
            + ", ".join(f"{n / t:.1f}" for t in full["builds_less_load_s"])
            + "; first build: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in full["timings"].items()),
        )
        again = build_in_child(corpus, index)
        row(
            "re-index unchanged corpus: seconds",
            again["build_s"],
            "s",
            full["build_s"],
            f"embedded {again['embedded']} chunks (ratio = share of full build time)",
        )
        victim = sorted(corpus.glob("*.txt"))[0]
        victim.write_text(victim.read_text(encoding="utf-8") + "\nEt nytt avsnitt.\n", encoding="utf-8")
        changed = build_in_child(corpus, index)
        from semsearch.index.store import open_snapshot

        snap = open_snapshot(index)
        expected = snap.manifest["documents"][victim.stem]["chunks"]
        row(
            "re-index after changing 1 file: seconds",
            changed["build_s"],
            "s",
            full["build_s"],
            f"embedded {changed['embedded']} chunks; that file has {expected}",
        )
        doomed = sorted(corpus.glob("*.txt"))[1]
        doomed.unlink()
        deleted = build_in_child(corpus, index)
        import semsearch

        title = snap.manifest["documents"][doomed.stem]["title"] or doomed.stem
        snap.close()
        found = {
            r.doc_id for mode in ("dense", "lexical", "hybrid") for r in semsearch.query(title, k=50, index=index, mode=mode)
        }
        row(
            "re-index after deleting 1 file: seconds",
            deleted["build_s"],
            "s",
            full["build_s"],
            f"embedded {deleted['embedded']}; deleted doc returned: {doomed.stem in found}",
        )


def threads() -> None:
    print("\n## 6. Threads for one query (query encoder, median of 50)")
    code = (
        f"import os, statistics, sys, time; sys.path.insert(0, {str(ROOT)!r});"
        "from semsearch.embedding import Embedder; from semsearch.embedding.models import resolve_model;"
        "e = Embedder(resolve_model(None, download=False)); e.embed_queries(['x']); t = [];"
        f"[(t.append(time.perf_counter()), e.embed_queries([{QUESTION!r}]), t.append(time.perf_counter())) for _ in range(50)];"
        "print(statistics.median(b - a for a, b in zip(t[::2], t[1::2])))"
    )
    results = {}
    for busy in (False, True):
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
        try:
            for n in ("1", "2"):
                env = {**os.environ, "OMP_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n, "MKL_NUM_THREADS": n}
                proc = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env)
                results[(busy, n)] = float(proc.stdout.strip().splitlines()[-1])
        finally:
            if spinner is not None:
                spinner.kill()
    for (busy, n), v in results.items():
        label = f"{n} BLAS thread(s), " + ("one core busy with another process" if busy else "idle machine")
        row(label, v * 1000, "ms", results[(busy, "1")] * 1000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=250)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--skip", nargs="*", default=[], choices=["cold", "warm", "indexing", "threads"])
    args = ap.parse_args()
    print(f"# semsearch speed ({os.cpu_count()} CPUs); ratios are against the first row of each section")
    if "cold" not in args.skip:
        cold_query(ROOT / "index" / "bench-speed-corpus", args.runs)
    if "warm" not in args.skip:
        warm_latency(ROOT / "index" / "bench-speed-norquad")
    if "threads" not in args.skip:
        threads()
    if "indexing" not in args.skip:
        indexing(args.docs)
    print(f"\n(bench process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
