"""The hybrid's fusion: per-language parameters, and a dense feature whose scale holds as the archive grows."""

from __future__ import annotations

import numpy as np
import pytest
from store_helpers import commit_docs, vector_of

from semsearch.index import store
from semsearch.search import FEATURES, FusionParams, LanguageFusion, Searcher
from semsearch.search.dense import dense_scores
from semsearch.search.features import BASE, POSITION_CAP, inverse_rank, positions

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
    assert all(len(p.weights) == len(p.features) and p.features[:4] == BASE for p in (fusion.nb, fusion.en, fusion.other))


ARTICLES = {
    "a": ["Kommunevalget i Bergen ble vunnet av Høyre.", "Valgdeltakelsen var 61 prosent.", "Ordføreren takket velgerne."],
    "b": ["Strømprisene steg kraftig i Sør-Norge.", "Kraftselskapene tjente godt."],
    "c": ["Filmen er en thriller om en agent i Moskva."],
}


def _candidates(tmp_path, question: str, lang: str, translations: float = 0.0, delete: tuple[str, ...] = ()):
    commit_docs(tmp_path, ARTICLES)
    if delete:
        commit_docs(tmp_path, {}, delete=delete)
    gen = store.open_generation(tmp_path)
    fusion = FusionParams(en=LanguageFusion((1.0, 0.0, 0.0, 0.0), translations=translations, dense_span=0.06))
    s = Searcher(gen, embedder=None, fusion=fusion)
    found = s.features(question, s.question_terms(question, lang), vector_of(question), gen.alive, lang)
    chunks = {int(r): c for r, c in zip(found.rows, gen.chunks(found.rows))}
    return found, chunks, {name: found.features[:, FEATURES.index(name)] for name in FEATURES}


def test_every_feature_is_computed_for_every_candidate_and_the_base_four_come_first(tmp_path):
    found, chunks, f = _candidates(tmp_path, "Hvor mange prosent var valgdeltakelsen i Bergen?", "nb")
    assert found.features.shape == (6, len(FEATURES)) and FEATURES[:4] == BASE
    assert np.isfinite(found.features).all()
    bounded = [n for n in FEATURES if n != "cosine"]
    assert (found.features[:, [FEATURES.index(n) for n in bounded]] >= 0).all()
    assert (found.features[:, [FEATURES.index(n) for n in bounded]] <= 1 + 1e-6).all()
    best = int(np.argmax(f["bm25"]))
    assert chunks[int(found.rows[best])].text == "Valgdeltakelsen var 61 prosent."
    assert f["bm25_rank"][best] == 1.0 and 0 < f["bm25_share"][best] < 1
    assert np.allclose(f["own"], f["bm25"])  # a Norwegian question adds no terms
    assert np.allclose(f["cosine"], dense_scores(store.open_generation(tmp_path), vector_of(
        "Hvor mange prosent var valgdeltakelsen i Bergen?"), found.rows), atol=1e-6)  # fmt: skip


def test_positions_and_neighbours_follow_each_articles_chunks(tmp_path):
    found, chunks, f = _candidates(tmp_path, "Hvor mange prosent var valgdeltakelsen i Bergen?", "nb")
    place = {chunks[int(r)].text: p for r, p in zip(found.rows, f["position"])}
    assert place["Kommunevalget i Bergen ble vunnet av Høyre."] == 1.0
    assert place["Valgdeltakelsen var 61 prosent."] == 0.5 and place["Ordføreren takket velgerne."] == 1 / 3
    near = {chunks[int(r)].text: n for r, n in zip(found.rows, f["neighbour"])}
    assert near["Filmen er en thriller om en agent i Moskva."] == 0.0  # an article of one chunk
    # both neighbours of the answer's chunk are its article's: the first holds "Bergen", so scores above 0
    assert near["Ordføreren takket velgerne."] >= near["Kommunevalget i Bergen ble vunnet av Høyre."] > 0


def test_a_deleted_article_is_no_ones_neighbour(tmp_path):
    found, chunks, f = _candidates(tmp_path, "Hvor mange prosent var valgdeltakelsen i Bergen?", "nb", delete=("a",))
    assert {c.doc_id for c in chunks.values()} == {"b", "c"}
    assert len(found.rows) == 3


def test_an_english_questions_own_terms_are_scored_apart_from_its_translations(tmp_path):
    found, chunks, f = _candidates(tmp_path, "Did the companies earn well in Sør-Norge?", "en", translations=2.5)
    texts = [chunks[int(r)].text for r in found.rows]
    assert texts[int(np.argmax(f["bm25"]))] == "Kraftselskapene tjente godt."  # "earn well": tjent godt
    assert texts[int(np.argmax(f["own"]))] == "Strømprisene steg kraftig i Sør-Norge."  # the name survives
    assert f["own"][texts.index("Kraftselskapene tjente godt.")] == 0.0
    assert f["own_coverage"].max() < 1  # "companies", "earn" and "well" are no Norwegian index terms


def test_a_word_counts_once_for_coverage_whichever_of_its_translations_a_chunk_holds(tmp_path):
    found, chunks, f = _candidates(tmp_path, "Did the companies earn well in Sør-Norge?", "en", translations=2.5)
    words = {chunks[int(r)].text: w for r, w in zip(found.rows, f["word_coverage"])}
    assert words["Kraftselskapene tjente godt."] > 0 and words["Strømprisene steg kraftig i Sør-Norge."] > 0
    assert words["Filmen er en thriller om en agent i Moskva."] == 0.0
    norwegian = _candidates(tmp_path / "nb", "Hvor mange prosent var valgdeltakelsen i Bergen?", "nb")[2]
    assert np.allclose(norwegian["word_coverage"], norwegian["coverage"])  # each term is its own word


def test_a_fusion_ranks_by_the_features_it_names():
    with pytest.raises(ValueError):
        LanguageFusion((1.0, 2.0), features=("dense",))
    with pytest.raises(ValueError):
        LanguageFusion((1.0,), features=("colour",))
    fusion = LanguageFusion((1.0, 0.5), features=("position", "dense"))
    assert fusion.columns() == [FEATURES.index("position"), FEATURES.index("dense")]


def test_inverse_rank_and_positions():
    assert np.allclose(inverse_rank(np.array([0.5, 2.0, 0.0, 1.0])), [1 / 3, 1.0, 0.0, 0.5])
    starts = np.array([0, 0, 3, 4, 6])  # articles at rows 0-2, 3, 4-5 and 6-15
    assert positions(np.array([0, 2, 3, 5, 15]), starts).tolist() == [0, 2, 0, 1, POSITION_CAP]


def test_features_asked_for_by_name_equal_those_columns_of_every_feature(tmp_path):
    question = "How many percent turned out to vote in Bergen?"
    found, _, every = _candidates(tmp_path, question, "en", translations=2.5)
    gen = store.open_generation(tmp_path)
    en = LanguageFusion((1.0, 0.0, 0.0, 0.0), translations=2.5, dense_span=0.06)  # as `_candidates` ranks
    s = Searcher(gen, embedder=None, fusion=FusionParams(en=en))
    for names in (("dense", "word_coverage_sq", "position"), ("neighbour", "own", "length"), ("bm25_share",)):
        some = s.features(question, s.question_terms(question, "en"), vector_of(question), gen.alive, "en", names)
        assert np.array_equal(some.rows, found.rows)
        assert np.allclose(some.features, np.stack([every[n] for n in names], axis=1), atol=1e-6)


def test_article_coverage_is_the_coverage_of_the_whole_article(tmp_path):
    found, chunks, f = _candidates(tmp_path, "Hvem takket velgerne etter kommunevalget i Bergen?", "nb")
    by_text = {chunks[int(r)].text: (a, c) for r, a, c in zip(found.rows, f["article_coverage"], f["coverage"])}
    whole = by_text["Ordføreren takket velgerne."][0]
    assert whole == pytest.approx(by_text["Kommunevalget i Bergen ble vunnet av Høyre."][0])  # one article, one value
    assert whole > by_text["Ordføreren takket velgerne."][1]  # more than the chunk alone holds
