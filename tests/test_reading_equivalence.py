"""The same articles given as a folder of txt files or as one JSONL file chunk to identical spans."""

from __future__ import annotations

import json
import warnings

import pytest
from conftest import CORPUS, ROOT

from semsearch.chunking import ChunkParams, chunk_article
from semsearch.embedding import Embedder
from semsearch.embedding.models import resolve_model
from semsearch.reading import iter_documents
from semsearch.reading.articles import read_corpus

NORQUAD_DOCS = ROOT.parent / "shared" / "data" / "norquad-news" / "docs"


@pytest.fixture(scope="module")
def embedder(tiny_model):
    return Embedder(resolve_model(str(tiny_model)))


def _spans(docs, embedder):
    prompt = embedder.prompts["passage"]
    spans = {}
    for d in docs:
        chunks = chunk_article(d, embedder.count_tokens, ChunkParams(), prompt)
        spans[d.doc_id] = [(c.start, c.end, c.text, c.heading, c.title, c.date) for c in chunks]
    return spans


@pytest.mark.parametrize("folder", [CORPUS, NORQUAD_DOCS], ids=["corpus", "norquad"])
def test_jsonl_of_whole_files_chunks_like_the_txt_folder(folder, embedder, tmp_path):
    if not folder.is_dir():
        pytest.skip(f"{folder} is not here (shared data)")
    files = sorted(folder.glob("*.txt"))
    with (tmp_path / "docs.jsonl").open("w", encoding="utf-8") as out:
        for path in files:
            out.write(json.dumps({"id": path.stem, "text": path.read_text("utf-8")}, ensure_ascii=False) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from_txt = list(iter_documents(folder))
        from_jsonl = list(iter_documents(tmp_path / "docs.jsonl"))
        seed = list(read_corpus(folder))
    assert len(from_txt) == len(from_jsonl) == len(seed) == len(files)
    for t, j in zip(from_txt, from_jsonl):
        assert (t.doc_id, t.text, t.title, t.date, t.blocks, t.metadata) == (j.doc_id, j.text, j.title, j.date, j.blocks, {})
        assert t.fingerprint == j.fingerprint
    txt_spans = _spans(from_txt, embedder)
    assert txt_spans == _spans(from_jsonl, embedder) == _spans(seed, embedder)
    assert sum(map(len, txt_spans.values())) >= len(files)
