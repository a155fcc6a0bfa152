"""`semsearch.Index`: handles that own what they open, two at once, closed on their own; a fake served."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict

import pytest
from conftest import CORPUS
from live_server import free_port
from live_server import request as http_request

import semsearch
from semsearch import api
from semsearch.errors import SemsearchError
from semsearch.search import Result

NEWS = [
    {"id": "nrk-1", "text": "Lavrov møtte Tillerson i Moskva om Syria.", "date": "2019-06-03", "kilde": "nrk"},
    {"id": "vg-1", "text": "Lavrov kritiserte USA for angrepet i Syria.", "date": "2018-04-07", "kilde": "vg"},
]
RECIPES = [
    {"id": "kake-1", "text": "Pisk egg og sukker luftig, sikt inn mel og stek kaken i førti minutter.", "title": "Sukkerbrød"},
    {"id": "kake-2", "text": "Rør smør og sukker, tilsett egg og bakepulver, og stek muffinsene.", "title": "Muffins"},
]


def test_two_indexes_with_different_models_answer_from_their_own_data(tiny_model, tmp_path):
    from tiny_model import build_tiny_model

    xlmr = build_tiny_model(tmp_path / "xlmr", arch="xlm-roberta")
    news, kaker = semsearch.Index(tmp_path / "news", model=str(tiny_model)), semsearch.Index(tmp_path / "kaker", str(xlmr))
    with news, kaker:
        assert news.add(NEWS).added == ["nrk-1", "vg-1"] and kaker.add(RECIPES).added == ["kake-1", "kake-2"]
        for mode in ("hybrid", "dense", "lexical"):
            assert {r.doc_id for r in news.query("Hva sa Lavrov om Syria?", k=5, mode=mode)} <= {"nrk-1", "vg-1"}
            assert {r.doc_id for r in kaker.query("Hvordan steker jeg kake?", k=5, mode=mode)} <= {"kake-1", "kake-2"}
        assert news.query("Lavrov Tillerson", k=1, mode="lexical")[0].doc_id == "nrk-1"
        assert kaker.query("muffinsene", k=1, mode="lexical")[0].doc_id == "kake-2"
        assert news.document("kake-1") is None and kaker.document("kake-1").title == "Sukkerbrød"
        assert (news.info().documents, kaker.info().documents) == (2, 2)
        assert news.info().model != kaker.info().model
        assert news.searcher().embedder is not kaker.searcher().embedder
    roots = {(tmp_path / name).resolve() for name in ("news", "kaker")}
    assert not roots & set(api._handles), "a handle of one's own needs no process-wide cache"


def test_add_delete_document_info_and_compact_through_the_handle(tiny_model, corpus_copy, tmp_path):
    path = tmp_path / "index"
    with semsearch.Index(path, model=str(tiny_model)) as index:
        assert index.build(corpus_copy).documents == 5
        first = index.info()
        assert (first.documents, first.path) == (5, str(path))
        assert index.info() == first and first.embedding_here and first.cpu
        stats = index.add([{**NEWS[0], "title": "Møtet i Moskva"}])
        assert stats.added == ["nrk-1"] and stats.documents == 6
        doc = index.document("nrk-1")
        assert (doc.text, doc.title, doc.date) == (NEWS[0]["text"], "Møtet i Moskva", "2019-06-03")
        assert doc.metadata == {"kilde": "nrk"}
        assert index.query("Tillerson Moskva", k=1, where={"kilde": "nrk"})[0].doc_id == "nrk-1"
        assert index.info().generation > first.generation and index.info().documents == 6
        records = tmp_path / "more.jsonl"
        records.write_text(json.dumps(NEWS[1], ensure_ascii=False) + "\n", encoding="utf-8")
        assert index.add_file(records).added == ["vg-1"]
        assert index.delete("nrk-1").removed == ["nrk-1"] and index.delete(["ukjent"]).removed == []
        assert index.document("nrk-1") is None
        assert "nrk-1" not in {r.doc_id for r in index.query("Tillerson Moskva", k=10)}
        assert index.info().segments > 1
        assert index.compact() == 1 and index.info().segments == 1 and index.info().documents == 6


def test_a_handle_answers_from_what_another_writer_committed(tiny_index, tmp_path):
    import shutil

    path = tmp_path / "index"
    shutil.copytree(tiny_index, path)
    with semsearch.Index(path) as reader, semsearch.Index(path) as writer:
        held = reader.searcher()
        assert reader.document("nrk-1") is None and reader.info().documents == 5
        writer.add(NEWS[:1])
        assert reader.document("nrk-1").text == NEWS[0]["text"] and reader.info().documents == 6
        assert reader.searcher() is not held and held.generation.commit.documents == 5
        semsearch.delete(["nrk-1"], index=path)  # the module function on the same folder
        assert reader.document("nrk-1") is None and reader.info().documents == 5


def test_a_closed_handle_refuses_every_call_in_one_line(tiny_index, tmp_path):
    with semsearch.Index(tiny_index) as index:
        assert index.query("Lavrov", k=1) and not index.closed
    assert index.closed and "closed" in repr(index)
    calls = {
        "query": lambda: index.query("Lavrov"),
        "document": lambda: index.document("x"),
        "info": index.info,
        "open": index.open,
        "searcher": index.searcher,
        "generation": index.generation,
        "add": lambda: index.add(NEWS),
        "add_file": lambda: index.add_file(tmp_path / "x.jsonl"),
        "delete": lambda: index.delete("x"),
        "compact": index.compact,
        "build": lambda: index.build(CORPUS),
    }
    for name, call in calls.items():
        with pytest.raises(SemsearchError, match="is closed") as raised:
            call()
        assert "\n" not in str(raised.value) and str(tiny_index) in str(raised.value), name
    with pytest.raises(SemsearchError, match="is closed"), index:
        pass
    index.close()  # again: nothing happens
    assert semsearch.query("Lavrov", k=1, index=tiny_index)  # the folder itself is as it was


def test_closing_the_shared_handle_leaves_the_module_functions_working(tiny_index):
    shared = api.shared_index(tiny_index)
    assert api.shared_index(tiny_index) is shared and semsearch.index_info(tiny_index).documents == 5
    shared.close()
    assert semsearch.query("Lavrov", k=1, index=tiny_index) and api.shared_index(tiny_index) is not shared


class FakeIndex:
    """A `SearchIndex` with no files and no model: one document that answers every question."""

    def __init__(self, broken: str | None = None):
        self.broken, self.asked, self.closed = broken, [], False
        self.doc = semsearch.Document("fake-1", "Lavrov møtte Tillerson.", "Møtet", "2017-04-12", None, {"kilde": "test"})

    def open(self) -> None:
        if self.broken:
            raise SemsearchError(self.broken)

    def query(self, text, k=5, *, mode="hybrid", per_article=False, since=None, until=None, where=None, min_score=None):
        self.asked.append((text, k, mode, per_article, since, until, where))
        hit = Result(0.5, "fake-1", self.doc.text, 0, len(self.doc.text), self.doc.date, None, 0, self.doc.title, 0)
        return [hit][:k]

    def document(self, doc_id):
        return self.doc if doc_id == "fake-1" else None

    def info(self):
        return semsearch.IndexInfo("fake", 3, "2024-01-01", "fake-model", "local", ["none"], 2, {}, {}, 1, 1, 1, 23.0, 6.0)

    def close(self) -> None:
        self.closed = True


def test_the_server_serves_any_search_index(tiny_index):
    pytest.importorskip("fastapi", reason="the server extra is not installed: pip install 'semsearch[server]'")
    from semsearch.server.service import IndexService, IndexUnavailable

    fake = FakeIndex()
    assert isinstance(fake, semsearch.SearchIndex) and isinstance(semsearch.Index(tiny_index), semsearch.SearchIndex)
    service = IndexService(fake)
    found = service.search("Hva sa Lavrov?", 3, "dense", True, {"since": "2017"})
    assert [r["doc_id"] for r in found] == ["fake-1"] and fake.asked == [("Hva sa Lavrov?", 3, "dense", True, "2017", None, None)]
    assert service.summary() == {"generation": 3, "documents": 1, "chunks": 1, "model": "fake-model", "created": "2024-01-01"}
    assert service.document("fake-1")["metadata"] == {"kilde": "test"} and service.document("nope") is None
    with pytest.raises(IndexUnavailable, match="index gone"):
        IndexService(FakeIndex(broken="index gone")).search("Lavrov", 1, "hybrid", False, {})


def test_a_fake_index_answers_over_http(tiny_index):
    pytest.importorskip("fastapi", reason="the server extra is not installed: pip install 'semsearch[server]'")
    import uvicorn

    from semsearch.server.app import create_app

    fake = FakeIndex()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(fake), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        status, body = http_request(url + "/search?q=Lavrov&k=2")
        assert status == 200 and [r["doc_id"] for r in body["results"]] == ["fake-1"]
        assert fake.asked[0][0] == "varm opp"  # warmed at start-up, as a real index is
        assert http_request(url + "/health")[1] == {"status": "ok", **_summary(fake)}
        assert http_request(url + "/documents/fake-1")[1] == asdict(fake.doc)
        fake.broken = "the index folder is gone"
        status, body = http_request(url + "/search?q=Lavrov")
        assert status == 503 and body["error"] == "the index folder is gone"
    finally:
        server.should_exit = True
        thread.join(30)


def _summary(fake: FakeIndex) -> dict:
    info = asdict(fake.info())
    return {key: info[key] for key in ("generation", "documents", "chunks", "model", "created")}


def test_a_handle_ranks_with_its_own_fusion_weights(tiny_index):
    from semsearch.search import FusionParams, LanguageFusion

    only = LanguageFusion((1.0, 0.0, 0.0, 0.0))
    dense_only = FusionParams(nb=only, en=only, other=only)
    with semsearch.Index(tiny_index, fusion=dense_only) as index:
        assert index.searcher().fusion == dense_only and api.searcher(tiny_index).fusion == FusionParams()
        assert index.query("Lavrov", k=1)


def test_add_and_add_file_report_bad_records_to_the_caller_and_not_to_warnings(tiny_index, tmp_path):
    import shutil
    import warnings

    path = tmp_path / "index"
    shutil.copytree(tiny_index, path)
    lines = tmp_path / "more.jsonl"
    lines.write_text(json.dumps(NEWS[1], ensure_ascii=False) + "\nnot json\n", encoding="utf-8")
    found = []
    with semsearch.Index(path) as index, warnings.catch_warnings():
        warnings.simplefilter("error")  # a caller that takes the problems gets them all; none is a warning
        assert index.add([NEWS[0], {"id": "uten-tekst"}], on_problem=found.append).added == ["nrk-1"]
        assert index.add_file(lines, on_problem=found.append).added == ["vg-1"]
    assert len(found) == 2 and "record 2" in found[0].message and "more.jsonl:2" in found[1].message, found
