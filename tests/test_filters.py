"""Add and delete through the API, filters applied before ranking, documents by id, compaction."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import semsearch
from semsearch.cli import app
from semsearch.errors import SemsearchError

RECORDS = [
    {"id": "nrk-1", "text": "Lavrov møtte Tillerson i Moskva om Syria.", "date": "2019-06-03", "source": "nrk", "lang": "nb"},
    {"id": "nrk-2", "text": "Lavrov sa at Russland avviser anklagene.", "date": "2019-08", "source": "nrk", "lang": "nb"},
    {"id": "vg-1", "text": "Lavrov kritiserte USA for angrepet i Syria.", "date": "2018-04-07", "source": "vg", "lang": "nb"},
    {"id": "db-1", "text": "Strømprisene steg kraftig i Sør-Norge.", "date": "2019-07-01", "source": "db", "url": "https://x/1"},
    {"id": "nn-1", "text": "Lavrov og Syria var tema på møtet.", "source": "nrk", "lang": "nn", "pages": 3, "paywall": True},
]


@pytest.fixture
def records_index(tiny_model, tmp_path):
    index = tmp_path / "index"
    stats = semsearch.add(RECORDS, index=index, model=str(tiny_model))
    assert stats.added == [r["id"] for r in RECORDS] and stats.documents == 5
    return index


def _ids(results):
    return [r.doc_id for r in results]


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_filters_apply_before_ranking(records_index, mode):
    q = "Hva sa Lavrov om Syria?"
    ask = lambda **kw: _ids(semsearch.query(q, k=5, index=records_index, mode=mode, **kw))  # noqa: E731
    assert set(ask(where={"source": "nrk"})) <= {"nrk-1", "nrk-2", "nn-1"}
    dated = set(ask(since="2019-06-01", until="2019-12-31"))
    assert dated <= {"nrk-1", "nrk-2", "db-1"} and "vg-1" not in dated and "nn-1" not in dated
    assert set(ask(since="2019-08")) <= {"nrk-2"}
    assert set(ask(until="2018")) == {"vg-1"}
    assert set(ask(where={"source": ["vg", "db"]})) <= {"vg-1", "db-1"}
    assert set(ask(where={"paywall": True})) == {"nn-1"} and set(ask(where={"pages": 3})) == {"nn-1"}
    assert ask(where={"doc_id": "vg-1"}) == ["vg-1"]


def test_when_k_chunks_match_k_come_back(records_index):
    got = semsearch.query("Lavrov", k=2, index=records_index, where={"source": "nrk"})
    assert len(got) == 2 and set(_ids(got)) <= {"nrk-1", "nrk-2", "nn-1"}


def test_min_score_drops_weaker_results(records_index):
    everything = semsearch.query("Lavrov Syria", k=5, index=records_index)
    cut = everything[1].score
    assert all(r.score >= cut for r in semsearch.query("Lavrov Syria", k=5, index=records_index, min_score=cut))


def test_bad_filters_are_one_line_errors(records_index):
    with pytest.raises(SemsearchError, match="later than until"):
        semsearch.query("Lavrov", index=records_index, since="2020", until="2019")
    with pytest.raises(SemsearchError, match=r"unknown field 'kilde'.*lang.*source"):
        semsearch.query("Lavrov", index=records_index, where={"kilde": "nrk"})
    with pytest.raises(SemsearchError, match="not a date"):
        semsearch.query("Lavrov", index=records_index, since="juni 2019")
    runner = CliRunner()
    result = runner.invoke(app, ["query", "Lavrov", "--index", str(records_index), "--where", "source"])
    assert result.exit_code == 1 and "FIELD=VALUE" in result.output and result.exception.__class__ is SystemExit


def test_cli_where_leaves_out_spaces_around_field_and_value_as_the_server_does(records_index):
    import json

    runner = CliRunner()
    args = ["query", "Lavrov", "--index", str(records_index), "--json", "--where"]
    tight, spaced = runner.invoke(app, [*args, "source=nrk"]), runner.invoke(app, [*args, " source = nrk "])
    assert tight.exit_code == spaced.exit_code == 0
    assert {r["doc_id"] for r in json.loads(tight.output)} == {"nrk-1", "nrk-2", "nn-1"}
    assert json.loads(spaced.output) == json.loads(tight.output)


def test_results_carry_metadata_url_and_documents_by_id(records_index):
    top = semsearch.query("strømpriser", k=1, index=records_index, mode="lexical")[0]
    assert top.doc_id == "db-1" and top.url == "https://x/1" and top.metadata == {"source": "db"} and top.date == "2019-07-01"
    doc = semsearch.document("db-1", index=records_index)
    assert doc.text == RECORDS[3]["text"] and doc.url == "https://x/1" and semsearch.document("nope", index=records_index) is None


def test_upsert_delete_and_compact(records_index):
    changed = dict(RECORDS[0], text="Lavrov snakket om fotball i Sotsji.")
    stats = semsearch.add([changed, RECORDS[1]], index=records_index)
    assert stats.changed == ["nrk-1"] and stats.added == [] and stats.embedded_chunks == 1
    assert "fotball" in semsearch.document("nrk-1", index=records_index).text
    stats = semsearch.delete(["vg-1", "unknown"], index=records_index)
    assert stats.removed == ["vg-1"] and stats.documents == 4
    assert "vg-1" not in _ids(semsearch.query("Lavrov USA angrepet", k=10, index=records_index))
    before = semsearch.query("Lavrov Syria", k=5, index=records_index, mode="lexical")
    assert semsearch.compact(records_index) == 1 and semsearch.index_info(records_index).segments == 1
    after = semsearch.query("Lavrov Syria", k=5, index=records_index, mode="lexical")
    assert _ids(after) == _ids(before)


def test_cli_add_delete_compact(tiny_model, tmp_path):
    import json

    runner = CliRunner()
    index = tmp_path / "index"
    data = tmp_path / "records.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in RECORDS) + "\nnot json\n", encoding="utf-8")
    result = runner.invoke(app, ["add", str(data), "--index", str(index), "--model", str(tiny_model)])
    assert result.exit_code == 1 and "5 added" in result.output and "records.jsonl:6" in result.output  # 1: a bad line
    result = runner.invoke(app, ["delete", "vg-1", "--index", str(index)])
    assert result.exit_code == 0 and "1 deleted" in result.output
    result = runner.invoke(app, ["query", "Lavrov", "--index", str(index), "--where", "source=nrk", "--since", "2019", "--json"])
    assert result.exit_code == 0 and {r["doc_id"] for r in json.loads(result.output)} <= {"nrk-1", "nrk-2"}
    result = runner.invoke(app, ["compact", "--index", str(index)])
    assert result.exit_code == 0 and "1 segment(s)" in result.output


def test_a_number_matches_by_value_whether_written_5_or_5_0(tiny_model, tmp_path):
    index = tmp_path / "index"
    semsearch.add(
        [
            {"id": "a", "text": "Lavrov i Moskva.", "count": 5},
            {"id": "b", "text": "Lavrov i Genève.", "count": 5.0},
            {"id": "c", "text": "Lavrov i Oslo.", "count": 5.5},
        ],
        index=index,
        model=str(tiny_model),
    )
    for value in (5, 5.0, "5"):
        hits = semsearch.query("Lavrov", k=10, index=index, mode="lexical", where={"count": value})
        assert {r.doc_id for r in hits} == {"a", "b"}, value
    assert {r.doc_id for r in semsearch.query("Lavrov", k=10, index=index, where={"count": 5.5})} == {"c"}
