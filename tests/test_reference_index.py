"""Every reference index under tests/data/ (one per format version, made by make_reference_index.py) opens in this
semsearch, or is upgraded in place to open, and answers as it did: a later version must never lose them."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from semsearch.embedding import Embedder
from semsearch.embedding.models import ModelSpec
from semsearch.index import commit as commits
from semsearch.index import migrations, store
from semsearch.index.check import check_index
from semsearch.search import Searcher

DATA = Path(__file__).parent / "data"
REFERENCES = sorted(DATA.glob("index-v*"), key=lambda p: int(p.name.removeprefix("index-v")))
CORPUS = Path(__file__).resolve().parents[1] / "corpus"
# Questions whose distinctive words are in one seed article only.
QUESTIONS = {
    "Hva sa Blinken om konsekvensene for Russland?": "004_4cfd5266a7c9d98f",
    "Hvem deltok på møtet i Lucca?": "000_d62e217e901e70a7",
    "Hva skjedde på APEC-toppmøtet i Vietnam?": "002_836414523c5bffee",
    "Hvilke organisasjoner er med i koalisjonen mot IS, og deltok Brende?": "003_ec6115b10a9998e0",
}


def _digests(index: Path) -> dict[str, str]:
    return {str(p.relative_to(index)): hashlib.sha256(p.read_bytes()).hexdigest() for p in index.rglob("*") if p.is_file()}


def test_there_is_a_reference_for_the_format_this_semsearch_writes():
    assert (DATA / f"index-v{commits.FORMAT_VERSION}").is_dir(), "run tests/data/make_reference_index.py (docs/format.md)"
    assert sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file()) < 1_000_000  # a few hundred KB a format


@pytest.fixture
def reference(request, tmp_path) -> Path:
    """A copy of one reference index, upgraded in place first when its format has such a migration."""
    index = tmp_path / "index"
    shutil.copytree(request.param, index)
    version = commits.read_body(index, store.latest_generation_number(index))["format_version"]
    if version < commits.OLDEST_READABLE:
        assert migrations.in_place(version), f"format {version} must open or upgrade in place: its reference is kept"
        with store.lock(index):
            store.writable_commit(index, rebuild=False)
    return index


@pytest.mark.parametrize("reference", REFERENCES, ids=[p.name for p in REFERENCES], indirect=True)
def test_a_reference_index_opens_answers_and_checks(reference, tiny_model):
    before = _digests(reference)
    generation = store.open_generation(reference)
    commit = generation.commit
    assert commit.documents == 5 and commit.chunks > 5 and len(commit.segments) >= 1
    assert sorted(d.doc_id for d in generation.catalog()) == sorted(p.stem for p in CORPUS.glob("*.txt"))
    for path in CORPUS.glob("*.txt"):  # the stored text is the article's, less its "date" line
        assert generation.document(path.stem)["text"].strip() in path.read_text(encoding="utf-8")
    first = generation.segments[0]
    assert first.vectors.dtype == np.float32 and first.vectors.shape[1] == generation.dim
    assert np.allclose(np.linalg.norm(first.vectors, axis=1), 1.0, atol=1e-3)  # stored L2-normalised
    searcher = Searcher(generation, Embedder(ModelSpec(str(tiny_model), "local", tiny_model), backend="torch"))
    for question, doc_id in QUESTIONS.items():
        for mode in ("lexical", "hybrid"):
            results = searcher.search(question, k=3, mode=mode)
            assert results and results[0].doc_id == doc_id, (mode, question, [r.doc_id for r in results])
            assert results[0].start < results[0].end and results[0].text and results[0].date[:4] in ("2017", "2022")
    row = int(np.flatnonzero(generation.is_alive(np.arange(first.rows)))[0])  # a stored vector finds its own chunk
    found = searcher.search("", k=1, mode="dense", query_vector=np.array(first.vectors[row]))[0]
    assert found.chunk_id == int(first.ids[row]) and found.score == pytest.approx(1.0, abs=1e-4)
    report = check_index(reference)
    assert report.ok, report.problems
    assert _digests(reference) == before  # opening, searching and checking write nothing
