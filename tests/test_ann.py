"""Large segments get an IVF index whose recall@10 against exact search is measured and recorded."""

from __future__ import annotations

import numpy as np

from semsearch.index import ann, store
from semsearch.index.commit import new_commit
from semsearch.index.records import ChunkEntry, DocEntry
from semsearch.index.segment import SegmentWriter
from semsearch.search.dense import dense_top

DIM = 32


def _clustered(rows: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((200, DIM)).astype(np.float32)
    v = centres[rng.integers(0, 200, rows)] + 0.6 * rng.standard_normal((rows, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_a_large_segment_gets_an_ivf_index_with_recall_above_target(tmp_path):
    rows = ann.MIN_ROWS + 500
    vectors = _clustered(rows)
    writer = SegmentWriter(tmp_path, DIM, rows)
    per = 10
    for d in range(rows // per):
        doc = DocEntry(f"d{d}", "x", 0, 0, str(d), "t")
        chunks = [ChunkEntry(d * per + i, f"d{d}", i, 0, 1, "t", None, 1, ("t",), (("t",),), ((0, 1),)) for i in range(per)]
        writer.add(doc, chunks, vectors[d * per : (d + 1) * per])
    name, files = writer.finish()
    info = writer.ann_info
    assert info and info["kind"] == "ivf" and info["recall@10"] >= ann.TARGET_RECALL and {"ivf_rows.npy"} <= set(files)
    with store.lock(tmp_path):
        w = store.Writer(tmp_path, new_commit({}, {"dim": DIM}))
        w.add_segment(name, rows, rows // per, files, info)
        w.commit()
    gen = store.open_generation(tmp_path)
    assert gen.ann(0) is not None
    rng = np.random.default_rng(1)
    recalls = []
    for _ in range(50):
        q = vectors[rng.integers(rows)] + 0.15 * rng.standard_normal(DIM).astype(np.float32)
        q /= np.linalg.norm(q)
        exact = set(np.argsort(-(vectors @ q))[:10].tolist())
        got, _ = dense_top(gen, q, 10, gen.alive)
        recalls.append(len(exact & set(got.tolist())) / 10)
    assert np.mean(recalls) >= 0.95
    mask = np.zeros(rows, dtype=bool)
    mask[::2] = True
    got, _ = dense_top(gen, q, 10, [mask])
    assert len(got) == 10 and all(r % 2 == 0 for r in got.tolist())
