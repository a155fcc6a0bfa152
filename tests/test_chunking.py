"""Chunking: contiguous spans, token budgets, overlap, sentence boundaries."""

from __future__ import annotations

import pytest
from conftest import CORPUS

from semsearch.chunking import ChunkParams, chunk_article, split_sentences
from semsearch.embedding import Embedder
from semsearch.embedding.models import resolve_model
from semsearch.reading.articles import classify_line, parse_article, read_corpus


@pytest.fixture(scope="module")
def embedder(tiny_model):
    return Embedder(resolve_model(str(tiny_model)))


def _chunks(embedder, params=ChunkParams()):
    prompt = embedder.prompts["passage"]
    return [(a, c) for a in read_corpus(CORPUS) for c in chunk_article(a, embedder.count_tokens, params, prompt)]


def test_every_chunk_is_a_contiguous_span_of_its_source(embedder):
    pairs = _chunks(embedder)
    assert len(pairs) > 20
    for article, chunk in pairs:
        source = (CORPUS / f"{article.doc_id}.txt").read_bytes().decode("utf-8")
        assert source[chunk.start : chunk.end] == chunk.text
        assert chunk.text == chunk.text.strip() and chunk.text


def test_no_chunk_exceeds_the_models_token_limit(embedder):
    params = ChunkParams(target_tokens=512, max_tokens=embedder.max_seq_length, overlap_tokens=20)
    prompt = embedder.prompts["passage"]
    for _, chunk in _chunks(embedder, params):
        assert embedder.count_tokens([prompt + chunk.passage(True)])[0] == chunk.tokens <= embedder.max_seq_length


def test_date_and_boilerplate_never_in_chunks_and_captions_never_alone(embedder):
    pairs = _chunks(embedder)
    for _, chunk in pairs:
        assert "date 20" not in chunk.text
        assert "(©NTB)" not in chunk.text and "Mest sett" not in chunk.text
        lines = [ln.strip() for ln in chunk.text.splitlines() if ln.strip()]
        assert any(classify_line(ln) == "paragraph" for ln in lines), chunk.text
    caption = "BIDRAR NOK: Utenriksminister Børge Brende"
    assert any(caption in c.text for _, c in pairs)


def test_headings_open_their_first_chunk_and_are_not_repeated_as_context(embedder):
    chunks = [c for a, c in _chunks(embedder) if a.doc_id == "001_b8141d4232c9699a"]
    first = next(c for c in chunks if c.heading == "FN-gransking")
    assert first.text.startswith("FN-gransking\n\nLavrov sa også")
    assert first.passage(True) == first.text


def test_chunks_carry_their_heading_and_date(embedder):
    chunks = [c for a, c in _chunks(embedder) if a.doc_id == "001_b8141d4232c9699a"]
    by_text = {c.text.split()[0] + str(c.position): c for c in chunks}
    assert any(c.heading == "FN-gransking" and "FN-gransking av angrepet" in c.text for c in chunks), by_text
    assert all(c.date == "2017-04" for c in chunks)
    assert chunks[0].heading is None
    assert [c.position for c in chunks] == list(range(len(chunks)))


def test_neighbouring_chunks_overlap_within_a_section(embedder):
    text = " date 2020-01 " + " ".join(f"Møtet {i} var kort." for i in range(40))
    article = parse_article("short", text)
    chunks = chunk_article(article, embedder.count_tokens, ChunkParams(target_tokens=60, max_tokens=128, overlap_tokens=20), "")
    assert len(chunks) > 3
    for a, b in zip(chunks, chunks[1:]):
        assert a.start < b.start < a.end < b.end  # b starts inside a: they share whole sentences
        assert text[b.start : a.end].endswith(".")


def test_a_sentence_longer_than_the_budget_is_cut_at_words(embedder):
    long = " ".join(["Regjeringen vil bruke mer penger på skole og sykehus"] * 30) + "."
    article = parse_article("long", " date 2020-01 " + long)
    chunks = chunk_article(article, embedder.count_tokens, ChunkParams(target_tokens=64, max_tokens=64), "passage: ")
    assert len(chunks) > 3
    for c in chunks:
        assert article.text[c.start : c.end] == c.text
        assert embedder.count_tokens(["passage: " + c.passage(True)])[0] <= 64


def test_sentence_splitting_respects_abbreviations():
    text = "Han kom bl.a. fra Oslo. Det var ca. 80 drepte. – Vi vet ikke, sa han. Neste setning!"
    spans = split_sentences(text, 0, len(text))
    assert [text[s:e] for s, e in spans] == [
        "Han kom bl.a. fra Oslo.",
        "Det var ca. 80 drepte.",
        "– Vi vet ikke, sa han.",
        "Neste setning!",
    ]


def test_a_caption_longer_than_a_chunk_ends_the_article_instead_of_looping(embedder):
    """A short lead then a caption too long for one chunk used to loop forever (seen on NorQuAD d549)."""
    import signal

    caption = "BILDE: " + " ".join(f"ordnummer{i}" for i in range(400)) + " Foto: Ola Nordmann"
    article = parse_article("caption", f"Kort setning her.\n{caption}\n")
    assert [b.kind for b in article.blocks] == ["paragraph", "caption"]
    previous = signal.signal(signal.SIGALRM, lambda *_: pytest.fail("chunking did not finish in 20 s"))
    signal.alarm(20)
    try:
        chunks = chunk_article(article, embedder.count_tokens, ChunkParams(), embedder.prompts["passage"])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert chunks and chunks[0].text.startswith("Kort setning her.")
    assert all(article.text[c.start : c.end] == c.text for c in chunks)
