"""A merged segment is exactly the segment that writing its live documents from scratch would give."""

from __future__ import annotations

import numpy as np
from store_helpers import DIM, entries

from semsearch.index.segment import Segment, SegmentWriter
from semsearch.index.segment_merge import merge_segments

WORDS = "Lavrov Tillerson Moskva Syria strøm pris kraft fjord fisk laks skatt budsjett valg storting".split()


def _docs(first: int, count: int, rng) -> dict[str, list[str]]:
    docs = {}
    for i in range(first, first + count):
        chunks = []
        for c in range(1 + i % 3):
            words = " ".join(rng.choice(WORDS, int(rng.integers(3, 9))))
            # a word only this document has, so deleting the document must drop it from the dictionaries
            chunks.append(f"{words} unik{i}. Andre setning om {rng.choice(WORDS)} {c}.")
        if i % 7 == 3:
            chunks.append("...")  # a chunk without analysed terms
        docs[f"d{i}"] = chunks
    return docs


def _write(root, docs: dict[str, list[str]]) -> Segment:
    built = [entries(d, c) for d, c in docs.items()]
    writer = SegmentWriter(root, DIM, sum(len(c) for _, c, _ in built))
    for doc, chunks, vectors in built:
        writer.add(doc, chunks, vectors)
    name, files = writer.finish()
    return Segment(root, name, writer.rows, files)


def _content(seg: Segment) -> dict:
    """Everything a segment holds, in a form that does not depend on its term ids."""
    db = seg.db
    terms = {}
    for term, df, start in db.execute("SELECT term, df, start FROM terms"):
        terms[term] = (df, seg.post_rows[start : start + df].tolist(), seg.post_tf[start : start + df].tolist())
    return {
        "docs": db.execute("SELECT * FROM docs ORDER BY ord").fetchall(),
        "chunks": db.execute("SELECT * FROM chunks ORDER BY row").fetchall(),
        "sterms": dict(db.execute("SELECT term, df FROM sterms")),
        "info": dict(db.execute("SELECT key, value FROM info")),
        "terms": terms,
        "arrays": {a: np.asarray(getattr(seg, a)).tolist() for a in ("vectors", "ids", "row_doc", "chunk_lens")},
        "postings": len(seg.post_rows),
    }


def test_a_merge_with_deletes_equals_writing_the_live_documents_afresh(tmp_path):
    tmp_path = tmp_path / "arkiv #1 ?æ%20"  # characters that a file: URI must encode
    tmp_path.mkdir()
    rng = np.random.default_rng(5)
    parts = [_docs(0, 12, rng), _docs(12, 1, rng), _docs(13, 20, rng)]
    segments = [_write(tmp_path, docs) for docs in parts]
    dead = {"d0", "d5", "d12", "d20", "d32"}  # first, middle, a whole segment, last
    alive = []
    for seg in segments:
        mask = np.ones(seg.rows, bool)
        for doc_id, first, n in seg.db.execute("SELECT doc_id, first_row, n_chunks FROM docs"):
            if doc_id in dead:
                mask[first : first + n] = False
        alive.append(mask)
    name, rows, docs, files, ann = merge_segments(tmp_path, segments, alive)
    merged = Segment(tmp_path, name, rows, files)
    live = {d: c for part in parts for d, c in part.items() if d not in dead}
    fresh = _write(tmp_path / "fresh", live)
    assert (rows, docs, ann) == (fresh.rows, fresh.docs, None)
    got, want = _content(merged), _content(fresh)
    assert "unik5" not in got["terms"] and "unik5" not in got["sterms"]
    for key in want:
        assert got[key] == want[key], key


def test_a_merge_of_only_deleted_rows_writes_nothing(tmp_path):
    seg = _write(tmp_path, _docs(0, 3, np.random.default_rng(1)))
    assert merge_segments(tmp_path, [seg], [np.zeros(seg.rows, bool)]) == ("", 0, 0, {}, None)
