"""Lexical search: Norwegian analysis, and BM25 summed across segments equal to bm25s on the same rows."""

from __future__ import annotations

import numpy as np
import pytest
from store_helpers import commit_docs

from semsearch.analysis import analyze
from semsearch.chunking import sentences_of
from semsearch.index import store
from semsearch.index.records import joined_sentences
from semsearch.search.lexical import Lexical, Postings

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


def _reference(rows: list[list[str]], query: list[str]) -> np.ndarray:
    import bm25s

    reference = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    reference.index([r if r else ["\u2205"] for r in rows], show_progress=False)
    known = [t for t in query if t in reference.vocab_dict]
    return reference.get_scores(known) if known else np.zeros(len(rows))


@pytest.mark.parametrize("split, block", [(1, 4096), (2, 4096), (4, 4096), (1, 1), (2, 3)])
def test_bm25_across_segments_scores_like_bm25s_over_all_rows(tmp_path, monkeypatch, split, block):
    """Statistics are summed over segments at query time: one segment or four give bm25s's scores, however
    the writer gathered its postings in memory (`block`: chunks per folded block)."""
    from semsearch.index import segment

    monkeypatch.setattr(segment, "_BLOCK_CHUNKS", block)
    per = len(ROWS) // split
    for s in range(split):
        commit_docs(tmp_path, {f"d{i}": [ROWS[i]] for i in range(s * per, (s + 1) * per)})
    gen = store.open_generation(tmp_path)
    assert len(gen.segments) == split
    lexical = Lexical(gen)
    order = {c.doc_id: c.row for c in gen.chunks(np.arange(gen.rows))}
    for query in ("Lavrov Syria", "Tillerson Moskva Lavrov Lavrov", "strømpriser", "ukjent ord"):
        q = analyze(query)
        rows, scores = lexical.bm25(q, Postings(gen, q, gen.alive))
        got = np.zeros(gen.rows)
        got[rows] = scores
        expected = _reference([analyze(r) for r in ROWS], q)
        assert np.allclose([got[order[f"d{i}"]] for i in range(len(ROWS))], expected, atol=1e-5)
        sentences = [[analyze(s) for s in sentences_of(r)] for r in ROWS]
        flat = [s for row in sentences for s in row]
        ref_sent = _reference(flat, q)
        got_sent = lexical.sentence_scores(q, [joined_sentences(s) for s in sentences])
        assert np.allclose([x for row in got_sent for x in row], ref_sent, atol=1e-5)


def test_coverage_is_the_idf_weighted_share_of_question_terms(tmp_path):
    commit_docs(tmp_path, {f"d{i}": [r] for i, r in enumerate(ROWS)})
    gen = store.open_generation(tmp_path)
    q = analyze("Lavrov møtte Tillerson")
    rows = np.arange(gen.rows)
    coverage = Lexical(gen).coverage(q, Postings(gen, q, gen.alive), rows)
    by_doc = {c.doc_id: coverage[c.row] for c in gen.chunks(rows)}
    assert by_doc["d2"] == pytest.approx(1.0) and 0 < by_doc["d0"] < 1 and by_doc["d1"] == 0 == by_doc["d3"]


def test_article_coverage_counts_a_term_held_anywhere_in_the_article_and_alive(tmp_path):
    commit_docs(tmp_path, {"a": ["Lavrov møtte Tillerson.", "Møtet fant sted i Moskva."], "b": ["Strømprisene steg i Moskva."]})
    commit_docs(tmp_path, {"c": ["Lavrov reiste hjem."], "d": ["Tillerson var i Moskva.", "Lavrov kom senere."]})
    commit_docs(tmp_path, {}, delete=("d",))
    gen = store.open_generation(tmp_path)
    q = analyze("Lavrov Tillerson Moskva")
    postings, rows = Postings(gen, q, gen.alive), np.arange(gen.rows)
    lexical = Lexical(gen)
    article, chunk = lexical.article_coverage(q, postings, rows), lexical.coverage(q, postings, rows)
    by_text = {c.text: (article[c.row], chunk[c.row]) for c in gen.chunks(rows)}
    assert by_text["Lavrov møtte Tillerson."][0] == pytest.approx(1.0) and by_text["Lavrov møtte Tillerson."][1] < 0.9
    assert by_text["Møtet fant sted i Moskva."][0] == pytest.approx(1.0)  # the article holds every term
    for alone in ("Strømprisene steg i Moskva.", "Lavrov reiste hjem."):  # one-chunk articles: as the chunk
        assert by_text[alone][0] == pytest.approx(by_text[alone][1]) and 0 < by_text[alone][0] < 1
    assert by_text["Lavrov kom senere."][0] == 0 == by_text["Tillerson var i Moskva."][0]  # deleted d: no live row
    start, end = gen.doc_spans(rows)  # each row's article as global rows, whichever segment holds it
    for c, s, e in zip(gen.chunks(rows), start, end):
        assert {x.doc_id for x in gen.chunks(np.arange(s, e))} == {c.doc_id} and s <= c.row < e
        assert (s == 0 or gen.chunks([s - 1])[0].doc_id != c.doc_id) and (e == gen.rows or gen.chunks([e])[0].doc_id != c.doc_id)


def test_deleted_rows_have_no_postings(tmp_path):
    commit_docs(tmp_path, {f"d{i}": [r] for i, r in enumerate(ROWS)})
    commit_docs(tmp_path, {}, delete=("d0",))
    gen = store.open_generation(tmp_path)
    q = analyze("Lavrov")
    rows, _ = Lexical(gen).bm25(q, Postings(gen, q, gen.alive))
    assert {c.doc_id for c in gen.chunks(rows)} == {"d2"}


def test_sentence_scores_by_string_search_equal_counting_word_by_word(tmp_path):
    """Repeated terms, terms inside longer words and empty sentences: the same floats as walking every word."""
    import math
    import random
    from collections import Counter

    from semsearch.search.lexical import K1, B

    commit_docs(tmp_path, {f"d{i}": [r] for i, r in enumerate(ROWS)})
    lexical = Lexical(store.open_generation(tmp_path))
    vocab = sorted({t for r in ROWS for t in analyze(r)})
    q = vocab[:4] + vocab[:1]
    words = vocab[:6] + [t + "s" for t in vocab[:4]] + [t[1:] for t in vocab[:4]] + ["x"]  # whole words and parts
    rng = random.Random(4)
    chunks = [[[rng.choice(words) for _ in range(rng.randint(0, 9))] for _ in range(rng.randint(1, 5))] for _ in range(300)]
    got = lexical.sentence_scores(q, [joined_sentences(c) for c in chunks])
    wanted = Counter(q)
    df = Counter()
    for segment in lexical.gen.segments:
        df.update(segment.sentence_df(list(wanted)))
    idf = {t: math.log(1 + (lexical.n_sentences - df[t] + 0.5) / (df[t] + 0.5)) for t in wanted if df[t]}
    assert len(idf) == 4
    for chunk, scores in zip(chunks, got):
        expected = []
        for sentence in chunk:
            hits = [w for w in sentence if w in idf]
            norm = K1 * ((1 - B) + B * max(len(sentence), 1) / lexical.avg_sentence_len)
            expected.append(sum(wanted[t] * idf[t] * tf / (norm + tf) for t, tf in Counter(hits).items()) if hits else 0.0)
        assert scores == expected
