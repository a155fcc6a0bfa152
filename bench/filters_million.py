"""A synthetic 1M-chunk index for bench/filters.py, written straight into segments (nothing embedded).

    .venv/bin/python bench/filters_million.py --model MODEL_DIR --out INDEX [--rows 1000000]

Chunks are short texts drawn from a Zipf-distributed vocabulary of real Norwegian words; vectors are a
Gaussian mixture in the model's dimension (not an isotropic cloud); every document has a `bucket`
metadata field 0..99, so `where={"bucket": 7}` matches 1% of the archive. Segments of 100k rows, each
with its approximate (PQ fast-scan) index, as merges would leave them. Then run:

    .venv/bin/python bench/filters.py --index INDEX --where bucket=7
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from semsearch.analysis import analyze  # noqa: E402
from semsearch.embedding import Embedder  # noqa: E402
from semsearch.embedding.models import resolve_model  # noqa: E402
from semsearch.index import store  # noqa: E402
from semsearch.index.commit import new_commit  # noqa: E402
from semsearch.index.records import ChunkEntry, DocEntry  # noqa: E402
from semsearch.index.segment import SegmentWriter  # noqa: E402

WORDS = (
    "film bok konsert album spill serie restaurant forestilling skuespiller regissør handling musikk lyd bilde"
    " historie karakter humor spenning drama komedie roman forfatter sanger band gitar scene publikum anmelder"
    " terning kvalitet pris meny kokk vin service stemning lokale utstilling kunstner maleri teater dans opera"
    " Oslo Bergen Trondheim Stavanger Norge sommer vinter høst vår kveld premiere sesong episode finale"
).split()


def write(out: Path, model: Path, rows: int, per_doc: int = 10, segment_rows: int = 100_000, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    embedder = Embedder(resolve_model(str(model)))
    dim = int(embedder.embed_queries(["x"]).shape[1])
    centres = rng.standard_normal((2000, dim)).astype(np.float32)
    p = 1 / np.arange(1, len(WORDS) + 1)
    p /= p.sum()
    settings = {"format_version": 4, "synthetic": True, "prompts": embedder.prompts}
    info = {"name": str(model), "variant": "local", "path": str(model), "fingerprint": embedder.fingerprint, "dim": dim,
            "backend": ["synthetic"], "backend_info": {"backend": "onnx", "quantisation": "fp32"}}  # fmt: skip
    doc = 0
    for start in range(0, rows, segment_rows):
        n = min(segment_rows, rows - start)
        t = time.perf_counter()
        vectors = centres[rng.integers(0, len(centres), n)] + 0.5 * rng.standard_normal((n, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        words = rng.choice(len(WORDS), size=(n, 12), p=p)
        writer = SegmentWriter(out, dim, n)
        for first in range(0, n, per_doc):
            doc_id = f"syn-{doc:07d}"
            texts = [" ".join(WORDS[w] for w in words[r]) + "." for r in range(first, min(first + per_doc, n))]
            text = "\n".join(texts)
            entry = DocEntry(doc_id, "synthetic", 0, 0, hashlib.sha256(text.encode()).hexdigest(), text,
                             metadata={"bucket": doc % 100})  # fmt: skip
            chunks, at = [], 0
            for pos, chunk in enumerate(texts):
                terms = tuple(analyze(chunk))
                chunks.append(ChunkEntry(doc * 64 + pos, doc_id, pos, at, at + len(chunk), chunk, None, len(terms) + 3,
                                         terms, (terms,), ((0, len(chunk)),)))  # fmt: skip
                at += len(chunk) + 1
            writer.add(entry, chunks, vectors[first : first + len(chunks)])
            doc += 1
        name, files = writer.finish()
        with store.lock(out):
            base, _ = store.latest_commit(out)
            w = store.Writer(out, base or new_commit(settings, info))
            w.add_segment(name, writer.rows, writer.docs, files, writer.ann_info)
            w.commit(model=info)
        took = time.perf_counter() - t
        print(f"segment {start // segment_rows + 1}: {n} rows in {took:.0f} s, ann {writer.ann_info}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    write(args.out, args.model, args.rows)


if __name__ == "__main__":
    main()
