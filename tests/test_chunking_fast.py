"""The fast chunker gives exactly the reference chunker's chunks, and its token counter the model's counts.

The oracle is tests/reference_chunker.py: the straightforward algorithm (one counter call per section,
chunk and word of an over-long sentence) as it stood before the fast chunker.
"""

from __future__ import annotations

import gzip
import json
import pickle
from itertools import islice
from pathlib import Path

import pytest
import reference_chunker
from conftest import CORPUS, ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from semsearch.chunking import ChunkParams, chunk_article, chunk_many, split_sentences
from semsearch.embedding import Embedder, tokenizer
from semsearch.embedding.models import resolve_model
from semsearch.embedding.tokenizer import SHELL_JSON, TOKENIZER_JSON, TokenizerCounter
from semsearch.reading.articles import parse_article, read_corpus

DATA = ROOT.parent / "shared" / "data"
PARAMS = [
    ChunkParams(),
    ChunkParams(target_tokens=64, max_tokens=128, overlap_tokens=20),
    ChunkParams(target_tokens=40, max_tokens=48, overlap_tokens=12, with_title=False),
    ChunkParams(target_tokens=24, max_tokens=30, overlap_tokens=30),
]


@pytest.fixture(scope="module")
def embedder(tiny_model):
    return Embedder(resolve_model(str(tiny_model)))


def _key(chunks) -> list[tuple]:
    return [(c.id, c.doc_id, c.position, c.start, c.end, c.text, c.heading, c.date, c.title, c.tokens) for c in chunks]


class _Endless(Exception):
    """The reference chunker never ends on some articles: it loops over the same chunk."""


def _outcome(chunker, article, count, params, prompt, max_calls=3000):
    """The chunks, or the error, that a chunker gives: both must agree on either."""
    calls = 0

    def counting(texts):
        nonlocal calls
        calls += 1
        if calls > max_calls:
            raise _Endless
        return count(texts)

    try:
        return _key(chunker(article, counting, params, prompt))
    except ValueError as e:
        return f"ValueError: {e}"
    except _Endless:
        return "endless"


def _fast(article, count, params, prompt):
    return next(chunk_many([article], count, params, prompt))


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("prompt", ["", "passage: "])
def test_same_chunks_as_the_reference_on_the_corpus(embedder, params, prompt):
    articles = list(read_corpus(CORPUS))
    expected = [_key(reference_chunker.chunk_article(a, embedder.count_tokens, params, prompt)) for a in articles]
    assert sum(map(len, expected)) > 20
    assert [_key(cs) for cs in chunk_many(articles, embedder.count_tokens, params, prompt)] == expected
    assert [_key(chunk_article(a, embedder.count_tokens, params, prompt)) for a in articles] == expected


_WORDS = (
    "Regjeringen vil bruke mer penger på skole og sykehus i Oslo Bergen bl.a. f.eks. ca. nr. kl. 12 1990 2.5"
    " A. B. «Nei» sa han – Vi vet ikke «Ja!» (NTB) Foto: Støre Æsj Øst Ålesund Über É dvs. osv. 3,14"
    " Regjeringskvartalet sikkerhetspolitiske utenriksministeren".split()
)
_word = st.sampled_from(_WORDS) | st.text(alphabet="abcæøåXYZ0123456789-'.", min_size=1, max_size=14)
_sentence = st.builds(
    lambda words, end: " ".join(words) + end,
    st.lists(_word, min_size=1, max_size=60),
    st.sampled_from([".", "!", "?", "…", ".»", "", ":"]),
)
_line = st.one_of(
    st.builds(lambda ss, sep: sep.join(ss), st.lists(_sentence, min_size=1, max_size=8), st.sampled_from([" ", "  ", " \t"])),
    st.lists(_word, min_size=1, max_size=6).map(" ".join),  # headings
    st.builds(lambda s, who: f"{s} Foto: {who}", _sentence, _word),  # captions
    st.sampled_from(["(©NTB)", "Les også: Noe annet", "Mest sett", "", "   "]),
    st.text(max_size=80),  # anything at all
    st.lists(_word, min_size=80, max_size=250).map(" ".join),  # far over any budget
)
_article_text = st.builds(
    lambda date, lines, sep: (" date 2020-01 " if date else "") + sep.join(lines),
    st.booleans(),
    st.lists(_line, min_size=1, max_size=14),
    st.sampled_from(["\n", "\n\n", "\r\n"]),
)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(text=_article_text, params=st.sampled_from(PARAMS), prompt=st.sampled_from(["", "passage: "]))
def test_same_chunks_as_the_reference_on_generated_articles(embedder, text, params, prompt):
    article = parse_article("generated", text)
    expected = _outcome(reference_chunker.chunk_article, article, embedder.count_tokens, params, prompt)
    got = _outcome(_fast, article, embedder.count_tokens, params, prompt)
    if expected == "endless":  # where the reference loops forever, the fast chunker ends (or refuses the budget)
        assert (isinstance(got, list) and got) or str(got).startswith("ValueError: max_tokens="), got
    else:
        assert got == expected
    for chunk in got if isinstance(got, list) else []:
        assert text[chunk[3] : chunk[4]] == chunk[5]


def test_many_articles_in_worker_processes_give_the_same_chunks(embedder, tiny_model):
    articles = list(read_corpus(CORPUS))
    params = PARAMS[1]
    expected = [_key(reference_chunker.chunk_article(a, embedder.count_tokens, params, "")) for a in articles]
    counter = TokenizerCounter(tiny_model / "tokenizer.json")
    assert [_key(cs) for cs in chunk_many(articles, counter, params, "", batch=3, processes=2)] == expected


def _texts_of(articles) -> list[str]:
    """Sentences and passages, as the chunker counts them, plus the raw lines."""
    out = []
    for a in articles:
        out += [a.text[s:e] for b in a.blocks for s, e in split_sentences(a.text, b.start, b.end)]
        out += [a.text[b.start : b.end] for b in a.blocks]
    return out


def test_tokenizer_counter_gives_the_models_counts(embedder, tiny_model):
    counter = TokenizerCounter(tiny_model / "tokenizer.json")
    texts = _texts_of(read_corpus(CORPUS)) + ["", " ", "[CLS] inni", "x[MASK]y", "ﬁne … ¨x", "a\u00a0b\u200bc", "É" * 300]
    assert counter(texts) == embedder.count_tokens(texts)


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(st.text(max_size=60) | _article_text, min_size=1, max_size=5))
def test_tokenizer_counter_matches_encode_on_any_text(embedder, tiny_model, metaspace_tokenizer, texts):
    for path in (tiny_model / "tokenizer.json", metaspace_tokenizer):
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(path))
        assert TokenizerCounter(path)(texts) == [len(e.ids) for e in tok.encode_batch(texts)]


# Text in scripts outside a charset vocabulary's base characters (Latin-1, punctuation): pieces of them are trained.
_OTHER_SCRIPTS = ["Привет мир, как дела в Москве?", "Ελληνικά κείμενα για την Αθήνα", "日本語のテキストと中文文本", "Ωμέγα ωραία"]


@pytest.fixture(scope="module")
def metaspace_tokenizer(tmp_path_factory) -> Path:
    """A small Unigram tokenizer with e5's kind of pipeline (normaliser, Metaspace), trained on corpus/."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    specials = ["<s>", "</s>", "<unk>", "<pad>", "<mask>"]
    trainer = trainers.UnigramTrainer(vocab_size=600, special_tokens=specials, unk_token="<unk>", show_progress=False)
    tok.train_from_iterator([a.text for a in read_corpus(CORPUS)] + _OTHER_SCRIPTS * 20, trainer)
    ids = [(t, tok.token_to_id(t)) for t in ("<s>", "</s>")]
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=ids)
    path = tmp_path_factory.mktemp("metaspace") / "tokenizer.json"
    tok.save(str(path))
    return path


def test_metaspace_tokenizer_takes_the_string_method_path(metaspace_tokenizer):
    counter = TokenizerCounter(metaspace_tokenizer)
    assert counter._tokenizer is None  # loaded on the first count only
    counter(["hei"])
    assert counter._metaspace  # the fast path is what the generated-text test above exercises
    texts = _texts_of(read_corpus(CORPUS)) + ["▁▁ a", "a▁b", " \u3000x\u2003y ", "<mask> hei", ""]
    from tokenizers import Tokenizer

    assert counter(texts) == [len(e.ids) for e in Tokenizer.from_file(str(metaspace_tokenizer)).encode_batch(texts)]


@pytest.fixture(scope="module")
def lazy_export(metaspace_tokenizer, tmp_path_factory) -> tuple[Path, dict]:
    """The lazy Unigram form of the metaspace tokenizer, as an ONNX export writes it."""
    out = tmp_path_factory.mktemp("lazy")
    info = tokenizer.write(metaspace_tokenizer, out, {"max_seq_length": 512, "pad_token": "<pad>", "do_lower_case": False})
    assert info is not None
    return out, info


def _lazy_counter(lazy_export, **options) -> TokenizerCounter:
    """The counter of a small update: each new word cut lazily (see `Embedder.token_counter`)."""
    folder, info = lazy_export
    return TokenizerCounter(folder / SHELL_JSON, lazy=info, **options)


@pytest.mark.parametrize("switch_after", [1, 40, 10**9])
def test_lazy_counter_counts_as_the_whole_tokenizer_and_switches_to_a_charset_vocabulary_only_past_its_threshold(
    lazy_export, metaspace_tokenizer, switch_after
):
    from tokenizers import Tokenizer

    texts = _texts_of(read_corpus(CORPUS)) + ["▁▁ a", "a▁b", " \u3000x\u2003y ", "", "É" * 300, "ﬁne … ¨x"]
    expected = [len(e.ids) for e in Tokenizer.from_file(str(metaspace_tokenizer)).encode_batch(texts)]
    counter = _lazy_counter(lazy_export, switch_after=switch_after)
    assert counter(texts) == expected
    assert counter.switched == (switch_after < 10**9) and counter.lazy_words == min(switch_after, counter.lazy_words)
    assert pickle.loads(pickle.dumps(counter))(texts[::7]) == expected[::7]


def test_lazy_counter_counts_a_text_with_an_added_token_lazily_too(lazy_export, metaspace_tokenizer):
    from tokenizers import Tokenizer

    counter = _lazy_counter(lazy_export)
    assert counter(["hei på deg"]) and not counter.switched
    texts = ["<mask> hei", "x</s>y", "hei", "<mask>Привет</s>  x"]
    assert counter(texts) == [len(e.ids) for e in Tokenizer.from_file(str(metaspace_tokenizer)).encode_batch(texts)]
    assert not counter.switched  # a text holding an added token is encoded on a model of its own words' pieces


_TOKENIZER_META = {"max_seq_length": 512, "pad_token": "<pad>", "do_lower_case": False}


def _whole(folder: Path) -> tokenizer.Tokenizer:
    """An encoder's tokenizer on the whole tokenizer.json, as it is."""
    return tokenizer.Tokenizer(tokenizer.open_tokenizer(folder / TOKENIZER_JSON, _TOKENIZER_META))


def _on(folder: Path, vocabulary) -> tokenizer.Tokenizer:
    """An encoder's tokenizer as a bulk build makes it: the export's shell on a charset vocabulary."""
    return tokenizer.for_encoder(folder, {"tokenizer": _TOKENIZER_META, "lazy_tokenizer": vocabulary.info}, vocabulary)


def test_a_charset_vocabulary_tokenizes_and_counts_as_the_whole_one_and_grows_by_script(lazy_export):
    """A bulk build's tokenizer and counter share a Unigram model of only the pieces made of the characters met so
    far (Latin-1 and punctuation to start with): the ids and counts of the whole vocabulary, with pieces of another
    script added when its text comes."""
    import numpy as np

    folder, info = lazy_export
    whole = _whole(folder)
    vocabulary = tokenizer.CharsetVocabulary(folder, info)
    charset = _on(folder, vocabulary)
    counter = TokenizerCounter(folder / SHELL_JSON, vocabulary=lambda: vocabulary)
    norwegian = _texts_of(read_corpus(CORPUS))
    others = _OTHER_SCRIPTS + ["<mask> Привет", "x</s>Ωμέγα", *tokenizer._SELF_CHECK_TEXTS]
    expected = [len(e.ids) for e in counter_whole(folder).encode_batch(norwegian + others)]

    for batch, builds in ((norwegian, 1), (others, 2), (norwegian + others, 2)):
        for ours, theirs in zip(charset(batch), whole(batch), strict=True):
            np.testing.assert_array_equal(ours, theirs)
        assert vocabulary.builds == builds
        if batch is norwegian:  # no Cyrillic piece yet, and no more pieces than Latin text needs
            _, found = vocabulary.covering(set())
            assert "Привет" not in str(list(found)) and len(found) < len(np.load(folder / "unigram_scores.npy"))
    assert counter(norwegian + others) == expected and vocabulary.builds == 2
    copy = pickle.loads(pickle.dumps(counter))  # a process pool's copy: the whole tokenizer.json
    assert copy.path == folder / TOKENIZER_JSON and copy(others) == expected[len(norwegian) :]


def test_a_charset_vocabulary_made_ahead_already_covers_what_news_holds_besides_its_letters(lazy_export):
    """A build makes the vocabulary ahead, before any text (beside the graph's compilation): its base holds the
    word-start mark every word carries, Latin Extended names, typographic punctuation, symbols and emoji, so
    Norwegian news needs no second build (each one holds the GIL ~0.2 s for e5)."""
    import numpy as np

    folder, info = lazy_export
    whole = _whole(folder)
    vocabulary = tokenizer.CharsetVocabulary(folder, info)
    vocabulary.covering(frozenset())
    charset = _on(folder, vocabulary)
    texts = _texts_of(read_corpus(CORPUS)) + ["Łukasz Şahin møtte Dvořák i Kraków 😀👍🏳️‍🌈 – «sa» … ⚠ → № ½ ✓"]
    for ours, theirs in zip(charset(texts), whole(texts), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert vocabulary.builds == 1


def test_a_charset_vocabulary_takes_every_piece_at_its_last_build(lazy_export, monkeypatch):
    """Text of many scripts would rebuild it at every new block: its MAX_BUILDS-th build takes the whole vocabulary."""
    import numpy as np

    monkeypatch.setattr(tokenizer, "MAX_BUILDS", 2)
    folder, info = lazy_export
    whole = _whole(folder)
    vocabulary = tokenizer.CharsetVocabulary(folder, info)
    charset = _on(folder, vocabulary)
    for batch in (["hei på deg"], ["Привет мир"], _OTHER_SCRIPTS, ["日本語 😀 Ωμέγα"]):
        for ours, theirs in zip(charset(batch), whole(batch), strict=True):
            np.testing.assert_array_equal(ours, theirs)
    _, found = vocabulary.covering({"\U0001f600"})
    assert vocabulary.builds == 2 and len(found) == len(np.load(folder / "unigram_scores.npy"))


def counter_whole(folder: Path):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(folder / TOKENIZER_JSON))


@pytest.fixture(scope="module")
def shared_vocabulary(lazy_export):
    """One charset vocabulary for every generated example: it grows as they bring new characters."""
    return tokenizer.CharsetVocabulary(*lazy_export)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(max_size=60) | _article_text, min_size=1, max_size=5))
def test_a_charset_vocabulary_matches_the_whole_one_on_any_text(lazy_export, shared_vocabulary, texts):
    import numpy as np

    folder, _ = lazy_export
    whole = counter_whole(folder)
    counts = TokenizerCounter(folder / SHELL_JSON, vocabulary=lambda: shared_vocabulary)(texts)
    assert counts == [len(e.ids) for e in whole.encode_batch(texts)]
    charset = _on(folder, shared_vocabulary)
    for ours, theirs in zip(charset(texts), _whole(folder)(texts), strict=True):
        np.testing.assert_array_equal(ours, theirs)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(max_size=60) | _article_text, min_size=1, max_size=5))
def test_the_lazy_tokenizer_of_queries_gives_the_whole_ones_ids_on_any_text(lazy_export, texts):
    """A query's tokenizer (the export's lazy form, no vocabulary built) gives exactly tokenizer.json's ids."""
    import numpy as np

    folder, info = lazy_export
    lazy = tokenizer.for_encoder(folder, {"tokenizer": _TOKENIZER_META, "lazy_tokenizer": info})
    assert isinstance(lazy.vocabulary, tokenizer.LazyVocabulary)
    for ours, theirs in zip(lazy(texts), _whole(folder)(texts), strict=True):
        np.testing.assert_array_equal(ours, theirs)


@settings(max_examples=100, deadline=None)
@given(texts=st.lists(st.text(max_size=60) | _article_text, min_size=1, max_size=5))
def test_lazy_counter_matches_encode_on_any_text(lazy_export, metaspace_tokenizer, texts):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(metaspace_tokenizer))
    assert _lazy_counter(lazy_export, switch_after=10**9)(texts) == [len(e.ids) for e in tok.encode_batch(texts)]


@pytest.mark.slow
def test_same_chunks_as_the_reference_on_norquad_and_norec_with_e5():
    docs = DATA / "norquad-news" / "docs"
    reviews = DATA / "norec" / "norec-nb.jsonl.gz"
    if not docs.is_dir() or not reviews.is_file():
        pytest.skip(f"needs {docs} and {reviews} (the shared data sets)")
    e5 = Embedder(resolve_model(None))
    with gzip.open(reviews, "rt", encoding="utf-8") as f:
        norec = [parse_article(str(r["id"]), f"{r['title']}\n{r['text']}") for r in map(json.loads, islice(f, 300))]
    counter = TokenizerCounter(e5.spec.path / "tokenizer.json")
    counter(["hei"])
    assert counter._metaspace
    prompt = e5.prompts["passage"]
    for articles in (list(read_corpus(docs)), norec):
        expected = [_key(reference_chunker.chunk_article(a, e5.count_tokens, ChunkParams(), prompt)) for a in articles]
        assert [_key(cs) for cs in chunk_many(articles, e5.count_tokens, ChunkParams(), prompt)] == expected
        assert [_key(cs) for cs in chunk_many(articles, counter, ChunkParams(), prompt)] == expected
