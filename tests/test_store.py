"""The segmented store: updates and deletes across merges, the merge policy, crash safety, readers vs writers."""

from __future__ import annotations

import numpy as np
import pytest
from store_helpers import commit_docs, vector_of

from semsearch.analysis import analyze
from semsearch.index import store
from semsearch.index.commit import SegmentRef
from semsearch.index.compaction import maybe_merge
from semsearch.index.merge import MergePolicy
from semsearch.search.dense import dense_top
from semsearch.search.lexical import Lexical, Postings

WORDS = "Lavrov Tillerson Moskva Syria strøm pris kraft fjord fisk laks skatt budsjett valg storting".split()


def _doc(i: int, version: int = 0) -> list[str]:
    rng = np.random.default_rng(i * 1000 + version)
    return [" ".join(rng.choice(WORDS, 6)) + f" dok{i} v{version}." for _ in range(1 + i % 3)]


def _state(root) -> dict[str, list[str]]:
    """Every live document and its chunk texts, as a reader of the newest generation sees them."""
    gen = store.open_generation(root)
    live = np.flatnonzero(gen.is_alive(np.arange(gen.rows)))
    out: dict[str, list[str]] = {}
    for c in gen.chunks(live):
        out.setdefault(c.doc_id, []).append(c.text)
    return out


def _lexical_top(gen, query: str, n: int = 10) -> list[tuple[str, float]]:
    terms = analyze(query)
    rows, scores = Lexical(gen).bm25(terms, Postings(gen, terms, gen.alive))
    order = np.argsort(-scores, kind="stable")[:n]
    return [(c.text, round(float(s), 4)) for c, s in zip(gen.chunks(rows[order]), scores[order])]


def test_updates_and_deletes_survive_merges(tmp_path):
    expected: dict[str, list[str]] = {}
    for step in range(12):
        docs = {f"d{i}": _doc(i, step) for i in range(step * 3, step * 3 + 4)}  # one id overlaps the last step
        delete = (f"d{step * 3 - 5}",) if step >= 2 else ()
        commit_docs(tmp_path, docs, delete)
        expected.update(docs)
        for d in delete:
            expected.pop(d, None)
    assert {d: sorted(t) for d, t in _state(tmp_path).items()} == {d: sorted(t) for d, t in expected.items()}
    before = store.open_generation(tmp_path)
    lexical_before = _lexical_top(before, "Lavrov Moskva fjord")
    with store.lock(tmp_path):
        writer = store.Writer(tmp_path, before.commit)
        merges = maybe_merge(writer, MergePolicy(factor=4, floor_rows=1000))
    after = store.open_generation(tmp_path)
    assert merges >= 2 and len(after.commit.segments) < len(before.commit.segments)
    assert {d: sorted(t) for d, t in _state(tmp_path).items()} == {d: sorted(t) for d, t in expected.items()}
    with store.lock(tmp_path):
        maybe_merge(store.Writer(tmp_path, after.commit), force=True)
    one = store.open_generation(tmp_path)
    assert len(one.commit.segments) == 1 and one.alive[0] is None and one.rows == one.commit.chunks
    # Deleted rows stop counting in BM25 statistics once merged away: same ranking as before, scores may drift.
    assert [t for t, _ in _lexical_top(one, "Lavrov Moskva fjord")][:3] == [t for t, _ in lexical_before][:3]
    fresh = tmp_path / "fresh"
    commit_docs(fresh, expected)
    assert _lexical_top(store.open_generation(fresh), "Lavrov Moskva fjord") == _lexical_top(one, "Lavrov Moskva fjord")


def test_lookup_by_id_finds_what_the_catalog_lists_across_segments_deletes_and_merges(tmp_path):
    for step in range(6):  # overlapping ids: each step replaces one document of the last and deletes another
        commit_docs(tmp_path, {f"d{i}": _doc(i, step) for i in range(step * 3, step * 3 + 4)}, (f"d{step * 3 - 4}",))
    for merged in (False, True):
        gen = store.open_generation(tmp_path)
        assert len(gen.segments) > 1 or merged
        catalog = {d.doc_id: d for d in gen.catalog()}
        ids = [f"d{i}" for i in range(25)] + ["nowhere", "d3", "d3"]  # live, deleted, replaced, absent, repeated
        assert gen.lookup(ids) == {i: catalog[i] for i in ids if i in catalog}
        assert set(catalog) - set(gen.lookup(ids)) == set() and "d2" not in gen.lookup(["d2"])  # d2: deleted
        from semsearch.index.segment import DB_MMAP_BYTES

        assert {s.db.execute("PRAGMA mmap_size").fetchone()[0] for s in gen.segments} == {DB_MMAP_BYTES}  # read mapped
        with store.lock(tmp_path):
            maybe_merge(store.Writer(tmp_path, gen.commit), force=True)


def test_merge_policy_keeps_the_segment_count_logarithmic():
    policy = MergePolicy(factor=8, floor_rows=100)
    refs: list[SegmentRef] = []
    counts = []
    for step in range(1, 2001):
        refs.append(SegmentRef(f"s{step}", 10, 1))
        while groups := policy.plan(tuple(refs)):
            for names in groups:
                merged = [r for r in refs if r.name in names]
                refs = [r for r in refs if r.name not in names] + [
                    SegmentRef("+".join(names)[:40] + str(step), sum(r.rows for r in merged), 1)
                ]
        counts.append(len(refs))
    assert max(counts) <= 8 * (1 + int(np.log(2000 * 10 / 100) / np.log(8)) + 1)
    assert sum(r.rows for r in refs) == 20_000


def test_dead_heavy_segments_are_rewritten():
    policy = MergePolicy(max_dead_share=0.2)
    assert policy.plan((SegmentRef("a", 100, 10, dead="x", dead_rows=30, dead_docs=3),)) == [["a"]]
    assert policy.plan((SegmentRef("a", 100, 10, dead="x", dead_rows=10, dead_docs=1),)) == []


def test_a_crash_during_a_merge_leaves_the_state_before_it(tmp_path, monkeypatch):
    for step in range(4):
        commit_docs(tmp_path, {f"d{step}-{i}": _doc(i, step) for i in range(3)})
    before = _state(tmp_path)
    generation = store.latest_generation_number(tmp_path)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # as if killed between writing the merged segment and committing it

    monkeypatch.setattr(store, "write_commit", crash)
    with store.lock(tmp_path), pytest.raises(KeyboardInterrupt):
        maybe_merge(store.Writer(tmp_path, store.open_generation(tmp_path).commit), force=True)
    monkeypatch.undo()
    assert store.latest_generation_number(tmp_path) == generation and _state(tmp_path) == before
    orphans = {p.name for p in (tmp_path / "segments").iterdir()} - {s.name for s in store.open_generation(tmp_path).segments}
    assert orphans  # the merged segment was written but never committed
    commit_docs(tmp_path, {"late": _doc(99)})  # the next writer cleans up
    live = {s.name for s in store.open_generation(tmp_path).segments}
    assert {p.name for p in (tmp_path / "segments").iterdir()} == live


def test_a_reader_keeps_its_generation_while_writers_commit_merge_and_collect(tmp_path):
    for step in range(3):
        commit_docs(tmp_path, {f"d{step}-{i}": _doc(i, step) for i in range(3)})
    reader = store.open_generation(tmp_path)
    rows = np.arange(reader.rows)
    texts = [c.text for c in reader.chunks(rows)]
    lexical = _lexical_top(reader, "Lavrov Syria")
    q = vector_of("Lavrov")
    dense = dense_top(reader, q, 5, reader.alive)
    for step in range(3, 3 + store.KEEP_GENERATIONS + 2):  # enough commits that GC removes the reader's files
        commit_docs(tmp_path, {f"d{step}-{i}": _doc(i, step) for i in range(3)}, delete=(f"d{step - 3}-0",))
    with store.lock(tmp_path):
        maybe_merge(store.Writer(tmp_path, store.open_generation(tmp_path).commit), force=True)
    for step in range(store.KEEP_GENERATIONS):
        commit_docs(tmp_path, {f"late{step}": _doc(step)})
    assert not any((tmp_path / "segments" / s.name).exists() for s in reader.segments)
    assert [c.text for c in reader.chunks(rows)] == texts
    assert _lexical_top(reader, "Lavrov Syria") == lexical
    got = dense_top(reader, q, 5, reader.alive)
    assert np.array_equal(got[0], dense[0]) and np.allclose(got[1], dense[1])


def test_a_reader_opening_during_clean_up_retries_on_the_newer_commit(tmp_path, monkeypatch):
    from semsearch.index import generation as generation_module

    commit_docs(tmp_path, {"a": _doc(1)})
    real = generation_module.Segment
    state = {"first": True}

    def racing(root, name, rows, files):
        if state["first"]:
            state["first"] = False
            for step in range(store.KEEP_GENERATIONS + 1):  # a writer commits and cleans up meanwhile
                commit_docs(tmp_path, {f"b{step}": _doc(step)}, delete=("a",) if step == 0 else ())
        return real(root, name, rows, files)

    monkeypatch.setattr(generation_module, "Segment", racing)
    gen = store.open_generation(tmp_path)
    assert "a" not in {d.doc_id for d in gen.catalog()} and gen.commit.documents == store.KEEP_GENERATIONS + 1
