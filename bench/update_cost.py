"""The store's side of a one-document update on a big index, embedding excluded, step by step.

    .venv/bin/python bench/update_cost.py --index INDEX --tokenizer MODEL/tokenizer.json --doc DOC_ID

Replaces document DOC_ID (which must exist) with a new short text and a random vector, as the builder
would: read the catalog, chunk with the word-cached token counter, write a one-document segment, mark
the old rows deleted, commit. No merge runs. Prints the time of each step and the bytes written against
the index's size. Meant for the synthetic 1M-chunk index of bench/filters_million.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

t_start = time.perf_counter()
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from semsearch.chunking import ChunkParams  # noqa: E402
from semsearch.embedding.tokenizer import TokenizerCounter  # noqa: E402
from semsearch.index import store  # noqa: E402
from semsearch.index.commit import meta_path  # noqa: E402
from semsearch.index.records import DocEntry  # noqa: E402
from semsearch.index.segment import SegmentWriter  # noqa: E402
from semsearch.ingest.chunk_terms import chunk_entries  # noqa: E402
from semsearch.reading import ReadOptions, record_document  # noqa: E402

TEXT = "Ny anmeldelse\nFilmen er en varm og morsom komedie om en familie i Bergen. Skuespillerne gjør en god jobb."


def update(root: Path, tokenizer: Path, doc_id: str) -> None:
    """Run and time one update."""
    imports = time.perf_counter() - t_start
    before = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    t = time.perf_counter()
    with store.lock(root):
        writer = store.Writer(root, store.open_generation(root).commit)
        known = {d.doc_id: d for d in writer.generation.catalog()}
        catalog = time.perf_counter() - t
        t = time.perf_counter()
        doc = record_document({"id": doc_id, "text": TEXT}, ReadOptions(), "update")
        entries, _ = chunk_entries(doc, TokenizerCounter(tokenizer), ChunkParams(), "passage: ")
        chunking = time.perf_counter() - t
        t = time.perf_counter()
        dim = writer.generation.dim
        vectors = np.random.default_rng(0).standard_normal((len(entries), dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        segment = SegmentWriter(root, dim, len(entries))
        segment.add(DocEntry(doc.doc_id, "update", 0, 0, doc.fingerprint, doc.text, doc.title), entries, vectors)
        name, files = segment.finish()
        writer.delete_doc(known[doc_id])
        writer.add_segment(name, segment.rows, segment.docs, files, segment.ann_info)
        writer.commit(model=writer.base.model)
        write = time.perf_counter() - t
    written = sum(f.stat().st_size for f in (root / "segments" / name).iterdir())
    written += sum(f.stat().st_size for f in (root / "deletes").glob(f"*.{writer.base.generation}.npy"))
    written += meta_path(root, writer.base.generation).stat().st_size
    print(f"{writer.base.chunks} chunks, {len(known)} documents, {len(writer.base.segments)} segments")
    print(f"imports {imports:.2f} s, catalog {catalog:.2f} s, tokenizer + chunk {chunking:.2f} s, "
          f"segment + delete marks + commit {write:.2f} s; total {time.perf_counter() - t_start:.2f} s")  # fmt: skip
    print(f"bytes written {written:,} of {before:,} ({written / before:.4%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--tokenizer", type=Path, required=True)
    parser.add_argument("--doc", required=True)
    args = parser.parse_args()
    update(args.index, args.tokenizer, args.doc)


if __name__ == "__main__":
    main()
