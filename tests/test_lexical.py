"""Lexical search: Norwegian analysis, BM25 weights equal to bm25s's own scoring, and the hybrid signals."""

from __future__ import annotations

import numpy as np
import pytest

from semsearch.index.lexical import BM25Weights, LexicalIndex, analyze

ROWS = [
    "Lavrov anklaget USA for å trappe opp konflikten i Syria.",
    "Blåbærsyltetøy og æøå: Ærlig talt er øya vakker.",
    "Møtet fant sted i Lucca før Tillerson reiste til Moskva. Lavrov møtte Tillerson.",
    "Strømprisene steg kraftig i Sør-Norge.",
]


def test_analysis_keeps_norwegian_letters_stems_and_drops_stop_words():
    assert analyze("Hva sa Lavrov om angrepet i Syria?") == ["sa", "lavrov", "angrep", "syri"]
    assert "blåbærsyltetøy" in analyze("Blåbærsyltetøy") and "ærl" in analyze("Ærlig")
    assert analyze("What did Lavrov say about the attack?") == ["lavrov", "attack"]


def test_weights_score_like_bm25s_and_survive_a_round_trip(tmp_path):
    import bm25s

    terms = [analyze(r) for r in ROWS]
    weights = BM25Weights.build(terms, k1=1.2, b=0.75)
    reference = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    reference.index(terms, show_progress=False)
    weights.save(tmp_path / "w")
    loaded = BM25Weights.load(tmp_path / "w")
    for query in ("Lavrov Syria", "Tillerson Moskva Lavrov", "strømpriser", "ukjent ord"):
        q = analyze(query)
        known = [t for t in q if t in reference.vocab_dict]
        expected = reference.get_scores(known) if known else np.zeros(len(ROWS))
        assert np.allclose(weights.score(q), expected, atol=1e-6)
        assert np.allclose(loaded.score(q), expected, atol=1e-6)


def test_signals_best_sentence_and_coverage(tmp_path):
    from semsearch.chunking import sentences_of

    index = LexicalIndex.build([analyze(r) for r in ROWS], [[analyze(s) for s in sentences_of(r)] for r in ROWS])
    index.save(tmp_path)
    index = LexicalIndex.load(tmp_path)
    bm25, sentence, coverage = index.signals("Lavrov møtte Tillerson")
    assert bm25.shape == sentence.shape == coverage.shape == (len(ROWS),)
    assert int(np.argmax(bm25)) == 2 and coverage[2] == pytest.approx(1.0)
    assert 0 < coverage[0] < 1 and coverage[1] == 0 and coverage[3] == 0
    assert sentence[2] > sentence[0] > 0  # the row with a sentence holding all three terms wins
    assert np.array_equal(index.scores("Lavrov møtte Tillerson"), bm25)
