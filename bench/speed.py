"""Speed, side by side from one run, as ratios against a baseline (the first row of each section).

    .venv/bin/python bench/speed.py [--docs 100] [--rounds 3] [--runs 5]
        [--skip cold warm backends sweep indexing quality resume ray]

1. Cold CLI query (new process, index of corpus/ already built) and `semsearch --help`.
2. Warm `semsearch.query()` p50/p99 over NorQuAD validation questions, against encoding the question alone.
3. Raw chunks/s of each embedding backend (torch fp32, ONNX fp32, ONNX bf16 on OpenVINO where the CPU has
   native bf16, ONNX int8), rounds interleaved on the same NorQuAD chunk texts, as ratios to torch; cosine of
   each to torch.
4. ONNX int8: batch size x threads, the measurement behind `embedder.BATCH_SIZE` and `BULK_THREADS`.
5. End-to-end `semsearch index` (fresh process, imports and model load included) against the raw speed of
   the same backend, each build run right after that backend's raw run in every round of section 3 (medians),
   with peak RSS, for the default (`--backend auto`: ONNX bf16 or fp32), ONNX int8 and torch.
6. NorQuAD validation quality of each backend (`semsearch eval`, every mode), in points against torch.
7. A build killed at ~50% and run again: its time against an uninterrupted build, and the chunks it embedded
   again (target: at most one batch). `bench/speed_builds.py`.
8. A build embedded on a local Ray cluster (`--ray`) against the same build embedded locally.
Skips the NorQuAD parts with a message when ../shared/data is absent. The machine is shared: figures are noisy.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))
import speed_builds  # noqa: E402

BIN = Path(sys.executable).parent
NORQUAD = ROOT.parent / "shared" / "data" / "norquad-news"
QUESTION = "Hva sa Lavrov om angrepet i Syria?"


def _auto_label() -> str:
    """What `--backend auto` embeds with on this machine."""
    from semsearch.embedding.embedder import _bf16_runs

    return "onnx bf16" if _bf16_runs() else "onnx fp32"


AUTO = _auto_label()
BACKENDS = {"torch fp32": "torch", "onnx fp32": {"backend": "onnx", "quantisation": "fp32"}}
if AUTO == "onnx bf16":
    BACKENDS["onnx bf16"] = {"backend": "onnx", "quantisation": "bf16"}
BACKENDS["onnx int8"] = "onnx-int8"


def row(label: str, value: float, unit: str, baseline: float | None = None, note: str = "") -> None:
    """One figure, with its ratio to the baseline when there is one."""
    ratio = f"{value / baseline:6.3f}x" if baseline else " " * 7
    print(f"  {label:<46} {value:10.4f} {unit:<8} {ratio}  {note}", flush=True)


def timed_runs(cmd: list[str], runs: int) -> list[float]:
    """Wall-clock seconds of `runs` fresh processes of `cmd` (each must exit 0)."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return times


def cold_query(index: Path, runs: int) -> None:
    print("\n## 1. Cold CLI (new process each run, median)")
    from semsearch.api import build_index

    build_index(ROOT / "corpus", index)
    query = [str(BIN / "semsearch"), "query", QUESTION, "--index", str(index)]
    subprocess.run(query, check=True, capture_output=True)
    ours = timed_runs(query, runs)
    base = statistics.median(ours)
    row("semsearch query (hybrid)", base, "s", base, f"min {min(ours):.3f} max {max(ours):.3f}; budget 1.0 s")
    row("semsearch query --mode dense", statistics.median(timed_runs([*query, "--mode", "dense"], runs)), "s", base)
    row("semsearch --help", statistics.median(timed_runs([str(BIN / "semsearch"), "--help"], runs)), "s", base)


def warm_latency(index: Path) -> None:
    print("\n## 2. Warm semsearch.query() over NorQuAD validation questions (403 articles)")
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
    p50 = float(np.percentile(encode, 50)) * 1000
    info = s.generation.commit.model.get("backend_info", {})
    row(f"encode the question alone, p50 ({len(questions)} q)", p50, "ms", p50, f"{info}")
    row("encode the question alone, p99", float(np.percentile(encode, 99)) * 1000, "ms", p50)
    row(f"semsearch.query() hybrid p50 ({s.generation.rows} chunks)", float(np.percentile(total, 50)) * 1000, "ms", p50)
    row("semsearch.query() hybrid p99", float(np.percentile(total, 99)) * 1000, "ms", p50)


def chunk_texts(corpus: Path) -> list[str]:
    """The passages `semsearch index` embeds for these articles (prompts are added by the embedder)."""
    from semsearch.chunking import ChunkParams, chunk_article
    from semsearch.embedding import Embedder
    from semsearch.embedding.models import resolve_model
    from semsearch.reading.articles import read_corpus

    count = Embedder(resolve_model(None, download=False)).count_tokens
    return [c.passage(True) for a in read_corpus(corpus) for c in chunk_article(a, count, ChunkParams(), "passage: ")]


def backends(texts: list[str], rounds: int, builds: Path | None = None) -> tuple[dict[str, float], dict[str, list]]:
    """Raw chunks/s per backend, median over interleaved rounds; returns them by label, with the end-to-end
    builds of `builds` (a corpus folder) run right after each raw run of the same backend, so that the two
    are measured in the same moment of a noisy machine."""
    import numpy as np

    from semsearch.embedding import Embedder
    from semsearch.embedding.models import resolve_model

    spec = resolve_model(None, download=False)
    embedders = {label: Embedder(spec, backend=b) for label, b in BACKENDS.items()}
    for e in embedders.values():  # load models and sessions outside the timing
        e.embed_passages(texts[:4], progress=False)
    times: dict[str, list[float]] = {label: [] for label in embedders}
    built: dict[str, list] = {label: [] for label in BUILDS}
    vectors = {}
    for _ in range(rounds):
        for label, e in embedders.items():
            t0 = time.perf_counter()
            vectors[label] = e.embed_passages(texts, progress=False)
            times[label].append(time.perf_counter() - t0)
            if builds is not None and label in BUILDS:
                built[label].append((len(texts) / times[label][-1], build_once(builds, BUILDS[label])))
    tokens = np.mean(embedders["torch fp32"].count_tokens(["passage: " + t for t in texts]))
    print(f"\n## 3. Raw embedding, {len(texts)} NorQuAD chunks (mean {tokens:.0f} tokens), median of {rounds} interleaved rounds")
    rates = {label: len(texts) / statistics.median(t) for label, t in times.items()}
    base = rates["torch fp32"]
    for label, rate in rates.items():
        cos = np.sum(vectors[label] * vectors["torch fp32"], axis=1)
        runs = ", ".join(f"{len(texts) / t:.1f}" for t in times[label])
        info = embedders[label].backend_info
        note = f"cosine to torch mean {cos.mean():.4f} min {cos.min():.4f}; runs {runs}; {info['quantisation']} {info['isa']}"
        row(label, rate, "chunks/s", base, note)
    return rates, built


def sweep(texts: list[str]) -> None:
    print(f"\n## 4. ONNX int8 batch size x threads ({len(texts)} chunks)")
    from semsearch.embedding.embedder import Embedder
    from semsearch.embedding.encoders import Setup
    from semsearch.embedding.encoders.onnx import OnnxInt8Encoder
    from semsearch.embedding.models import resolve_model

    e = Embedder(resolve_model(None, download=False), backend="onnx-int8")
    folder, marker = e.export
    base = None
    for threads in (1, 2):
        enc = OnnxInt8Encoder(Setup(e.spec.path, folder, marker, threads=threads, vocabulary=e.bulk_vocabulary))
        prompted = e.with_prompt("passage", texts)
        enc.encode(prompted[:4])
        for batch in (8, 16, 32, 64):
            t0 = time.perf_counter()
            enc.encode(prompted, batch_size=batch)
            rate = len(texts) / (time.perf_counter() - t0)
            base = base or rate
            row(f"threads {threads}, batch {batch}", rate, "chunks/s", base)


BUILDS = {AUTO: "auto", "onnx int8": "onnx-int8", "torch fp32": "torch"}  # bench label -> `--backend`


def build_once(corpus: Path, backend: str) -> dict:
    """One `semsearch.build_index` of `corpus` into a fresh folder, in a fresh process: its JSON figures."""
    with tempfile.TemporaryDirectory() as tmp:
        return speed_builds.build(corpus, Path(tmp) / "index", backend=backend)


def indexing(docs: int, rates: dict[str, float], built: dict[str, list]) -> None:
    """End-to-end builds against the raw rate measured just before each of them; medians over rounds."""
    rounds = len(next(iter(built.values()), []))
    print(f"\n## 5. semsearch index of {docs} NorQuAD articles, end to end (fresh process, model load included),")
    print(f"##    each build right after a raw run of the same backend; median of {rounds} rounds")
    for label, backend in BUILDS.items():
        pairs = built.get(label) or []
        if not pairs:
            continue
        e2e = [out["chunks"] / out["build_s"] for _, out in pairs]
        ratios = ", ".join(f"{e / raw:.3f}" for e, (raw, _) in zip(e2e, pairs))
        out = pairs[-1][1]
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in out["timings"].items())
        last = f"{out['chunks']} chunks in {out['build_s']:.1f} s ({stages}); peak RSS {out['rss_mb']:.0f} MB"
        note = f"per round {ratios}; last: {last}"
        rate, raw = statistics.median(e2e), statistics.median(raw for raw, _ in pairs)
        row(f"semsearch index --backend {backend} vs raw {label}", rate, "chunks/s", raw, note)
        walls = [out["chunks"] / out["wall_s"] for _, out in pairs]
        per_round = ", ".join(f"{w / r:.3f}" for w, (r, _) in zip(walls, pairs))
        row("  the same, whole process (interpreter start and exit too)", statistics.median(walls), "chunks/s", raw,
            f"per round {per_round}")  # fmt: skip
        if rates.get("torch fp32") and backend != "torch":
            row(f"  --backend {backend} end to end vs raw torch", rate, "chunks/s", rates["torch fp32"], "target >= 2.5x")


def quality() -> None:
    print("\n## 6. NorQuAD validation quality per backend (semsearch eval, 403 articles), points vs torch")
    reports = {}
    for label, backend in (("torch fp32", "torch"), (AUTO, "auto"), ("onnx int8", "onnx-int8")):
        cmd = [str(BIN / "semsearch"), "eval", str(NORQUAD / "queries-dev.jsonl"), "--corpus", str(NORQUAD / "docs")]
        index = ROOT / "index" / f"eval-norquad-{label.replace(' ', '-')}"  # kept between runs: a second run only evaluates
        cmd += ["--split", "validation", "--backend", backend, "--index", str(index), "--json"]
        proc = subprocess.run(cmd, check=True, capture_output=True, text=True)
        reports[label] = {r["mode"]: r["chunk"] for r in json.loads(proc.stdout)}
    print(f"  {'backend':<12} {'mode':<8} {'hit@1':>7} {'hit@10':>7} {'mrr@10':>7}   points vs torch (hit@1 / hit@10 / mrr@10)")
    for label, modes in reports.items():
        for mode, m in modes.items():
            t = reports["torch fp32"][mode]
            delta = " / ".join(f"{100 * (m[k] - t[k]):+.1f}" for k in ("hit@1", "hit@10", "mrr@10"))
            print(f"  {label:<12} {mode:<8} {m['hit@1']:7.3f} {m['hit@10']:7.3f} {m['mrr@10']:7.3f}   {delta}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=100, help="articles for sections 3-5")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument(
        "--skip", nargs="*", default=[], choices=["cold", "warm", "backends", "sweep", "indexing", "quality", "resume", "ray"]
    )
    args = ap.parse_args()
    print(f"# semsearch speed ({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start: a shared machine)")
    if "cold" not in args.skip:
        cold_query(ROOT / "index" / "bench-speed-corpus", args.runs)
    if not (NORQUAD / "docs").is_dir():
        print(f"\n(sections 2-6 skipped: {NORQUAD} is absent)")
        return
    if "warm" not in args.skip:
        warm_latency(ROOT / "index" / "bench-speed-norquad")
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp)
        for f in sorted((NORQUAD / "docs").glob("*.txt"))[: args.docs]:
            shutil.copy(f, corpus / f.name)
        texts = chunk_texts(corpus)
        builds = corpus if "indexing" not in args.skip else None
        rates, built = backends(texts, args.rounds, builds) if "backends" not in args.skip or builds else ({}, {})
        resumed = speed_builds.resume(corpus, len(texts)) if "resume" not in args.skip else None
        on_ray = speed_builds.ray_vs_local(corpus) if "ray" not in args.skip else "skipped"
    if "sweep" not in args.skip:
        sweep(texts[:128])
    if builds is not None:
        indexing(args.docs, rates, built)
    if "quality" not in args.skip:
        quality()
    if resumed is not None:
        speed_builds.print_resume(resumed, row)
    if on_ray != "skipped":
        speed_builds.print_ray(on_ray, row)
    print(
        f"\n(bench process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; load average now "
        f"{os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()
