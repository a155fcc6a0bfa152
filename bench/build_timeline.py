"""When each part of one build starts and ends, in a fresh process: where a build's time goes besides encoding.

    .venv/bin/python bench/build_timeline.py CORPUS [--backend auto|onnx|torch]

Builds CORPUS into a temporary index and prints, in seconds from the start of this process (before
`import semsearch`), each thread's entries into and exits from the steps that start a build up (the
tokenizer's parse, the bulk encoder's load and graph compilation) and end it (the last batch's write and
commit, merges, clean-up), then when the first part of the passages started embedding and the last ended,
and the builder's own timings. For the fixed costs of issue 9's end-to-end figure (`bench/speed.py` section 5).
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

EVENTS: list[tuple[float, str, str]] = []


def event(what: str) -> None:
    """Record `what` with the time and the thread it happened in."""
    EVENTS.append((time.perf_counter() - T0, threading.current_thread().name, what))


def traced(owner, name: str, label: str | None = None) -> None:
    """Replace `owner.name` by a wrapper that records its entry and exit."""
    real = getattr(owner, name)

    def wrapper(*args, **kwargs):
        event(f"> {label or name}")
        try:
            return real(*args, **kwargs)
        finally:
            event(f"< {label or name}")

    setattr(owner, name, wrapper)


def main() -> None:
    """Trace one build of the corpus given and print its timeline."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--backend", default="auto", choices=["auto", "onnx", "torch"])
    args = ap.parse_args()
    import semsearch

    event("import semsearch")
    from semsearch.embedding import embedder, onnx_encoder, openvino_encoder
    from semsearch.ingest import builder, pipeline, plan

    traced(embedder.Embedder, "bulk_vocabulary", "bulk tokenizer vocabulary (or wait for it)")
    traced(embedder.Embedder, "load_bulk", "bulk encoder load")
    traced(onnx_encoder.OnnxEncoder, "_open", "ONNX Runtime session")
    traced(openvino_encoder.OpenVinoEncoder, "_open", "OpenVINO import and compile")
    traced(plan, "list_sources")
    traced(builder, "open_target")
    traced(builder, "read_folder")
    for name in ("flush", "finish", "_embed"):
        traced(pipeline.Pipeline, name)
    traced(pipeline, "maybe_merge")
    with tempfile.TemporaryDirectory() as tmp:
        stats = semsearch.build_index(args.corpus, Path(tmp) / "index", backend=args.backend, log=lambda _line: None)
        event("build_index returned")
    parts = [(t, what) for t, _, what in EVENTS if what in ("> _embed", "< _embed")]
    for t, thread, what in EVENTS:
        if what not in ("> _embed", "< _embed"):
            print(f"{t:8.3f}  {thread[:22]:22s}  {what}")
    starts, ends = [t for t, w in parts if w[0] == ">"], [t for t, w in parts if w[0] == "<"]
    if starts:
        print(f"embedding: {len(starts)} parts, the first started at {starts[0]:.3f} s, the last ended at {ends[-1]:.3f} s")
    timings = ", ".join(f"{k} {v:.2f} s" for k, v in stats.timings.items())
    print(f"{stats.chunks} chunks; builder: {timings}; build_index returned at {EVENTS[-1][0]:.3f} s")


if __name__ == "__main__":
    main()
