"""Large segments get a PQ fast-scan index, re-ranked exactly, whose recall@10 against exact search is
measured and recorded; an index kind this version does not build is searched exactly."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from semsearch.index import ann, store
from semsearch.index.commit import new_commit
from semsearch.index.records import ChunkEntry, DocEntry
from semsearch.index.segment import SegmentWriter
from semsearch.search.dense import dense_top

DIM = 32
PER_DOC = 10


def _vectors(rows: int, seed: int = 7) -> np.ndarray:
    """Weakly clustered unit vectors (many centres, wide spread): the hard case an IVF failed on."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((2000, DIM)).astype(np.float32)
    v = centres[rng.integers(0, 2000, rows)] + 0.8 * rng.standard_normal((rows, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _write(root, parts: list[np.ndarray]) -> None:
    """Commit one segment per part of the vectors (documents of PER_DOC rows, numbered across parts)."""
    with store.lock(root):
        w = store.Writer(root, new_commit({}, {"dim": DIM}))
        first = 0
        for vectors in parts:
            rows = len(vectors)
            writer = SegmentWriter(root, DIM, rows)
            for d in range(rows // PER_DOC):
                doc_id = f"d{first // PER_DOC + d}"
                doc = DocEntry(doc_id, "x", 0, 0, doc_id, "t")
                chunks = [ChunkEntry(first + d * PER_DOC + i, doc_id, i, 0, 1, "t", None, 1, ("t",), (("t",),), ((0, 1),))
                          for i in range(PER_DOC)]  # fmt: skip
                writer.add(doc, chunks, vectors[d * PER_DOC : (d + 1) * PER_DOC])
            name, files = writer.finish()
            w.add_segment(name, rows, rows // PER_DOC, files, writer.ann_info)
            first += rows
        w.commit()


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    """An index of one segment just over ann.MIN_ROWS rows, as written (its vectors, root)."""
    root = tmp_path_factory.mktemp("ann")
    vectors = _vectors(ann.MIN_ROWS + 500)
    _write(root, [vectors])
    return vectors, root


def _questions(vectors: np.ndarray, count: int = 50, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q = vectors[rng.integers(len(vectors), size=count)] + 0.3 * rng.standard_normal((count, DIM)).astype(np.float32)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def test_a_large_segment_gets_a_quantised_index_with_recall_recorded(large):
    vectors, root = large
    gen = store.open_generation(root)
    info = gen.commit.segments[0].ann
    assert info["kind"] == ann.KIND and info["recall@10"] >= ann.PROBE_RECALL and info["depth"] in ann.DEPTHS
    assert ann.FILE in gen.commit.segments[0].files and info["bytes_per_row"] == DIM // 4  # a 4-bit code per 2 dims
    assert gen.ann(0) is not None
    recalls = []
    for q in _questions(vectors):
        exact = np.argsort(-(vectors @ q))[:10]
        got, scores = dense_top(gen, q, 10, gen.alive)
        recalls.append(len(set(exact.tolist()) & set(got.tolist())) / 10)
        np.testing.assert_allclose(scores, vectors[got] @ q, rtol=1e-5)  # re-ranked: exact cosines, best first
        assert np.all(np.diff(scores) <= 0)
    assert np.mean(recalls) >= ann.TARGET_RECALL


def test_the_quantised_scan_alone_is_approximate(large):
    """Without the exact re-rank the 4-bit codes lose neighbours: the re-rank is what the recall rests on."""
    vectors, root = large
    scan = store.open_generation(root).ann(0)
    recalls = []
    for q in _questions(vectors):
        exact = set(np.argsort(-(vectors @ q))[:10].tolist())
        recalls.append(len(exact & set(scan.candidates(q, 10)[0].tolist())) / 10)
    assert np.mean(recalls) < 0.95


def test_masked_rows_never_come_back(large):
    vectors, root = large
    gen = store.open_generation(root)
    mask = np.zeros(len(vectors), dtype=bool)
    mask[::2] = True
    for q in _questions(vectors, 10):
        got, _ = dense_top(gen, q, 10, [mask])
        exact = np.flatnonzero(mask)[np.argsort(-(vectors[mask] @ q))[:10]]
        assert len(got) == 10 and all(r % 2 == 0 for r in got.tolist())
        assert len(set(exact.tolist()) & set(got.tolist())) >= 8


def test_an_index_kind_this_version_does_not_build_is_searched_exactly(large, tmp_path):
    """An older index's IVF entry: no approximate index is opened and answers are exact."""
    vectors, root = large
    gen = store.open_generation(root)
    ref = gen.commit.segments[0]
    old = dataclasses.replace(gen.commit, segments=(dataclasses.replace(ref, ann={"kind": "ivf", "nlist": 400, "nprobe": 32}),))
    from semsearch.index.generation import Generation

    older = Generation(root, old)
    assert older.ann(0) is None
    q = _questions(vectors, 1)[0]
    got, _ = dense_top(older, q, 10, older.alive)
    assert got.tolist() == np.argsort(-(vectors @ q))[:10].tolist()


def test_a_segment_where_the_rerank_would_cost_a_scan_stays_exact(tmp_path):
    """A segment whose tuned depth exceeds MAX_RERANK_SHARE of its rows is refused: an exact scan is as cheap."""
    from semsearch.index.files import save_array

    rows = 2048
    rng = np.random.default_rng(3)
    v = rng.standard_normal((rows, 256)).astype(np.float32)
    save_array(tmp_path / "vectors.npy", v / np.linalg.norm(v, axis=1, keepdims=True))
    assert ann.build_ann(tmp_path, tmp_path / "vectors.npy") is None
    assert not (tmp_path / ann.FILE).exists()


def test_the_index_is_read_once_per_segment_and_never_by_writers(large):
    """Every commit opens a new generation (each batch of a build, each hot swap): the unchanged segment's
    index is shared, not read again; a writer's own view does not open it at all."""
    _, root = large
    first, second = store.open_generation(root), store.open_generation(root)
    assert first.ann(0) is not None and first.ann(0) is second.ann(0)
    with store.lock(root):
        writer = store.Writer(root, first.commit)
        assert writer.generation.ann(0) is None


def test_several_approximate_segments_are_re_ranked_as_one_pool(tmp_path):
    """Three segments with an approximate index each: their candidates are pooled and only the pool's best
    are re-ranked (one segment's depth, not three), with recall@10 and @100 against exact search held."""
    vectors = _vectors(3 * (ann.MIN_ROWS + 500), seed=11)
    third = len(vectors) // 3
    _write(tmp_path, [vectors[:third], vectors[third : 2 * third], vectors[2 * third :]])
    gen = store.open_generation(tmp_path)
    assert [gen.ann(i) is not None for i in range(3)] == [True] * 3
    read = []
    for i in range(3):  # count the rows each segment's vectors give up to the exact re-rank
        seg = gen.segments[i]
        seg.vectors = _Counting(seg.vectors, read)
    try:
        for k in (10, 100):
            recalls = []
            for q in _questions(vectors, 30):
                read.clear()
                got, scores = dense_top(gen, q, k, gen.alive)
                exact = np.argsort(-(vectors @ q))[:k]
                recalls.append(len(set(exact.tolist()) & set(got.tolist())) / k)
                np.testing.assert_allclose(scores, vectors[got] @ q, rtol=1e-5)
                assert sum(read) == max(gen.ann(i).rerank_depth(k) for i in range(3))  # one pool, one depth
            assert np.mean(recalls) >= ann.TARGET_RECALL, (k, np.mean(recalls))
    finally:
        for i in range(3):
            gen.segments[i].vectors = gen.segments[i].vectors.array


class _Counting:
    """A vector array that records how many rows each fancy-indexed read takes."""

    def __init__(self, array: np.ndarray, log: list):
        self.array, self.log = array, log

    def __getitem__(self, rows):
        self.log.append(len(rows))
        return self.array[rows]
