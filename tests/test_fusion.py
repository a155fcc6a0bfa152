"""The hybrid's fusion: per-language parameters, and a dense feature whose scale holds as the archive grows."""

from __future__ import annotations

import numpy as np
from store_helpers import commit_docs, vector_of

from semsearch.index import store
from semsearch.search import FusionParams, LanguageFusion, Searcher
from semsearch.search.dense import dense_scores

DOCS = {f"d{i}": [f"Artikkel nummer {i} om kommunevalget i Bergen og {w}."] for i, w in enumerate("abcdefghij")}


def _dense_feature(tmp_path, span: float, docs: dict) -> tuple[np.ndarray, np.ndarray]:
    commit_docs(tmp_path, docs)
    gen = store.open_generation(tmp_path)
    q = vector_of("question")
    fusion = FusionParams(other=LanguageFusion((1.0, 0.0, 0.0, 0.0), dense_span=span))
    found = Searcher(gen, embedder=None, fusion=fusion).features("Что?", {}, q, gen.alive, "other")
    return found.features[:, 0], dense_scores(gen, q, found.rows)


def test_a_fixed_dense_span_scores_each_candidate_by_its_distance_from_the_best(tmp_path):
    feature, cosine = _dense_feature(tmp_path, 0.5, DOCS)
    assert np.allclose(feature, np.clip(1 - (cosine.max() - cosine) / 0.5, 0, 1), atol=1e-6)
    assert feature.max() == 1.0


def test_min_max_stretches_the_same_candidates_over_zero_to_one(tmp_path):
    feature, cosine = _dense_feature(tmp_path, 0.0, DOCS)
    assert np.allclose(feature, (cosine - cosine.min()) / (cosine.max() - cosine.min()), atol=1e-6)
    assert feature.min() == 0.0 and feature.max() == 1.0


def test_each_question_language_gets_its_own_parameters():
    fusion = FusionParams()
    assert fusion.language("nb") is fusion.nb and fusion.language("en") is fusion.en
    assert fusion.language("other") is fusion.other and fusion.language("de") is fusion.other
    assert fusion.other.translations == 0.0  # the word list is English's alone
    assert all(len(p.weights) == 4 for p in (fusion.nb, fusion.en, fusion.other))
