"""Sentence vectors: one per sentence of each chunk, stored beside the chunk vectors, carried through merges,
and read by the hybrid's `sentence_dense` feature (the chunk's cosine stands in where a segment has none)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from store_helpers import DIM, commit_docs, entries, sentence_vectors, vector_of, write_segment

from semsearch.analysis import analyze
from semsearch.index import store
from semsearch.index.records import sentence_texts
from semsearch.index.segment import Segment, SegmentWriter
from semsearch.index.segment_merge import merge_segments
from semsearch.search import FEATURES, FusionParams, LanguageFusion, Searcher

DOCS = {
    "a": ["Lavrov møtte Tillerson i Moskva. De snakket om Syria. Møtet varte i tre timer.", "Strømprisen steg i mars."],
    "b": ["Budsjettet ble vedtatt. Stortinget stemte over skatten.", "..."],
    "c": ["Laksen i fjorden er syk. Fiskerne er bekymret. Prisen falt."],
}


def _segment(root, docs, sentences=True) -> Segment:
    name, rows, _, files, _ = write_segment(root, docs, sentences)
    return Segment(root, name, rows, files)


def _sentence_cosines(chunk_texts: list[str], q: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each chunk's sentences' cosines with q and with the chunk's own vector, from the texts."""
    _, chunks, vectors = entries("x", chunk_texts)
    out = []
    for c, v in zip(chunks, vectors):
        vs = np.stack([vector_of(t) for t in sentence_texts(c.text, c.sentence_spans)]).astype(np.float16)
        out.append((vs.astype(np.float32) @ q, vs.astype(np.float32) @ np.asarray(v, np.float32)))
    return out


def test_each_rows_sentence_cosines_are_its_own_sentences(tmp_path):
    seg = _segment(tmp_path, DOCS)
    q = vector_of("spørsmål")
    want = [c for texts in DOCS.values() for c in _sentence_cosines(texts, q)]
    rows = np.array([4, 0, 2, 1, 3])
    (scores, in_chunk), sizes = seg.sentence_cosines(q, rows), seg.sentence_counts(rows)
    assert sizes.tolist() == [len(want[r][0]) for r in rows] and sizes[1] == 3  # "..." still gets one vector
    assert np.allclose(scores, np.concatenate([want[r][0] for r in rows]), atol=1e-6)
    assert np.allclose(in_chunk, np.concatenate([want[r][1] for r in rows]), atol=1e-5)
    starts = np.asarray(seg.sentence_starts)
    assert starts[0] == 0 and np.all(np.diff(starts) >= 1) and starts[-1] == len(seg.sentence_vectors)


def test_the_generation_gives_each_rows_sentences_in_the_order_asked_across_segments(tmp_path):
    commit_docs(tmp_path, {"a": DOCS["a"], "b": DOCS["b"]}, sentences=True)
    commit_docs(tmp_path, {"c": DOCS["c"]}, sentences=True)
    gen = store.open_generation(tmp_path)
    assert len(gen.segments) == 2
    q = vector_of("spørsmål")
    want = [c for texts in DOCS.values() for c in _sentence_cosines(texts, q)]
    rows = np.array([4, 1, 0, 3, 2])  # row 4 is the second segment's
    got = gen.sentence_cosines(q, rows)
    assert got.sizes.tolist() == [len(want[r][0]) for r in rows]
    assert np.allclose(got.question, np.concatenate([want[r][0] for r in rows]), atol=1e-6)
    assert np.allclose(got.chunk, np.concatenate([want[r][1] for r in rows]), atol=1e-5)


def test_a_merge_keeps_the_sentence_vectors_of_the_live_rows_only(tmp_path):
    first, second = _segment(tmp_path, {"a": DOCS["a"], "b": DOCS["b"]}), _segment(tmp_path, {"c": DOCS["c"]})
    alive = [np.array([True, True, False, False]), None]  # "b" deleted
    name, rows, _, files, _ = merge_segments(tmp_path, [first, second], alive)
    merged = Segment(tmp_path, name, rows, files)
    fresh = _segment(tmp_path / "fresh", {"a": DOCS["a"], "c": DOCS["c"]})
    assert np.array_equal(np.asarray(merged.sentence_starts), np.asarray(fresh.sentence_starts))
    assert np.array_equal(np.asarray(merged.sentence_vectors), np.asarray(fresh.sentence_vectors))


def test_a_merge_with_a_segment_without_sentence_vectors_keeps_none(tmp_path):
    segments = [_segment(tmp_path, {"a": DOCS["a"]}), _segment(tmp_path, {"c": DOCS["c"]}, sentences=False)]
    name, rows, _, files, _ = merge_segments(tmp_path, segments, [None, None])
    merged = Segment(tmp_path, name, rows, files)
    assert not merged.has_sentence_vectors and merged.sentence_vectors is None
    assert not any(f.startswith("sentence") for f in files)


def test_the_writer_refuses_sentence_vectors_that_do_not_match_the_sentences(tmp_path):
    doc, chunks, vectors = entries("a", DOCS["a"])
    writer = SegmentWriter(tmp_path, DIM, len(chunks), sentences=10)
    with pytest.raises(ValueError, match="4 sentences but 3 sentence vectors"):
        writer.add(doc, chunks, vectors, sentence_vectors(chunks)[:3])
    with pytest.raises(ValueError, match="sentence vectors"):
        writer.add(doc, chunks, vectors)  # the segment announced sentence vectors
    writer.abort()


CONTEXT = 0.3


def _in_context(cosines, chunk_cosine: np.ndarray) -> list[np.ndarray]:
    """Each sentence's cosine with the question read with CONTEXT of its chunk: cos(q, unit(s + w c)), from the
    three stored cosines."""
    w = CONTEXT
    return [(q + w * x) / np.sqrt(1 + w * w + 2 * w * c) for (q, c), x in zip(cosines, chunk_cosine)]


def _sentence_features(root, sentences: bool):
    commit_docs(root, DOCS, sentences=sentences)
    gen = store.open_generation(root)
    names = ("dense", "sentence_dense", "sentence_joint", "sentence", "cosine")
    fusion = FusionParams(other=LanguageFusion((1.0,) * len(names), dense_span=0.5, features=names, sentence_context=CONTEXT))
    q = vector_of("spørsmål")
    found = Searcher(gen, embedder=None, fusion=fusion).features(
        "Что?", dict.fromkeys(analyze("Syria"), 1.0), q, gen.alive, "other", names=names
    )
    got = gen.sentence_cosines(q, found.rows)
    if got is None:
        return found, None
    at = np.cumsum(got.sizes)[:-1]
    return found, list(zip(np.split(got.question, at), np.split(got.chunk, at)))


def test_sentence_dense_scales_the_best_sentence_read_with_its_chunk_like_dense(tmp_path):
    found, cosines = _sentence_features(tmp_path, sentences=True)
    assert cosines is not None and len(found.rows) == 5
    best = np.array([c.max() for c in _in_context(cosines, found.features[:, 4])])
    assert np.allclose(found.features[:, 1], np.clip(1 - (best.max() - best) / 0.5, 0, 1), atol=1e-5)
    alone = np.array([q.max() for q, _ in cosines])
    assert not np.allclose(best, alone) and not np.allclose(found.features[:, 1], found.features[:, 0])


def test_sentence_joint_is_the_best_blend_within_one_sentence(tmp_path):
    found, cosines = _sentence_features(tmp_path, sentences=True)
    bm25 = [np.array(found.sentences[r]) for r in found.rows.tolist()]
    cosines = _in_context(cosines, found.features[:, 4])
    top_cos, top_bm25 = max(c.max() for c in cosines), max(b.max() for b in bm25)
    assert top_bm25 > 0  # "syria" is in one sentence of one chunk
    want = [(0.5 * np.clip(1 - (top_cos - c) / 0.5, 0, 1) + 0.5 * b / top_bm25).max() for c, b in zip(cosines, bm25)]
    assert np.allclose(found.features[:, 2], want, atol=1e-6)


def test_without_sentence_vectors_the_chunks_cosine_stands_in_for_its_sentences(tmp_path):
    found, cosines = _sentence_features(tmp_path, sentences=False)
    assert cosines is None
    dense, sentence_dense, joint, sentence = (found.features[:, i] for i in range(4))
    assert np.array_equal(sentence_dense, dense)
    assert np.allclose(joint, 0.5 * dense + 0.5 * sentence, atol=1e-6)  # `sentence`: best sentence BM25 over its max
    assert {"sentence_dense", "sentence_joint"} <= set(FEATURES)


def test_a_built_index_holds_each_sentences_own_vector(tiny_index):
    import semsearch
    from semsearch.embedding.embedder import Embedder

    gen = store.open_generation(tiny_index)
    assert gen.has_sentence_vectors
    chunks = gen.chunks(np.arange(gen.rows))
    texts = [t for c in chunks for t in sentence_texts(c.text, c.sentence_spans)]
    stored = np.concatenate([np.asarray(s.sentence_vectors, np.float32) for s in gen.segments])
    assert len(stored) == len(texts)
    embedder = semsearch.api.searcher(tiny_index).embedder
    assert isinstance(embedder, Embedder)
    want = embedder.embed_passages(texts[:40], progress=False)
    assert np.allclose(stored[:40], want, atol=2e-3)


def test_an_index_of_format_4_is_searched_without_them_and_the_next_build_adds_them(tmp_path, tiny_model):
    import shutil

    import semsearch
    from semsearch.embedding import Embedder
    from semsearch.embedding.models import ModelSpec

    tests = Path(__file__).parent
    index = tmp_path / "index"
    shutil.copytree(tests / "data" / "index-v4", index)
    old = store.open_generation(index)
    assert old.commit.format_version == 4 and not old.has_sentence_vectors
    embedder = Embedder(ModelSpec(str(tiny_model), "local", tiny_model), backend="torch")
    assert Searcher(old, embedder).search("Who attended the meeting in Lucca?", k=3, mode="hybrid")
    semsearch.build_index(tests.parent / "corpus", index, model=str(tiny_model))
    new = store.open_generation(index)
    assert new.commit.format_version == 5 and new.has_sentence_vectors and new.commit.documents == 5


def test_an_index_built_without_sentence_vectors_keeps_that_choice_until_asked(tmp_path, tiny_model):
    from typer.testing import CliRunner

    from semsearch.cli import app

    corpus, index = Path(__file__).parents[1] / "corpus", tmp_path / "index"
    run = CliRunner().invoke
    base = ["index", str(corpus), "--index", str(index), "--model", str(tiny_model)]
    assert run(app, [*base, "--no-sentence-vectors"]).exit_code == 0
    gen = store.open_generation(index)
    assert not gen.has_sentence_vectors and gen.commit.settings["chunking"]["sentence_vectors"] is False
    assert json.loads(run(app, ["info", "--index", str(index)]).output)["sentence_vectors"] is False
    result = run(app, base)  # no choice given: the index's is kept, nothing is embedded again
    assert result.exit_code == 0 and "up to date" in result.output
    assert not store.open_generation(index).has_sentence_vectors
    assert run(app, [*base, "--sentence-vectors"]).exit_code == 0
    gen = store.open_generation(index)
    assert gen.has_sentence_vectors and gen.commit.settings["chunking"]["sentence_vectors"] is True
    info = json.loads(run(app, ["info", "--index", str(index)]).output)
    assert info["sentence_vectors"] is True and info["format_version"] == 5


def _digests(index: Path) -> dict:
    """Each file's checksum, the writer's lock file aside (taking the lock is not a change)."""
    import hashlib

    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in index.rglob("*") if p.is_file() and p.name != ".lock"}


def _format_4_copy(tmp_path) -> tuple[Path, dict]:
    import shutil

    index = tmp_path / "index"
    shutil.copytree(Path(__file__).parent / "data" / "index-v4", index)
    return index, _digests(index)


def test_add_on_an_index_of_format_4_is_refused_in_one_line_naming_index_and_changes_nothing(tmp_path, tiny_model):
    """An add embeds under the recorded settings, and a format-4 index's are not what this semsearch writes: it
    would mix two kinds of segment."""
    from typer.testing import CliRunner

    from semsearch.cli import app

    index, before = _format_4_copy(tmp_path)
    records = tmp_path / "new.jsonl"
    records.write_text(json.dumps({"id": "n1", "text": "Lavrov møtte Tillerson i Moskva."}) + "\n")
    result = CliRunner().invoke(app, ["add", str(records), "--model", str(tiny_model), "--index", str(index)])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert result.output.startswith("error: ") and "semsearch index" in result.output
    assert _digests(index) == before


def test_delete_needs_neither_the_model_nor_the_current_format(tmp_path, tiny_model):
    """A delete writes marks only: it works on a format-4 index whose model folder is long gone (the reference
    index's), the index still checks, and the next `semsearch index` still rebuilds it whole."""
    from typer.testing import CliRunner

    from semsearch.cli import app
    from semsearch.index.check import check_index

    index, _ = _format_4_copy(tmp_path)
    gone = "000_d62e217e901e70a7"
    result = CliRunner().invoke(app, ["delete", gone, "--index", str(index)])
    assert result.exit_code == 0, result.output
    assert "1 deleted; 4 documents" in result.output
    gen = store.open_generation(index)
    left = {d.doc_id for d in gen.catalog()}
    assert gone not in left and len(left) == 4
    assert gen.commit.settings["format_version"] == 4  # recorded as built: an add is still refused
    assert check_index(index).ok
    import semsearch

    semsearch.build_index(Path(__file__).parents[1] / "corpus", index, model=str(tiny_model))
    new = store.open_generation(index)
    assert new.commit.settings["format_version"] == 5 and new.has_sentence_vectors and new.commit.documents == 5
