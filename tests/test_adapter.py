"""The English question adapter: applied to English questions only, and only for the model it was fitted for."""

from __future__ import annotations

import numpy as np
import pytest
from store_helpers import commit_docs, vector_of

from semsearch.index import store
from semsearch.search import FusionParams, LanguageFusion, Searcher, adapter
from semsearch.search.dense import dense_top

DOCS = {f"d{i}": [f"Artikkel {i} om valget.", f"Mer om saken {i}."] for i in range(8)}
ENGLISH = "What did the mayor say about the election?"
NORWEGIAN = "Hva sa ordføreren om valget?"


@pytest.fixture
def index(tmp_path):
    root = tmp_path / "index"
    commit_docs(root, DOCS)
    return store.open_generation(root)


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """Ship a map for a model: `shipped(name, w)` writes it where `load_adapter` looks."""
    monkeypatch.setattr(adapter, "DATA", tmp_path / "data")
    (tmp_path / "data").mkdir()
    adapter.load_adapter.cache_clear()

    def ship(model: str, w: np.ndarray) -> None:
        np.save(adapter.adapter_path(model), w.astype(np.float16))
        adapter.load_adapter.cache_clear()

    yield ship
    adapter.load_adapter.cache_clear()


def test_the_map_moves_english_questions_and_leaves_the_others(index, shipped):
    rng = np.random.default_rng(1)
    w = np.linalg.qr(rng.normal(size=(index.dim, index.dim)))[0]  # a rotation: every vector moves
    shipped(index.commit.model["name"], w)
    s = Searcher(index, embedder=None)
    q = vector_of(ENGLISH)
    moved = s.question_vector(q, "en")
    assert np.allclose(moved, adapter.adapt(q, w.astype(np.float16).astype(np.float32)), atol=1e-6)
    assert abs(np.linalg.norm(moved) - 1) < 1e-5 and not np.allclose(moved, q, atol=1e-2)
    for lang in ("nb", "other"):
        assert s.question_vector(q, lang) is q
    # The dense ranking of an English question is the ranking of its mapped vector.
    rows, _ = dense_top(index, moved, 16, index.alive)
    found = s.search(ENGLISH, k=16, mode="dense", query_vector=q)
    assert [r.chunk_id for r in found] == [c.id for c in index.chunks(rows)]
    assert found != s.search(NORWEGIAN, k=16, mode="dense", query_vector=q)


def test_no_map_ships_for_another_model_or_when_the_language_asks_for_none(index, shipped):
    shipped("someone/else", -np.eye(index.dim))
    q = vector_of(ENGLISH)
    assert Searcher(index, embedder=None).question_vector(q, "en") is q
    shipped(index.commit.model["name"], -np.eye(index.dim))
    off = FusionParams(en=LanguageFusion((1.0, 0.0, 0.0, 0.0), translations=2.5, adapt=False))
    assert Searcher(index, embedder=None, fusion=off).question_vector(q, "en") is q
    assert np.allclose(Searcher(index, embedder=None).question_vector(q, "en"), -q, atol=1e-3)


def test_the_default_model_ships_a_map_close_to_the_identity():
    from semsearch.embedding.models import DEFAULT_MODEL

    adapter.load_adapter.cache_clear()
    w = adapter.load_adapter(DEFAULT_MODEL)
    assert w is not None and w.shape == (384, 384) and w.dtype == np.float32
    assert adapter.adapter_path(DEFAULT_MODEL).stat().st_size < 5 * 2**20
    assert FusionParams().en.adapt and not FusionParams().nb.adapt and not FusionParams().other.adapt
    # Ridge towards the identity: the map keeps most of a vector's direction.
    x = np.random.default_rng(0).normal(size=(50, 384)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    assert float(np.mean(np.sum(x * np.stack([adapter.adapt(v, w) for v in x]), axis=1))) > 0.5
