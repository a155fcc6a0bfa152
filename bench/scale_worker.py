"""The in-process steps of bench/scale.py, each run in a fresh process so its time and memory are its own.

    python bench/scale_worker.py COMMAND 'JSON ARGS'

Commands: prepare, build, queries, ann, compact, store-update, million. Each prints one JSON line last.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def build(corpus: str, index: str, model: str, changed: list[str] | None = None, sentence_vectors: bool | None = None) -> dict:
    """`semsearch index` in process (`changed`: its --changed paths; `sentence_vectors`: its
    --[no-]sentence-vectors, None for the index's own choice): its own timings (read+chunk, embed, write)
    besides the wall time."""
    from semsearch.api import build_index
    from semsearch.chunking import ChunkParams

    params = None if sentence_vectors is None else ChunkParams(sentence_vectors=sentence_vectors)
    stats = build_index(corpus, index, model, changed=changed, params=params)
    return {
        "seconds": stats.seconds, "timings": stats.timings, "documents": stats.documents, "chunks": stats.chunks,
        "segments": stats.segments, "merged": stats.merged, "embedded": stats.embedded_chunks,
        "added": len(stats.added), "changed": len(stats.changed), "removed": len(stats.removed),
    }  # fmt: skip


def queries(index: str, questions: list[str], modes: list[str], k: int = 10, warmup: int = 5, profile: str = "") -> dict:
    """Warm latency of `semsearch.api.query` per mode over the questions (p50, p99, mean in ms)."""
    import numpy as np

    from semsearch import api

    for q in questions[:warmup]:
        for mode in modes:
            api.query(q, k=k, index=index, mode=mode)
    out = {}
    for mode in modes:
        times = []
        for q in questions:
            t = time.perf_counter()
            api.query(q, k=k, index=index, mode=mode)
            times.append((time.perf_counter() - t) * 1000)
        out[mode] = {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99)),
                     "mean_ms": float(np.mean(times)), "n": len(times)}  # fmt: skip
    if profile:
        out["profile"] = _profile(index, questions, k, profile)
    return out


def _profile(index: str, questions: list[str], k: int, path: str) -> str:
    """cProfile of the hybrid query over the questions; the report goes to `path`."""
    import cProfile
    import io
    import pstats

    from semsearch import api

    prof = cProfile.Profile()
    prof.enable()
    for q in questions:
        api.query(q, k=k, index=index, mode="hybrid")
    prof.disable()
    text = io.StringIO()
    stats = pstats.Stats(prof, stream=text).strip_dirs()
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)
    Path(path).write_text(text.getvalue())
    return path


def ann(index: str, questions: list[str], k: int = 10) -> dict:
    """Recall@k of the dense search that uses segments' approximate indexes, against exact search."""
    import numpy as np

    from semsearch import api
    from semsearch.search.dense import dense_top

    searcher = api.searcher(index)
    gen = searcher.generation
    with_ann = [i for i in range(len(gen.segments)) if gen.ann(i) is not None]
    if not with_ann:
        return {"segments_with_ann": 0, "recall": None}
    recalls = []
    for q in questions:
        vec = searcher.query_vector(q)
        approx, _ = dense_top(gen, vec, k, gen.alive)
        saved, gen._ann = gen._ann, [None] * len(gen.segments)  # the same search, every segment exact
        try:
            exact, _ = dense_top(gen, vec, k, gen.alive)
        finally:
            gen._ann = saved
        recalls.append(len(set(approx.tolist()) & set(exact.tolist())) / max(len(exact), 1))
    infos = [gen.commit.segments[i].ann for i in with_ann]
    return {"segments_with_ann": len(with_ann), "recall": float(np.mean(recalls)), "min_recall": float(min(recalls)),
            "recorded": infos}  # fmt: skip


def compact(index: str) -> dict:
    """`semsearch.api.compact`: segments before and after, and its time."""
    from semsearch import api
    from semsearch.index import store

    before = len(store.open_generation(Path(index)).commit.segments)
    t = time.perf_counter()
    merges = api.compact(index)
    seconds = time.perf_counter() - t
    after = len(store.open_generation(Path(index)).commit.segments)
    return {"before": before, "after": after, "merges": merges, "seconds": seconds}


def prepare(model: str) -> dict:
    """Export the model's torch-free query encoder (once per model fingerprint)."""
    from semsearch.embedding import Embedder
    from semsearch.embedding.models import resolve_model

    return {"query_encoder": Embedder(resolve_model(model)).prepare_query_encoder()}


def main() -> None:
    """Dispatch one command."""
    command, args = sys.argv[1], json.loads(sys.argv[2])
    if command == "store-update":
        from scale_million import store_update as fn
    elif command == "million":
        from scale_million import build_million as fn
    else:
        fn = {"build": build, "queries": queries, "ann": ann, "compact": compact, "prepare": prepare}[command]
    print(json.dumps(fn(**args), ensure_ascii=False))


if __name__ == "__main__":
    main()
