"""The command line, through Typer's CliRunner, and its start-up cost."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import CORPUS, ROOT
from typer.testing import CliRunner

from semsearch.cli import app

runner = CliRunner()


def test_index_query_info(tiny_model, tmp_path):
    index = tmp_path / "index"
    out = runner.invoke(app, ["index", str(CORPUS), "--index", str(index), "--model", str(tiny_model)])
    assert out.exit_code == 0, out.output
    assert "indexed 5 documents" in out.output
    again = runner.invoke(app, ["index", str(CORPUS), "--index", str(index)])
    assert again.exit_code == 0 and "up to date" in again.output

    res = runner.invoke(app, ["query", "Lavrov FN-gransking", "-k", "2", "--index", str(index), "--mode", "lexical"])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("1. [") and "001_b8141d4232c9699a · 2017-04 · FN-gransking" in res.output

    res = runner.invoke(app, ["query", "Hva sa Lavrov?", "-k", "3", "--index", str(index), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert len(data) == 3
    assert {"score", "doc_id", "text", "start", "end", "date", "heading"} <= set(data[0])

    info = runner.invoke(app, ["info", "--index", str(index)])
    assert info.exit_code == 0 and json.loads(info.output)["documents"] == 5


def test_a_result_line_names_the_records_title(tiny_model, tmp_path):
    """Records with a title show it after the id (a CSV's ids are often bare numbers); a heading equal to the
    title is not repeated."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    (corpus / "a.csv").write_text(
        'id,title,text,date\n1,Lavrov i Moskva,"Lavrov møtte Tillerson i Moskva. De snakket om Syria.",2017-04-12\n'
        '2,Strøm,"Strømprisen steg kraftig i Bergen i vinter.",2018-01-03\n',
        encoding="utf-8",
    )
    assert runner.invoke(app, ["index", str(corpus), "--index", str(index), "--model", str(tiny_model)]).exit_code == 0
    res = runner.invoke(app, ["query", "Lavrov Tillerson Moskva", "-k", "1", "--index", str(index), "--mode", "lexical"])
    assert res.exit_code == 0 and res.output.startswith("1. [") and "] 1 · Lavrov i Moskva · 2017-04-12 (chunk 0" in res.output


def test_index_changed_takes_paths_as_arguments_or_from_stdin(tiny_model, corpus_copy, tmp_path):
    index = tmp_path / "index"
    assert runner.invoke(app, ["index", str(corpus_copy), "--index", str(index), "--model", str(tiny_model)]).exit_code == 0
    first = sorted(corpus_copy.iterdir())[0]
    first.write_text(first.read_text() + "\n\nOppdatert: saken er endret.\n")
    (corpus_copy / "ny.txt").write_text("Strømprisen steg i Bergen i går, melder NVE.")
    out = runner.invoke(app, ["index", str(corpus_copy), "--index", str(index), "--changed", str(first)])
    assert out.exit_code == 0 and "0 added, 1 changed, 0 removed" in out.output, out.output
    stdin = f"{corpus_copy / 'ny.txt'}\n\n"
    out = runner.invoke(app, ["index", str(corpus_copy), "--index", str(index), "--changed", "-"], input=stdin)
    assert out.exit_code == 0 and "1 added, 0 changed, 0 removed" in out.output, out.output
    assert "up to date" in runner.invoke(app, ["index", str(corpus_copy), "--index", str(index)]).output
    said = _error(["index", str(corpus_copy), "--index", str(index), "--changed", str(tmp_path / "x.txt")])
    assert "is not inside the corpus folder" in said and len(said.strip().splitlines()) == 1


def _error(args):
    out = runner.invoke(app, args)
    assert out.exit_code != 0
    assert out.exception is None or isinstance(out.exception, SystemExit), out.exception
    assert "Traceback" not in out.output
    return out.output


def test_user_errors_are_one_line(tiny_index, tmp_path):
    assert "does not exist" in _error(["index", str(tmp_path / "nope"), "--index", str(tmp_path / "i")])
    assert "empty" in _error(["query", "  ", "--index", str(tiny_index)])
    assert "at least 1" in _error(["query", "Lavrov", "-k", "0", "--index", str(tiny_index)])
    assert "does not exist" in _error(["query", "Lavrov", "--index", str(tmp_path / "none")])
    assert "does not exist" in _error(["info", "--index", str(tmp_path / "none")])
    (tmp_path / "a-file").write_text("x")
    assert "check the path" in _error(["index", str(CORPUS), "--index", str(tmp_path / "a-file")])


def test_unreadable_file_is_named_and_the_rest_indexed(tiny_model, corpus_copy, tmp_path):
    (corpus_copy / "latin1.txt").write_bytes("Blåbærsyltetøy".encode("latin-1"))
    (corpus_copy / "empty.txt").write_text("")
    index = tmp_path / "index"
    out = runner.invoke(app, ["index", str(corpus_copy), "--index", str(index), "--model", str(tiny_model)])
    assert out.exit_code == 1
    assert "latin1.txt" in out.output and "not UTF-8" in out.output and "empty.txt" in out.output
    assert "indexed 5 documents" in out.output and "2 problem(s)" in out.output


def test_a_file_name_that_is_not_utf8_is_counted_as_a_problem(tiny_model, corpus_copy, tmp_path):
    import os

    os.rename(next(corpus_copy.glob("001_*.txt")), os.path.join(os.fsencode(corpus_copy), b"bad\xffname.txt"))
    index = tmp_path / "index"
    for args in (["--model", str(tiny_model)], []):  # said, and counted, by every build while it is there
        out = runner.invoke(app, ["index", str(corpus_copy), "--index", str(index), *args])
        assert out.exit_code == 1 and "bad\\xffname.txt" in out.output and "not valid UTF-8" in out.output, out.output
        assert "1 problem(s)" in out.output


def test_add_and_delete_say_what_a_damaged_segment_took_with_it(tiny_model, corpus_copy, tmp_path):
    index = tmp_path / "index"
    assert runner.invoke(app, ["index", str(corpus_copy), "--index", str(index), "--model", str(tiny_model)]).exit_code == 0
    (segment,) = (index / "segments").iterdir()
    with open(segment / "segment.sqlite", "r+b") as fh:  # damage it in place, after its commit
        fh.seek(100)
        fh.write(b"garbage")
    records = tmp_path / "new.jsonl"
    records.write_text(json.dumps({"id": "n1", "text": "Blåbærsyltetøy fra Trøndelag vant prisen."}) + "\n")
    out = runner.invoke(app, ["add", str(records), "--index", str(index)])
    assert out.exit_code == 0 and "1 documents" in out.output, out.output
    assert f"warning: repaired: segment {segment.name}" in out.output and "semsearch index CORPUS" in out.output
    again = runner.invoke(app, ["index", str(corpus_copy), "--index", str(index)])
    assert again.exit_code == 0 and "indexed 6 documents" in again.output and "5 added" in again.output, again.output


def test_add_with_bad_records_exits_1_and_delete_names_what_it_did_not_find(tiny_index, tmp_path):
    import shutil

    index = tmp_path / "index"
    shutil.copytree(tiny_index, index)
    records = tmp_path / "some-bad.jsonl"
    records.write_text('{"id": "n1", "text": "Blåbærsyltetøy fra Trøndelag."}\nnot json\n{"text": "uten id"}\n')
    out = runner.invoke(app, ["add", str(records), "--index", str(index)])
    assert out.exit_code == 1 and "1 added" in out.output and "2 problem(s)" in out.output, out.output
    out = runner.invoke(app, ["delete", "n1", "nope", "--index", str(index)])
    assert out.exit_code == 0 and "1 deleted" in out.output and "no document 'nope'" in out.output, out.output
    missing = tmp_path / "no-index"
    assert "does not exist" in _error(["delete", "x", "--index", str(missing)]) and not missing.exists()


def test_a_damaged_model_folder_is_one_line(tiny_model, tmp_path):
    import shutil

    for name, damage in (("config", lambda m: (m / "config.json").write_text("{")), ("weights", _truncate_weights)):
        model = tmp_path / name
        shutil.copytree(tiny_model, model)
        damage(model)
        out = _error(["index", str(CORPUS), "--index", str(tmp_path / f"index-{name}"), "--model", str(model)])
        assert f"model '{model}" in out or f"model file '{model}" in out, out
        assert "--model" in out and out.count("error:") == 1, out


def _truncate_weights(model):
    with open(model / "model.safetensors", "r+b") as fh:
        fh.truncate(1000)


def test_help_imports_neither_torch_nor_sentence_transformers():
    code = (
        "import sys; from typer.testing import CliRunner; from semsearch.cli import app; "
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0 and 'query' in r.output; "
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_eval_reports_every_mode_per_question_language(tiny_model, tmp_path):
    questions = ROOT / "bench" / "corpus_questions.jsonl"
    args = ["eval", str(questions), "--corpus", str(CORPUS), "--index", str(tmp_path / "i"), "--model", str(tiny_model)]
    out = runner.invoke(app, [*args, "--json"])
    assert out.exit_code == 0, out.output
    reports = json.loads(out.stdout)
    assert [(r["lang"], r["mode"]) for r in reports] == [
        (lang, m) for lang in ("nb", "en") for m in ("hybrid", "dense", "lexical")
    ]
    for r in reports:
        assert r["queries"] == (13 if r["lang"] == "nb" else 19) and r["mean_chunk_chars"] > 0
        for level in ("chunk", "article"):
            m = r[level]
            assert set(m) == {"hit@1", "hit@3", "hit@5", "hit@10", "mrr@10"}
            assert 0 <= m["hit@1"] <= m["hit@3"] <= m["hit@5"] <= m["hit@10"] <= 1
        assert r["chunk"]["hit@10"] <= r["article"]["hit@10"]
    lexical = next(r for r in reports if r["mode"] == "lexical" and r["lang"] == "nb")
    assert lexical["article"]["hit@10"] > 0.3  # BM25 needs no model: it must find some articles
    table = runner.invoke(app, [*args, "--mode", "lexical"])
    assert table.exit_code == 0 and "nb        13 lexical  chunk" in table.output and "en        19 lexical" in table.output


def test_eval_with_distractors_builds_a_cached_index_once(tiny_model, tmp_path):
    """--distractors N adds the first N records of the distractor file to the corpus, in an index under the
    user cache that a second run reuses; the distractors can only push answers down."""
    import gzip

    reviews = tmp_path / "norec.jsonl.gz"
    lines = [json.dumps({"id": f"rev-{i}", "title": f"Anmeldelse {i}", "text": f"Lavrov og Syria i film nummer {i}. " * 20})
             for i in range(6)]  # fmt: skip
    reviews.write_bytes(gzip.compress("\n".join(lines).encode()))
    questions = ROOT / "bench" / "corpus_questions.jsonl"
    args = ["eval", str(questions), "--corpus", str(CORPUS), "--model", str(tiny_model), "--mode", "lexical", "--json"]
    plain = runner.invoke(app, [*args, "--index", str(tmp_path / "plain")])
    first = runner.invoke(app, [*args, "--distractors", "4", "--distractor-file", str(reviews)])
    assert first.exit_code == 0, first.output
    assert "adding 4 distractor documents" in first.stderr
    again = runner.invoke(app, [*args, "--distractors", "4", "--distractor-file", str(reviews)])
    assert again.exit_code == 0 and "adding" not in again.stderr and again.stdout == first.stdout
    for base, more in zip(json.loads(plain.stdout), json.loads(first.stdout)):
        assert more["article"]["hit@10"] <= base["article"]["hit@10"]
    from semsearch.chunking import ChunkParams
    from semsearch.eval_index import eval_index_path

    index = eval_index_path(CORPUS, 4, reviews, str(tiny_model), ChunkParams())
    info = runner.invoke(app, ["info", "--index", str(index)])
    assert json.loads(info.output)["documents"] == 5 + 4
    both = runner.invoke(app, [*args, "--distractors", "4", "--index", str(tmp_path / "x")])
    assert both.exit_code == 1 and "leave --index out" in both.output


def test_the_eval_index_is_keyed_by_the_distractors_bytes_not_their_path_or_time(tmp_path):
    """A copy of the same distractor file (a fresh checkout, a re-provisioned data folder) reuses the cached
    build; a change to its records does not."""
    import os
    import shutil

    from semsearch.chunking import ChunkParams
    from semsearch.eval_index import eval_index_path

    first = tmp_path / "a" / "norec.jsonl"
    first.parent.mkdir()
    first.write_text('{"id": "r1", "text": "Lavrov og Syria."}\n')
    copy = tmp_path / "b" / "norec.jsonl"
    copy.parent.mkdir()
    shutil.copy(first, copy)
    os.utime(copy, (1_000_000, 1_000_000))
    edited = tmp_path / "c.jsonl"
    edited.write_text('{"id": "r1", "text": "Lavrov og Irak."}\n')
    path = [eval_index_path(CORPUS, 1, f, None, ChunkParams()) for f in (first, copy, edited)]
    assert path[0] == path[1] != path[2]


def test_eval_rejects_a_file_that_is_not_labelled_questions(tmp_path):
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"question": "x"}\n')
    out = runner.invoke(app, ["eval", str(bad), "--corpus", str(CORPUS)])
    assert out.exit_code == 1 and "line 1 is not a labelled question" in out.output


def test_a_query_imports_neither_torch_nor_the_index_builders(tiny_index):
    code = (
        "import sys; from typer.testing import CliRunner; from semsearch.cli import app; "
        f"r = CliRunner().invoke(app, ['query', 'Hva sa Lavrov?', '--index', {str(tiny_index)!r}]); "
        "assert r.exit_code == 0 and r.output.startswith('1. ['), r.output; "
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers', 'bm25s', 'scipy') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_odd_arguments_get_a_line_that_names_them(tiny_index, tmp_path):
    import pytest

    import semsearch
    from semsearch.errors import SemsearchError

    for kwargs, says in (
        ({"k": "3"}, "whole number"),
        ({"where": "source=nrk"}, "where must map fields"),
        ({"min_score": float("nan")}, "min_score must be a number"),
    ):
        with pytest.raises(SemsearchError, match=says):
            semsearch.query("Lavrov", index=tiny_index, **kwargs)
    (tmp_path / "a-file").write_text("x")
    assert "is a file, not an index folder" in _error(["query", "Lavrov", "--index", str(tmp_path / "a-file")])
    for size in ("-5", "nan"):
        assert "--max-file-size" in _error(["index", str(CORPUS), "--index", str(tmp_path / "i"), "--max-file-size", size])
