"""Damage to any file of an index is named by `check`, never a traceback, and repaired by `semsearch index`.

The files are found by walking the index folder, not from a list of names.
"""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from semsearch.cli import app
from semsearch.index.check import check_index

runner = CliRunner()


def _files(index):
    return sorted(p for p in index.rglob("*") if p.is_file() and p.name != ".lock")


@pytest.fixture(scope="module")
def built(tiny_model, tmp_path_factory):
    """A small index with two segments and delete marks: every kind of file exists."""
    from conftest import CORPUS

    import semsearch

    base = tmp_path_factory.mktemp("damage")
    corpus = base / "corpus"
    shutil.copytree(CORPUS, corpus)
    index = base / "index"
    semsearch.build_index(corpus, index, model=str(tiny_model))
    path = sorted(corpus.glob("*.txt"))[0]
    path.write_text(path.read_text(encoding="utf-8") + "\nEt nytt avsnitt om Lavrov.\n", encoding="utf-8")
    semsearch.build_index(corpus, index)
    return corpus, index


DAMAGE = {
    "truncate": lambda p: p.write_bytes(p.read_bytes()[: max(len(p.read_bytes()) // 2, 1) - 1]),
    "garbage": lambda p: p.write_bytes(b"\xab\xcd" * 300),
    "delete": lambda p: p.unlink(),
}


def _cases(index):
    return [(f.relative_to(index), kind) for f in _files(index) for kind in DAMAGE]


def test_every_file_damaged_every_way_is_named_and_repaired(built, tmp_path):
    corpus, pristine = built
    cases = _cases(pristine)
    assert len(cases) >= 3 * 10
    failures = []
    for relative, kind in cases:
        index = tmp_path / "index"
        shutil.rmtree(index, ignore_errors=True)
        shutil.copytree(pristine, index)
        DAMAGE[kind](index / relative)
        where = ["--index", str(index)]
        for args in (["info", *where], ["query", "Lavrov", *where], ["check", *where]):
            result = runner.invoke(app, args)
            if result.exception and not isinstance(result.exception, SystemExit):
                failures.append(f"{kind} {relative}: {' '.join(args[:1])} raised {result.exception!r}")
        result = runner.invoke(app, ["index", str(corpus), "--index", str(index)])
        if result.exit_code != 0:
            failures.append(f"{kind} {relative}: index exited {result.exit_code}: {result.output[-300:]}")
            continue
        report = check_index(index)
        if not report.ok or report.chunks == 0:
            failures.append(f"{kind} {relative}: not repaired: {report.problems}")
        query = runner.invoke(app, ["query", "Lavrov", "--index", str(index), "--json"])
        if query.exit_code != 0:
            failures.append(f"{kind} {relative}: query after repair failed: {query.output[-300:]}")
    assert not failures, "\n".join(failures)


def test_check_reports_a_sound_index(built):
    _, index = built
    result = runner.invoke(app, ["check", "--index", str(index)])
    assert result.exit_code == 0 and "is sound" in result.output
