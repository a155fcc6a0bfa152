"""Indexing users' own files: every format into one index, per-record updates of a JSONL file, field mappings."""

from __future__ import annotations

import json

import numpy as np
from store_helpers import passages_in

import semsearch
from semsearch.index import store
from semsearch.index.records import sentence_texts


def _records(n: int, changed: int | None = None) -> list[dict]:
    out = []
    for i in range(n):
        text = f"Sak {i}: Stortinget behandlet budsjettet for fylke {i}. Lavrov nevnes ikke."
        if i == changed:
            text = f"Sak {i}: Lavrov møtte Tillerson i Moskva og snakket om Syria."
        out.append({"nid": f"r{i}", "body": text, "date": f"2019-{1 + i % 12:02d}-01", "source": "nrk" if i % 2 else "vg"})
    return out


def _write(path, records):
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")


def test_one_changed_line_of_a_jsonl_file_re_embeds_that_record_only(tiny_model, tmp_path, counting_encoder):
    data, index = tmp_path / "archive.jsonl", tmp_path / "index"
    _write(data, _records(60))
    first = semsearch.build_index(data, index, model=str(tiny_model), fields=_fields(), backend="counting")
    assert first.documents == 60 and not first.skipped and len(counting_encoder.texts) == passages_in(index)
    counting_encoder.reset()
    _write(data, _records(60, changed=17)[:-1])  # one record changed, the last one gone
    update = semsearch.build_index(data, index)  # the recorded field mapping and encoder are used again
    assert update.changed == ["r17"] and update.removed == ["r59"] and update.added == []
    assert update.embedded_chunks == 1 and update.documents == 59
    gen = store.open_generation(index)
    chunk = next(c for c in gen.chunks(np.flatnonzero(gen.is_alive(np.arange(gen.rows)))) if c.doc_id == "r17")
    sentences = ["passage: " + t for t in sentence_texts(chunk.text, chunk.sentence_spans)]
    assert counting_encoder.texts[1:] == sentences and "Lavrov møtte Tillerson" in counting_encoder.texts[0]
    top = semsearch.query("Lavrov Tillerson Moskva", k=1, index=index, mode="lexical")[0]
    assert top.doc_id == "r17" and top.metadata == {"source": "nrk"} and top.date == "2019-06-01"
    assert semsearch.build_index(data, index).unchanged


def _fields():
    from semsearch.reading import FieldMap

    return FieldMap(id="nid", text="body")


def test_a_folder_of_every_format_in_one_index(tiny_model, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(" date 2017-04 Lavrov i Moskva\nLavrov møtte Tillerson i Moskva.\n", encoding="utf-8")
    (corpus / "b.md").write_text("# Notat om strøm\n\n## Priser\n\nStrømprisene steg kraftig i Sør-Norge.\n", encoding="utf-8")
    (corpus / "c.html").write_text(
        "<html><head><title>Fjordfiske</title></head><body><nav>Meny</nav><article><h1>Fjordfiske</h1>"
        "<p>Laksen kom tilbake til fjorden i år, melder fiskerne i Hardanger.</p></article></body></html>",
        encoding="utf-8",
    )
    _write(corpus / "d.jsonl", [{"id": "j1", "text": "Skatten øker for de rikeste i budsjettet.", "source": "vg"}])
    (corpus / "e.csv").write_text("id,text,source\nc1,Valget i Bergen ble vunnet av Arbeiderpartiet.,bt\n", encoding="utf-8")
    stats = semsearch.build_index(corpus, tmp_path / "index", model=str(tiny_model))
    assert stats.documents == 5, stats.skipped
    expected = {"Tillerson Moskva": "a", "strømprisene": "b", "laksen fjorden": "c", "skatten": "j1", "valget Bergen": "c1"}
    for question, doc_id in expected.items():
        assert semsearch.query(question, k=1, index=tmp_path / "index", mode="lexical")[0].doc_id == doc_id
    assert semsearch.document("b", index=tmp_path / "index").title == "Notat om strøm"


def test_a_small_upsert_looks_documents_up_by_id_and_never_parses_the_whole_tokenizer(corpus_copy, tmp_path, monkeypatch):
    """An upsert of one record reads neither the whole catalog nor the 17 MB-class tokenizer.json: the lazy
    counter cuts its words, and the existing document is found by id (then replaced, not duplicated)."""
    from tiny_model import build_tiny_model

    from semsearch.embedding import Embedder
    from semsearch.embedding.tokenizer import TokenizerCounter
    from semsearch.index import store
    from semsearch.index.generation import Generation

    model = build_tiny_model(tmp_path / "xlmr", arch="xlm-roberta")  # a Unigram tokenizer: the export is lazy
    index = tmp_path / "index"
    semsearch.build_index(corpus_copy, index, model=str(model))
    before = store.open_generation(index).commit.documents
    whole, catalogs = [], []
    monkeypatch.setattr(TokenizerCounter, "_switch", lambda self: whole.append(1))
    monkeypatch.setattr(Embedder, "bulk_vocabulary", lambda self: whole.append(1))
    real_catalog = Generation.catalog
    monkeypatch.setattr(Generation, "catalog", lambda self: catalogs.append(1) or real_catalog(self))
    record = {"id": "lavrov", "text": "Lavrov snakket om Syria i Moskva. Tillerson svarte i Lucca.", "title": "Ny"}
    stats = semsearch.add([record], index=index)
    again = semsearch.add([{**record, "text": record["text"] + " Oppdatert."}], index=index)
    assert stats.added == ["lavrov"] and again.changed == ["lavrov"] and not whole and not catalogs
    assert store.open_generation(index).commit.documents == before + 1
    assert semsearch.query("Tillerson Lucca", index=index, k=1)[0].doc_id == "lavrov"


def test_an_update_never_swaps_the_index_model_and_drops_the_rest(tiny_model, corpus_copy, tmp_path, monkeypatch):
    """add and delete embed with the index's model; given another, or $SEMSEARCH_MODEL naming another, they
    used to start a fresh index of just their records (every other document gone, exit 0)."""
    import shutil

    import pytest

    from semsearch.errors import SemsearchError

    index, other = tmp_path / "index", tmp_path / "other-model"
    semsearch.build_index(corpus_copy, index, model=str(tiny_model))
    shutil.copytree(tiny_model, other)
    config = other / "config.json"  # the same weights, but another model as far as its fingerprint tells
    config.write_text(json.dumps(json.loads(config.read_text()), indent=3))
    record = {"id": "n1", "text": "Blåbærsyltetøy fra Trøndelag vant prisen."}
    with pytest.raises(SemsearchError, match="Pass --model"):
        semsearch.add([record], index=index, model=str(other))
    assert semsearch.index_info(index).documents == 5
    monkeypatch.setenv("SEMSEARCH_MODEL", str(other))  # the index's own model comes first
    assert semsearch.add([record], index=index).documents == 6
    assert semsearch.delete(["n1"], index=index).documents == 5
    again = semsearch.build_index(corpus_copy, index)
    assert again.unchanged and again.model == semsearch.index_info(index).model


def test_a_build_with_new_settings_re_embeds_the_documents_added_through_the_api(tiny_model, corpus_copy, tmp_path):
    """Re-embedding everything (new settings or model) starts a fresh commit from the corpus; the documents
    that `add` put in are in no corpus file, and used to vanish with '0 removed'."""
    index = tmp_path / "index"
    semsearch.build_index(corpus_copy, index, model=str(tiny_model))
    record = {"id": "n1", "text": "Blåbærsyltetøy fra Trøndelag vant prisen.", "title": "Pris", "date": "2024-05-01"}
    semsearch.add([{**record, "kilde": "nrk"}], index=index)
    before = semsearch.document("n1", index=index)
    from semsearch.reading import FieldMap

    rebuilt = semsearch.build_index(corpus_copy, index, fields=FieldMap(title="headline"))
    assert rebuilt.documents == 6 and not rebuilt.removed
    assert semsearch.document("n1", index=index) == before
    hits = semsearch.query("blåbærsyltetøy", k=1, index=index, mode="lexical")
    assert hits[0].doc_id == "n1" and hits[0].metadata == {"kilde": "nrk"}
    assert semsearch.build_index(corpus_copy, index).unchanged


def test_two_builds_at_once_in_one_process_each_report_only_their_own_problems(tiny_model, tmp_path):
    """Problems with the input go to the build that read it (a collector per thread, never the process-wide
    warnings filters): two builds running at once in two threads neither lose nor swap a problem."""
    import locale
    import threading
    import warnings

    from semsearch.ingest.report import FileRead

    found: dict[str, list] = {"a": [], "b": []}
    events: dict[str, list] = {"a": [], "b": []}
    for name in found:
        folder = tmp_path / name
        folder.mkdir()
        _write(folder / "records.jsonl", [{"id": f"{name}{i}", "text": f"Sak {i} om Lavrov i {name}."} for i in range(40)])
        (folder / "records.jsonl").open("a").write("\n".join(f"not json {name} {i}" for i in range(30)) + "\n")
        (folder / f"empty-{name}.txt").write_text("")

    def build(name: str) -> None:
        semsearch.build_index(tmp_path / name, tmp_path / f"index-{name}", model=str(tiny_model),
                              on_problem=found[name].append, on_event=events[name].append)  # fmt: skip

    encoding = locale.getencoding()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing reaches the warnings module when a caller takes the problems
        threads = [threading.Thread(target=build, args=(name,)) for name in found]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert locale.getencoding() == encoding  # two bf16 compilations at once left the process in the "C" locale
    for name, other in (("a", "b"), ("b", "a")):
        messages = [d.message for d in found[name]]
        assert len(messages) == 31 and not any(f"/{other}/" in m or f"json {other}" in m for m in messages), messages
        assert sorted(e.source for e in events[name] if isinstance(e, FileRead)) == [f"empty-{name}.txt", "records.jsonl"]
