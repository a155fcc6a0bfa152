"""Reading articles: dates, headings, captions and boilerplate, on the real corpus files."""

from __future__ import annotations

import pytest
from conftest import CORPUS

from semsearch.errors import SemsearchError
from semsearch.reading.articles import classify_line, corpus_files, parse_article, read_article, read_corpus


def _kinds(article, kind):
    return [article.text[b.start : b.end] for b in article.blocks if b.kind == kind]


def test_reads_every_corpus_file_with_its_date():
    articles = {a.doc_id: a for a in read_corpus(CORPUS)}
    assert sorted(articles) == [p.stem for p in sorted(CORPUS.glob("*.txt"))]
    assert articles["001_b8141d4232c9699a"].date == "2017-04"
    assert articles["002_836414523c5bffee"].date == "2017-11"
    assert articles["004_4cfd5266a7c9d98f"].date == "2022-01"
    for a in articles.values():
        assert a.text == (CORPUS / f"{a.doc_id}.txt").read_text(encoding="utf-8")
        assert all("date 20" not in a.text[b.start : b.end] for b in a.blocks)


def test_lead_paragraph_follows_the_date_on_the_first_line():
    a = read_article("001", CORPUS / "001_b8141d4232c9699a.txt")
    first = a.blocks[0]
    assert first.kind == "paragraph"
    assert a.text[first.start : first.end].startswith("Tillerson understreket")


def test_subheadings_captions_and_boilerplate():
    a000 = read_article("000", CORPUS / "000_d62e217e901e70a7.txt")
    assert _kinds(a000, "heading") == ["Uklart utfall", "Møter Lavrov"]
    a001 = read_article("001", CORPUS / "001_b8141d4232c9699a.txt")
    assert _kinds(a001, "heading") == ["– Åpne samtaler", "FN-gransking", "Ord mot ord"]
    assert _kinds(a001, "boilerplate") == ["(©NTB)"]
    a002 = read_article("002", CORPUS / "002_836414523c5bffee.txt")
    assert _kinds(a002, "boilerplate") == ["Mest sett siste uken"]
    a003 = read_article("003", CORPUS / "003_ec6115b10a9998e0.txt")
    captions = _kinds(a003, "caption")
    assert len(captions) == 1 and captions[0].startswith("BIDRAR NOK:") and captions[0].endswith("Foto: Gro Holm")


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("Uklart utfall", "heading"),
        ("– Massive konsekvenser", "heading"),
        ("ANKOMMER: Utenriksminister Anthony Blinken ankommer møtet Foto: Alex Brandon / AFP", "caption"),
        ("(©NTB)", "boilerplate"),
        ("Mest sett siste uken", "boilerplate"),
        ("– Det vil få massive konsekvenser, sa Blinken.", "paragraph"),
        ("Han sa «nei»", "heading"),
        ("Dette er en vanlig setning som slutter med punktum.", "paragraph"),
    ],
)
def test_classify_line(line, kind):
    assert classify_line(line) == kind


def test_first_line_headline_is_the_title_without_a_date():
    a = parse_article("nq", "Pressetopper slår alarm\nFørste avsnitt er her.\n")
    assert a.date is None and a.title == "Pressetopper slår alarm"


def test_missing_or_empty_corpus_folder(tmp_path):
    with pytest.raises(SemsearchError, match="does not exist"):
        corpus_files(tmp_path / "nope")
    (tmp_path / "notes.md").write_text("x")
    with pytest.raises(SemsearchError, match="no .txt files"):
        corpus_files(tmp_path)


def test_nested_files_get_relative_ids(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.txt").write_text(" date 2020-01 Tekst her.")
    assert list(corpus_files(tmp_path)) == ["a/b/x"]


def test_non_utf8_and_empty_files_warn_and_are_skipped(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes("Blåbær".encode("latin-1"))
    with pytest.warns(UserWarning, match="bad.txt.*not UTF-8"):
        assert read_article("bad", bad) is None
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\n")
    with pytest.warns(UserWarning, match="empty.txt.*empty"):
        assert read_article("empty", empty) is None
