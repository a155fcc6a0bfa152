"""The on-disk format's versions: what each commit records, and what a reader or writer does with a format it
does not know. A newer index is refused in one line and left exactly as it was; an older one is upgraded in place
or rebuilt, as `migrations.MIGRATIONS` says."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from conftest import CORPUS
from store_helpers import commit_docs
from typer.testing import CliRunner

import semsearch
from semsearch.cli import app
from semsearch.errors import SemsearchError
from semsearch.index import commit as commits
from semsearch.index import migrations, store
from semsearch.index.check import check_index

runner = CliRunner()
FUTURE_SEGMENT = "f" * 16


def _state(index: Path) -> dict[str, tuple[str, int]]:
    """Every file under `index` with its digest and mtime (the lock file's mtime aside: taking it may touch it)."""
    out = {}
    for p in sorted(index.rglob("*")):
        if p.is_file():
            mtime = 0 if p.name == ".lock" else p.stat().st_mtime_ns
            out[str(p.relative_to(index))] = (hashlib.sha256(p.read_bytes()).hexdigest(), mtime)
    return out


def _newest_body(index: Path) -> tuple[int, dict]:
    gen = store.latest_generation_number(index)
    return gen, json.loads(commits.meta_path(index, gen).read_text())


def _write_body(index: Path, gen: int, body: dict, checksum: bool = True) -> None:
    if checksum:
        body["checksum"] = commits.body_checksum(body)
    commits.meta_path(index, gen).write_text(json.dumps(body))


def _one_line_error(result, *words: str) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def index_copy(tiny_index, tmp_path) -> Path:
    index = tmp_path / "index"
    shutil.copytree(tiny_index, index)
    return index


def test_a_commit_records_its_format_and_the_semsearch_that_wrote_it(tiny_index):
    _, body = _newest_body(tiny_index)
    assert body["format_version"] == commits.FORMAT_VERSION == 5
    assert body["min_reader_version"] == commits.MIN_READER_VERSION == 4  # format 4 readers read it (no sentence vectors)
    assert body["written_by"] == semsearch.__version__


def test_a_commit_of_the_previous_release_opens_and_its_next_commit_records_the_writer(tmp_path):
    commit_docs(tmp_path, {"a": ["Lavrov møtte Tillerson i Moskva."]})
    gen, body = _newest_body(tmp_path)
    for name in ("min_reader_version", "written_by"):
        del body[name]  # as semsearch 0.1.0 wrote its commits, in format 4
    body["format_version"] = 4
    _write_body(tmp_path, gen, body)
    opened = store.open_generation(tmp_path).commit
    assert (opened.format_version, opened.min_reader_version, opened.written_by) == (4, 4, "")
    commit_docs(tmp_path, {"b": ["Blinken møtte Lavrov i Genève."]})
    _, body = _newest_body(tmp_path)
    assert (body["min_reader_version"], body["written_by"]) == (4, semsearch.__version__)
    assert store.open_generation(tmp_path).commit.documents == 2


def _future_commit(index: Path) -> None:
    """A commit of format 99 that needs a reader of format 99: new fields, a segment whose files are listed in a
    form this semsearch does not know, delete marks of a new kind, and a checksum of another scheme."""
    gen, body = _newest_body(index)
    body.update(generation=gen + 1, format_version=99, min_reader_version=99, written_by="9.0.0", shards=["s0"])
    body["segments"].append({"name": FUTURE_SEGMENT, "rows": 1, "files": {"vectors.f16": {"bytes": 6, "xxh3": "0"}}})
    body["segments"][0]["dead"] = f"{FUTURE_SEGMENT}.{gen + 1}.roaring"
    (index / "segments" / FUTURE_SEGMENT).mkdir()
    (index / "segments" / FUTURE_SEGMENT / "vectors.f16").write_bytes(b"\x00" * 6)
    (index / "deletes").mkdir(exist_ok=True)
    (index / "deletes" / f"{FUTURE_SEGMENT}.{gen + 1}.roaring").write_bytes(b"\x01")
    body["checksum"] = "blake3:" + "0" * 64
    _write_body(index, gen + 1, body, checksum=False)


def test_a_commit_of_a_future_format_is_refused_in_one_line_and_nothing_is_removed_or_changed(index_copy, tmp_path):
    _future_commit(index_copy)
    before = _state(index_copy)
    idx = ["--index", str(index_copy)]
    records = tmp_path / "new.jsonl"
    records.write_text('{"id": "n1", "text": "Et nytt dokument om Lavrov."}\n', encoding="utf-8")
    commands = [
        ["query", "Hva sa Lavrov?", "--local", *idx],
        ["index", str(CORPUS), *idx],
        ["index", str(CORPUS), *idx, "--id-field", "id"],
        ["check", *idx],
        ["compact", *idx],
        ["add", str(records), *idx],
        ["delete", "000_d62e217e901e70a7", *idx],
        ["info", *idx],
    ]
    for command in commands:
        line = _one_line_error(runner.invoke(app, command), "format 99", "semsearch 9.0.0", "upgrade semsearch")
        assert "reads formats 4-5" in line and f"semsearch {semsearch.__version__}" in line, (command, line)
    with pytest.raises(commits.FormatTooNew, match="needs a reader of format 99"):
        semsearch.query("Hva sa Lavrov?", index=index_copy)
    with store.lock(index_copy):
        with pytest.raises(commits.FormatTooNew):
            store.collect_garbage(index_copy)
        with pytest.raises(commits.FormatTooNew):
            store.writable_commit(index_copy)
    assert _state(index_copy) == before


def test_a_newer_format_that_this_reader_may_read_is_searched_but_never_changed(index_copy):
    gen, body = _newest_body(index_copy)
    segment = index_copy / "segments" / body["segments"][0]["name"]
    (segment / "terms.fst").write_bytes(b"fst")  # a file format 6 added, listed as format 5 lists files
    body["segments"][0]["files"]["terms.fst"] = {"size": 3, "blake2b": hashlib.blake2b(b"fst", digest_size=16).hexdigest()}
    body["segments"][0]["tombstones"] = f"{segment.name}.{gen + 1}.bits"  # delete marks of a new kind
    (index_copy / "deletes").mkdir(exist_ok=True)
    (index_copy / "deletes" / f"{segment.name}.{gen + 1}.bits").write_bytes(b"\x00")
    body.update(generation=gen + 1, format_version=6, min_reader_version=4, written_by="0.2.0", shards=[])
    _write_body(index_copy, gen + 1, body)
    before = _state(index_copy)
    idx = ["--index", str(index_copy)]
    found = runner.invoke(app, ["query", "Lavrov", "--local", "--mode", "lexical", *idx])
    assert found.exit_code == 0 and found.output.startswith("1. ["), found.output
    assert runner.invoke(app, ["check", *idx]).exit_code == 0
    for command in (["index", str(CORPUS), *idx], ["compact", *idx], ["delete", "000_d62e217e901e70a7", *idx]):
        _one_line_error(runner.invoke(app, command), "format 6", "semsearch 0.2.0", "searched but not changed")
    with store.lock(index_copy):
        with pytest.raises(commits.FormatTooNew):
            store.collect_garbage(index_copy)
        with pytest.raises(commits.FormatTooNew):  # its repairs would drop what it cannot open
            store.Writer(index_copy, store.open_generation(index_copy).commit)
    assert _state(index_copy) == before


def test_a_snapshot_index_is_refused_in_one_line_and_rebuilt_by_index(tiny_model, tmp_path):
    index = tmp_path / "index"
    (index / "snapshots" / "s1").mkdir(parents=True)
    (index / "snapshots" / "s1" / "manifest.json").write_text(json.dumps({"format_version": 3}))
    (index / "CURRENT").write_text("s1")
    idx = ["--index", str(index)]
    for command in (["query", "Lavrov", "--local", *idx], ["info", *idx], ["check", *idx], ["compact", *idx]):
        result = runner.invoke(app, command)
        _one_line_error(result, "format 3", "no longer reads (formats 4-5)", "rebuild it with `semsearch index")
    records = tmp_path / "new.jsonl"
    records.write_text('{"id": "n1", "text": "Et nytt dokument om Lavrov."}\n', encoding="utf-8")
    _one_line_error(runner.invoke(app, ["add", str(records), *idx, "--model", str(tiny_model)]), "format 3")
    assert (index / "CURRENT").exists()  # an update of a few records never stands in for a rebuild
    built = runner.invoke(app, ["index", str(CORPUS), *idx, "--model", str(tiny_model)])
    assert built.exit_code == 0 and "indexed 5 documents" in built.output, built.output
    assert "snapshot index of an older semsearch: rebuilding it" in built.stderr
    assert not (index / "CURRENT").exists() and not (index / "snapshots").exists()
    assert semsearch.query("Lavrov", index=index, mode="lexical")


def test_an_older_commit_that_needs_a_rebuild_is_refused_then_rebuilt_by_index(index_copy, tiny_model):
    gen, body = _newest_body(index_copy)
    body.update(generation=gen + 1, format_version=3)
    for name in ("min_reader_version", "written_by"):
        del body[name]
    _write_body(index_copy, gen + 1, body)
    idx = ["--index", str(index_copy)]
    _one_line_error(runner.invoke(app, ["query", "Lavrov", "--local", *idx]), "has format 3", "rebuild it with `semsearch index")
    _one_line_error(runner.invoke(app, ["compact", *idx]), "has format 3")
    built = runner.invoke(app, ["index", str(CORPUS), *idx, "--model", str(tiny_model)])  # the old commit's is not read
    assert built.exit_code == 0 and "indexed 5 documents" in built.output and "5 added" in built.output, built.output
    assert "has format 3" in built.stderr and "rebuilding it" in built.stderr
    assert store.latest_generation_number(index_copy) > gen + 1  # numbered after the commit it replaces
    assert not commits.meta_path(index_copy, gen + 1).exists()
    assert semsearch.query("Lavrov", index=index_copy, mode="lexical")


def _parts_to_segments(root: Path, body: dict) -> dict:
    """A made-up format 3 kept its segments under "parts"."""
    return {**{k: v for k, v in body.items() if k != "parts"}, "segments": body["parts"]}


def test_an_older_format_with_an_in_place_migration_is_refused_by_readers_and_upgraded_by_writers(tmp_path, monkeypatch):
    commit_docs(tmp_path, {"a": ["Lavrov møtte Tillerson i Moskva."], "b": ["Blinken møtte Lavrov i Genève."]})
    gen, body = _newest_body(tmp_path)
    body["parts"] = body.pop("segments")
    body.update(format_version=3, settings={**body["settings"], "format_version": 3})
    for name in ("min_reader_version", "written_by"):
        del body[name]
    _write_body(tmp_path, gen, body)
    old = commits.meta_path(tmp_path, gen).read_bytes()
    monkeypatch.setattr(migrations, "MIGRATIONS", (migrations.Migration(3, 4, "segments renamed", _parts_to_segments),))
    with pytest.raises(commits.FormatTooOld, match=r"format 3, .* upgrade it in place with `semsearch compact --index"):
        store.open_generation(tmp_path)
    with store.lock(tmp_path):
        upgraded, problems = store.writable_commit(tmp_path, rebuild=False)
    assert problems == [] and upgraded.generation == gen + 1 and upgraded.format_version == 4
    assert upgraded.settings["format_version"] == 4 and upgraded.written_by == semsearch.__version__
    assert commits.meta_path(tmp_path, gen).read_bytes() == old  # the old commit stays for its readers
    opened = store.open_generation(tmp_path)
    assert opened.generation == gen + 1 and sorted(d.doc_id for d in opened.catalog()) == ["a", "b"]
    assert check_index(tmp_path).ok


def test_every_older_format_has_a_migration_and_an_unknown_one_is_named():
    for version in range(1, commits.OLDEST_READABLE):
        steps = migrations.path_from(version)
        assert steps and steps[0].source == version and steps[-1].target >= commits.OLDEST_READABLE
    assert migrations.path_from(commits.FORMAT_VERSION) == []
    with pytest.raises(ValueError, match="no migration from format 0"):
        migrations.path_from(0)


def test_refusals_are_semsearch_errors_of_one_line(tmp_path):
    line = migrations.refusal(tmp_path / "a\nb", 2, "0.0.1")
    assert "\n" not in str(SemsearchError(line)) and "format 2 (written by semsearch 0.0.1)" in line
