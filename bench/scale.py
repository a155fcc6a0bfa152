"""Archive scale (issue 8): what builds, updates and queries cost as the archive grows, side by side.

    .venv/bin/python bench/scale.py [--sizes 1k,5k] [--work /tmp/semsearch-scale] [--report]

Sizes: 1k, 5k, 20k, all (NoReC reviews, 42,361) and 1m (a synthetic 1M-chunk archive made of
re-chunked NoReC reviews under new ids with tiny-model vectors plus noise; see scale_million.py; it
needs a real index from this work folder for its model, settings and vector centres).

The model is bench/tiny_e5.py: e5's real tokenizer and 512-token limit (real-sized chunks), 384-dim
vectors, 2 random layers (cheap, meaningless embeddings): the figures are the system's own costs.
Per size: full build (wall, peak RSS, the builder's own read+chunk / embed / write split); updates
through the builder (unchanged, change 1 file, and change 1 file named with --changed: median of 5 runs; add 10,
delete 1) with wall time, the builder's time
without embedding, and the bytes of new files under the index folder; warm query p50/p99 per mode in
one thread, the same hybrid p50 while two busy loops hold both cores, cold CLI queries (median of 5,
OS file cache warm), ANN recall@10 against exact where a segment has an approximate index, and the
segments before and after `semsearch compact`. Results are merged into <work>/results.json by size, so
runs of different sizes (e.g. one in the background) end in one table; `--report` only prints it.
Timings are noisy: the machine has 2 cores shared with other work.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale_data import NOREC, count_reviews, questions, review_text, write_corpus  # noqa: E402
from scale_measure import ONE_THREAD, BusyLoops, cold_queries, folder_bytes, snapshot, worker, written_bytes  # noqa: E402
from scale_report import print_report  # noqa: E402

SIZES = {"1k": 1000, "5k": 5000, "20k": 20000, "all": None}
MODES = ["dense", "lexical", "hybrid"]


def log(msg: str) -> None:
    """Progress on stderr, with the time."""
    print(f"[scale {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def save(results_path: Path, label: str, row: dict) -> None:
    """Merge one size's figures into the results file (written atomically)."""
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    results[label] = row
    tmp = results_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    tmp.replace(results_path)


def timed_update(index: Path, command: str, args: dict) -> dict:
    """One update in a fresh process: wall, peak RSS, the worker's own figures and the bytes it wrote."""
    before = snapshot(index)
    child = worker(command, args)
    wrote = written_bytes(before, snapshot(index))
    return {"wall_s": child.seconds, "peak_rss_mb": child.peak_rss_mb, "bytes": wrote, **child.result}


REPEATS = 5  # unchanged and change-1 runs per size: the row is the median by own time (one run varies +-30%)


def _own(row: dict) -> float:
    """The builder's own time of an update: its seconds less embedding."""
    return row.get("seconds", 0.0) - row.get("timings", {}).get("embed", 0.0)


def _median_run(runs: list[dict]) -> dict:
    """The run with the median own time, with every run's own time beside it."""
    ranked = sorted(runs, key=_own)
    return {**ranked[len(ranked) // 2], "system_runs": [round(_own(r), 3) for r in runs]}


def builder_updates(corpus: Path, index: Path, model: Path, extra: list[dict]) -> dict:
    """Unchanged re-index and change 1 file (each `REPEATS` times, a different file each time), add 10,
    delete 1, each through the builder in a fresh process."""
    args = {"corpus": str(corpus), "index": str(index), "model": str(model)}
    files = sorted(corpus.glob("*.txt"))
    out = {"unchanged": _median_run([timed_update(index, "build", args) for _ in range(REPEATS)])}
    changes = []
    for i in range(REPEATS):
        with open(files[(len(files) // 2 + 7 * i) % len(files)], "a", encoding="utf-8") as fh:
            fh.write("\n\nOppdatert: anmeldelsen er endret etter publisering.\n")
        changes.append(timed_update(index, "build", args))
    out["change1"] = _median_run(changes)
    named = []  # the same, the build told which file changed (`--changed`): no walk of the folder
    for i in range(REPEATS):
        path = files[(len(files) // 3 + 11 * i) % len(files)]
        with open(path, "a", encoding="utf-8") as fh:
            fh.write("\n\nOppdatert: anmeldelsen er endret etter publisering.\n")
        named.append(timed_update(index, "build", {**args, "changed": [str(path)]}))
    out["change1_named"] = _median_run(named)
    for review in extra:
        (corpus / f"{review['id']}.txt").write_text(review_text(review), encoding="utf-8")
    out["add10"] = timed_update(index, "build", args)
    files[len(files) // 3].unlink()
    out["delete1"] = timed_update(index, "build", args)
    for row in out.values():
        row["system_s"] = _own(row)
    return out


def query_figures(index: Path, qs: list[str], profile: str = "") -> dict:
    """Warm p50/p99 per mode (one thread), busy hybrid, cold CLI per mode, ANN recall."""
    out = {
        "warm": worker("queries", {"index": str(index), "questions": qs, "modes": MODES, "profile": profile}, ONE_THREAD).result
    }
    log(f"warm: {json.dumps({m: round(out['warm'][m]['p50_ms'], 1) for m in MODES})} ms p50")
    with BusyLoops(2, limit=900):
        busy = worker("queries", {"index": str(index), "questions": qs, "modes": ["hybrid"]}, ONE_THREAD).result
    out["busy_hybrid"] = busy["hybrid"]
    out["cold"] = {m: cold_queries(index, qs[-5:], m) for m in MODES}
    out["ann"] = worker("ann", {"index": str(index), "questions": qs}, ONE_THREAD).result
    return out


def size_docs(label: str) -> int:
    """Reviews in a size: 1k, 5k, 20k, all, or any number (e.g. 200 for a smoke run)."""
    if label == "all":
        return count_reviews() - 10
    return SIZES.get(label) or int(label)


def run_size(
    label: str, work: Path, model: Path, qs: list[str], reuse: bool, profile: bool, keep, sentences: bool = True
) -> dict:
    """Every figure for one NoReC subset; `keep(row)` saves what is measured so far after each phase.
    `sentences`: whether the full build embeds sentence vectors (updates keep the index's choice)."""
    docs = size_docs(label)
    corpus, index = work / f"corpus-{label}", work / f"index-{label}"
    row: dict = {"docs": docs}
    extra = write_corpus(corpus, docs)
    build_args = {"corpus": str(corpus), "index": str(index), "model": str(model), "sentence_vectors": sentences}
    if reuse and index.is_dir():  # undo the previous run's updates, unmeasured
        worker("build", build_args)
    else:
        shutil.rmtree(index, ignore_errors=True)
        log(f"{label}: full build of {docs} reviews")
        child = worker("build", build_args)
        row["build"] = {"wall_s": child.seconds, "peak_rss_mb": child.peak_rss_mb, **child.result}
        log(f"{label}: built {child.result['chunks']} chunks in {child.seconds:.0f} s, {child.peak_rss_mb:.0f} MB")
    row["index_bytes"] = folder_bytes(index)
    keep(row)
    row["updates"] = builder_updates(corpus, index, model, extra)
    log(f"{label}: updates {json.dumps({k: round(v['wall_s'], 2) for k, v in row['updates'].items()})} s")
    row["chunks"] = row["updates"]["delete1"]["chunks"]
    keep(row)
    row["queries"] = query_figures(index, qs, str(work / f"profile-{label}.txt") if profile else "")
    keep(row)
    row["compact"] = worker("compact", {"index": str(index)}).result
    return row


def run_million(work: Path, qs: list[str], args, keep) -> dict:
    """The synthetic 1M-chunk archive: written, merged, updated at the store level, queried, compacted."""
    sources = [args.source_index] if args.source_index else []
    sources = sources or sorted((p for p in work.glob("index-*") if p.name != "index-1m"), key=lambda p: p.stat().st_mtime)
    if not sources:
        raise SystemExit(f"the 1m size needs a built NoReC index in {work}: run --sizes 1k first")
    index = work / "index-1m"
    results = work / "results.json"
    previous = json.loads(results.read_text()).get("1m") if results.is_file() else None
    if args.reuse and index.is_dir() and previous and "build" in previous:  # measure again on the written archive
        row = {k: previous[k] for k in ("build", "docs", "chunks", "index_bytes")}
        log("1m: reusing the written archive and its build figures")
    else:
        shutil.rmtree(index, ignore_errors=True)
        log(f"1m: writing from {args.million_base_docs} reviews, vector centres from {sources[-1].name}")
        million = {"index": str(index), "source_index": str(sources[-1]), "base_docs": args.million_base_docs}
        child = worker("million", {**million, "rows": args.million_rows})
        row = {"build": {"wall_s": child.seconds, "peak_rss_mb": child.peak_rss_mb, **child.result}}
        row["docs"], row["chunks"] = child.result["documents"], child.result["rows"]
        row["index_bytes"] = folder_bytes(index)
        log(f"1m: written in {child.seconds:.0f} s, {child.peak_rss_mb:.0f} MB; {row['index_bytes'] / 1e9:.2f} GB")
    keep(row)
    seed = int(time.time()) % 100_000  # a rerun on a reused archive adds documents under new ids
    row["updates"] = {k: timed_update(index, "store-update", {"index": str(index), "kind": k, "seed": seed})
                      for k in ("unchanged", "change1", "add10", "delete1")}  # fmt: skip
    for u in row["updates"].values():
        u["system_s"] = u["seconds"]
    log(f"1m: updates {json.dumps({k: round(v['seconds'], 2) for k, v in row['updates'].items()})} s")
    keep(row)
    row["queries"] = query_figures(index, qs, str(work / "profile-1m.txt"))
    keep(row)
    if args.million_compact:
        row["compact"] = worker("compact", {"index": str(index)}).result
    return row


def main() -> None:
    """Run the chosen sizes, then print the table of everything in the results file."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1k,5k", help="comma-separated: 1k,5k,20k,all,1m (default 1k,5k: ~20 minutes)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/semsearch-scale"), help="corpora, indexes, model, results")
    ap.add_argument("--questions", type=int, default=100)
    ap.add_argument("--reuse", action="store_true", help="keep an existing index of a size (skip its full build or write)")
    ap.add_argument("--profile", action="store_true", help="cProfile the hybrid query at every size (1m always)")
    ap.add_argument("--million-base-docs", type=int, default=20000, help="reviews chunked for the 1m archive")
    ap.add_argument("--million-rows", type=int, default=1_000_000, help="chunks of the 1m archive (smaller for a smoke run)")
    ap.add_argument("--source-index", type=Path, help="real index giving the 1m archive its model and vector centres")
    ap.add_argument("--no-million-compact", dest="million_compact", action="store_false")
    ap.add_argument("--report", action="store_true", help="only print the table of <work>/results.json")
    ap.add_argument("--no-sentence-vectors", dest="sentences", action="store_false", help="full builds without sentence vectors")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results_path = args.work / "results.json"
    if not args.report:
        if not NOREC.is_file():
            print(f"skipping: NoReC data not found at {NOREC}")
            return
        from tiny_e5 import build_tiny_e5

        model = build_tiny_e5(args.work / "tiny-e5")
        worker("prepare", {"model": str(model)})  # the query encoder's one-time export: no build pays for it
        qs = questions(args.questions)
        for label in args.sizes.split(","):
            if label not in SIZES and label != "1m" and not label.isdigit():
                raise SystemExit(f"unknown size '{label}': use 1k, 5k, 20k, all or 1m")
            t = time.perf_counter()
            keep = functools.partial(save, results_path, label)
            if label == "1m":
                row = run_million(args.work, qs, args, keep)
            else:
                row = run_size(label, args.work, model, qs, args.reuse, args.profile, keep, args.sentences)
            row["bench_s"] = time.perf_counter() - t
            save(results_path, label, row)
            log(f"{label}: done in {row['bench_s']:.0f} s; results in {results_path}")
    print_report(json.loads(results_path.read_text()) if results_path.is_file() else {})


if __name__ == "__main__":
    main()
