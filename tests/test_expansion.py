"""Terms added to a question: dictionary translations of English words, and dense feedback."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from store_helpers import commit_docs, vector_of

from semsearch.index import store
from semsearch.search import FusionParams, LanguageFusion, Searcher
from semsearch.search.expansion import add_terms, feedback, translations
from semsearch.search.lexicon import LEXICON_PATH, compounds, translate

ROWS = {
    "syria": ["Lavrov anklaget USA for å trappe opp konflikten i Syria."],
    "lucca": ["Møtet fant sted i Lucca før Tillerson reiste til Moskva. Lavrov møtte Tillerson."],
    "power": ["Strømprisene steg kraftig i Sør-Norge etter en tørr sommer."],
    "film": ["Filmen er en thriller om en agent i Moskva, med god musikk."],
}


def test_english_words_and_phrases_translate_to_norwegian_index_terms():
    found = translate("How much tax did the minister pay? Where did it take place?")
    firsts = [tuple(t.split("/")[0] for t in group) for group in found]  # each translation, then its other forms
    assert any({"skatt", "skattelegg"} <= set(group) for group in firsts)
    assert any("minist" in t for group in found for t in group)
    assert any("sted" in group for group in found)  # "take place": the phrase, before its words
    assert translate("the of what how did") == [] and translate("Xyzzyq Lavrov") == []


def test_an_acronym_in_capitals_translates_where_its_lower_case_is_a_stop_word():
    assert ("usa",) in translate("How many soldiers does the US have in Syria?")
    assert ("usa",) not in translate("Who gave us the money?")


def test_an_irregular_english_form_finds_every_form_of_the_norwegian_verb():
    won = translations("Who won the final?", 1.0)
    assert {"vinn", "vant", "vunn"} <= set(won) and won["vinn"] == won["vant"] == won["vunn"]
    assert translations("Who wins the final?", 1.0)["vant"] == won["vant"]


def test_the_shipped_word_list_is_small_and_carries_its_licence():
    assert LEXICON_PATH.stat().st_size < 300_000
    notice = (LEXICON_PATH.parent / "LEXICON-LICENSE").read_text(encoding="utf-8")
    assert "CC-BY-SA 3.0" in notice and "FreeDict" in notice and "SCOWL" in notice


def test_added_terms_weigh_less_and_never_lower_the_questions_own():
    extra = translations("tax", 0.5)
    n = len(translate("tax")[0])  # the word's translations share its weight
    assert n > 1 and extra["skatt"] == extra["skattelegg"] == 0.5 / np.sqrt(n) and set(extra.values()) == {0.5 / np.sqrt(n)}
    assert add_terms({"skatt": 1.0}, extra)["skatt"] == 1.0


def test_a_norwegian_verb_translation_brings_its_past_forms():
    assert {"kjøp", "kjøpt"} <= set(translations("Who bought the house?", 1.0))  # kjøpe, kjøpte, kjøpt
    assert {"beskriv", "beskrev"} <= set(translations("How was it described?", 1.0))  # a strong verb behind "be-"


def test_only_translations_the_index_holds_count_and_share_the_word():
    everything = translations("tax", 1.0)
    held = translations("tax", 1.0, known=lambda terms: {"skatt"} & set(terms))
    assert len(everything) > 1 and held == {"skatt": 1.0}  # the one translation held takes the word's whole weight
    assert translations("tax", 1.0, known=lambda terms: set()) == {}


def test_neighbouring_words_find_the_compound_their_translations_make():
    assert "fiskebåt" in {t for group in compounds("Who owns the fishing boat?") for t in group}
    assert "fiskebåt" not in translations("Who owns the fishing boat?", 1.0)  # without an index: never
    held = translations("Who owns the fishing boat?", 1.0, known=lambda terms: {"fiskebåt"} & set(terms))
    assert held == {"fiskebåt": 1.0}


def test_dense_feedback_takes_the_telling_terms_of_the_best_chunks(tmp_path):
    commit_docs(tmp_path, ROWS)
    gen = store.open_generation(tmp_path)
    first = {c.doc_id: c.id for c in gen.chunks(np.arange(gen.rows))}
    rows = np.array([list(first).index("lucca"), list(first).index("syria")])
    terms = feedback(gen, rows, 0.4, 5, skip={"lavrov"})
    assert len(terms) == 5 and "lavrov" not in terms
    assert max(terms.values()) == 0.4 and all(0 < w <= 0.4 for w in terms.values())
    best = max(terms, key=terms.get)
    assert best in {"lucc", "tillerson", "møt", "fant", "sted", "reist", "moskv"}  # the first chunk's terms lead
    assert feedback(gen, rows[:0], 0.4, 5, set()) == {} and feedback(gen, rows, 0.0, 5, set()) == {}


def test_an_english_question_meets_norwegian_text_through_translations(tmp_path):
    commit_docs(tmp_path, ROWS)
    gen = store.open_generation(tmp_path)
    question = "Where did the meeting take place?"
    untranslated = FusionParams(en=replace(FusionParams().en, translations=0.0))
    assert Searcher(gen, embedder=None, fusion=untranslated).search(question, 2, "lexical") == []  # no English term here
    assert FusionParams().en.translations > 0  # translating is the default
    translated = Searcher(gen, embedder=None, fusion=FusionParams())
    assert [r.doc_id for r in translated.search(question, 2, "lexical")][:1] == ["lucca"]
    norwegian = translated.search("Hvor fant møtet sted?", 2, "lexical")
    assert norwegian[0].doc_id == "lucca"  # a Norwegian question is never translated


def test_an_english_phrase_meets_the_norwegian_compound_the_index_holds(tmp_path):
    commit_docs(tmp_path, {**ROWS, "boat": ["Fiskebåten gikk ned utenfor Bodø natt til søndag."]})
    searcher = Searcher(store.open_generation(tmp_path), embedder=None, fusion=FusionParams())
    assert [r.doc_id for r in searcher.search("Where did the fishing boat sink?", 2, "lexical")] == ["boat"]
    assert searcher.search("Where did the boat sink?", 2, "lexical") == []  # "fiskebåten" needs both words


def test_hybrid_feedback_lifts_chunks_sharing_the_best_dense_chunks_terms(tmp_path):
    commit_docs(tmp_path, ROWS)
    gen = store.open_generation(tmp_path)
    question = "Что сказал Лавров?"  # no term meets the index; the dense vector points at the Lucca chunk
    q = vector_of(ROWS["lucca"][0])
    other = LanguageFusion((0.0, 0.0, 1.0, 0.0), feedback=0.5)  # coverage alone: only feedback terms count
    found = Searcher(gen, embedder=None, fusion=FusionParams(other=other, feedback_chunks=1)).search(question, 4, query_vector=q)
    assert found[0].doc_id == "lucca" and found[0].score > 0
    none = Searcher(gen, embedder=None, fusion=FusionParams(other=LanguageFusion((0.0, 0.0, 1.0, 0.0))))
    assert all(r.score == 0 for r in none.search(question, 4, query_vector=q))
