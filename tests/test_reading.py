"""Reading every format from real files the tests write: fields, blocks, and one warning per bad input."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pytest
from conftest import CORPUS

from semsearch.errors import SemsearchError
from semsearch.reading import FieldMap, ReadWarning, iter_documents, list_sources, normalise_date
from semsearch.reading.articles import corpus_files, read_article


def _read(path, **kwargs):
    """Documents and warning messages of one read."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        docs = list(iter_documents(path, **kwargs))
    messages = [str(w.message) for w in caught]
    assert all(issubclass(w.category, ReadWarning) for w in caught), messages
    assert all("\n" not in m for m in messages)
    return docs, messages


def _kinds(doc, kind):
    return [doc.text[b.start : b.end] for b in doc.blocks if b.kind == kind]


def _jsonl(path: Path, rows) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows), "utf-8")
    return path


# --- txt -------------------------------------------------------------------------------------------


def test_txt_folder_reads_like_the_seed_reader():
    docs, messages = _read(CORPUS)
    assert not messages
    assert [d.doc_id for d in docs] == sorted(p.stem for p in CORPUS.glob("*.txt"))
    for doc in docs:
        old = read_article(doc.doc_id, CORPUS / f"{doc.doc_id}.txt")
        assert (doc.text, doc.date, doc.title, doc.blocks) == (old.text, old.date, old.title, old.blocks)
        assert doc.source.endswith(f"{doc.doc_id}.txt") and len(doc.fingerprint) == 64
    assert docs[1].date == "2017-04" and _kinds(docs[0], "heading") == ["Uklart utfall", "Møter Lavrov"]


def test_a_bom_is_stripped_and_the_date_line_still_found(tmp_path):
    data = (CORPUS / "001_b8141d4232c9699a.txt").read_bytes()
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf" + data)
    [doc], messages = _read(tmp_path)
    assert not messages and doc.date == "2017-04" and not doc.text.startswith("\ufeff")
    assert doc.text[doc.blocks[0].start :].startswith("Tillerson understreket")
    assert read_article("bom", tmp_path / "bom.txt").date == "2017-04"


def test_fingerprint_follows_the_content(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text(" date 2020-01 Første setning her.\n", "utf-8")
    [first], _ = _read(tmp_path)
    [again], _ = _read(tmp_path)
    path.write_text(" date 2020-02 Første setning her.\n", "utf-8")
    [changed], _ = _read(tmp_path)
    assert first.fingerprint == again.fingerprint != changed.fingerprint


# --- Markdown --------------------------------------------------------------------------------------

MARKDOWN = """# Lavrov om *Syria*

Russlands [utenriksminister](https://example.org) sa at **angrepet** var uakseptabelt.
Han krevde en gransking.

## Møter Tillerson

- Første punkt i lista.
- Andre punkt

| land | by |
|------|----|
| Russland | Moskva |
"""


def test_markdown_title_headings_and_plain_text(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "lavrov.md").write_text(MARKDOWN, "utf-8")
    [doc], messages = _read(tmp_path)
    assert not messages
    assert doc.doc_id == "notes/lavrov" and doc.title == "Lavrov om Syria"
    assert _kinds(doc, "heading") == ["Lavrov om Syria", "Møter Tillerson"]
    assert "Russlands utenriksminister sa at angrepet var uakseptabelt. Han krevde en gransking." in _kinds(doc, "paragraph")
    assert "Andre punkt" in _kinds(doc, "paragraph") and "Russland | Moskva" in _kinds(doc, "paragraph")
    assert not any(mark in doc.text for mark in ("#", "**", "](", "|---"))


# --- HTML ------------------------------------------------------------------------------------------

PAGE = """<!doctype html><html lang="nb"><head><meta charset="utf-8"><title>Lavrov om Syria | NRK</title>
<meta property="og:title" content="Lavrov om Syria">
<meta property="article:published_time" content="2019-06-12T10:00:00+02:00">
<link rel="canonical" href="https://nrk.no/urix/lavrov-1.123"></head><body>
<header><nav><a href="/">Forsiden</a> <a href="/sport">Sport</a> <a href="/kultur">Kultur</a></nav></header>
<main><article><h1>Lavrov om Syria</h1>
<p>Russlands utenriksminister Sergej Lavrov sa tirsdag at angrepet i Syria var <b>uakseptabelt</b>.
Han krevde en uavhengig gransking.</p>
<h2>Møter Tillerson</h2>
<p>Lavrov møter USAs utenriksminister Rex Tillerson i Moskva onsdag, og de skal diskutere situasjonen.</p>
</article></main>
<footer><p>Kontakt oss om personvern og informasjonskapsler her.</p></footer>
<script>var tracking = "Lavrov";</script></body></html>"""


def test_html_main_text_title_date_and_url(tmp_path):
    (tmp_path / "page.html").write_text(PAGE, "utf-8")
    [doc], messages = _read(tmp_path)
    assert not messages
    assert (doc.doc_id, doc.title, doc.date, doc.url) == (
        "page",
        "Lavrov om Syria",
        "2019-06-12",
        "https://nrk.no/urix/lavrov-1.123",
    )
    assert _kinds(doc, "heading") == ["Lavrov om Syria", "Møter Tillerson"]
    assert any(p.startswith("Russlands utenriksminister") and p.endswith("gransking.") for p in _kinds(doc, "paragraph"))
    assert not any(word in doc.text for word in ("Forsiden", "personvern", "tracking"))


def test_a_small_page_is_read_whole_and_a_page_without_text_is_named(tmp_path):
    (tmp_path / "small.htm").write_text("<html><head><title>Kort</title></head><body><p>Hei på deg.</p></body></html>", "utf-8")
    (tmp_path / "blank.html").write_text("<html><head><title>Bare tittel</title></head><body> </body></html>", "utf-8")
    docs, messages = _read(tmp_path)
    assert [(d.doc_id, d.title, _kinds(d, "paragraph")) for d in docs] == [("small", "Kort", ["Hei på deg."])]
    assert len(messages) == 1 and "blank.html" in messages[0] and "no text" in messages[0]


# --- JSONL -----------------------------------------------------------------------------------------


def test_jsonl_records_with_metadata_dates_and_urls(tmp_path):
    rows = [
        {
            "id": "a1",
            "title": "Lavrov",
            "date": "2019-06-12T10:00:00+02:00",
            "url": "https://nrk.no/a1",
            "source": "nrk",
            "lang": "nb",
            "words": 120,
            "score": 0.5,
            "paywall": False,
            "text": "Lavrov sa nei. Det var alt.",
        },
        {"id": 7, "date": "2019", "tags": ["a", "b"], "note": None, "text": "Overskrift her\nBrødtekst kommer så."},
        {"id": "a3", "date": "2019-06", "text": " date 2017-04 Seed-tekst fra før."},
    ]
    [a1, a7, a3], messages = _read(_jsonl(tmp_path / "news.jsonl", rows))
    assert (a1.doc_id, a1.title, a1.date, a1.url) == ("a1", "Lavrov", "2019-06-12", "https://nrk.no/a1")
    assert a1.metadata == {"source": "nrk", "lang": "nb", "words": 120, "score": 0.5, "paywall": False}
    assert (a7.doc_id, a7.title, a7.date, a7.metadata) == ("7", "Overskrift her", "2019", {})
    assert a3.date == "2019-06" and a3.text[a3.blocks[0].start :] == "Seed-tekst fra før."
    assert a1.source.endswith("news.jsonl:1") and a3.source.endswith("news.jsonl:3")
    assert len(messages) == 1 and "news.jsonl:2" in messages[0] and "'tags'" in messages[0]


def test_jsonl_bad_lines_are_named_and_the_rest_is_read(tmp_path):
    rows = [
        {"id": "ok1", "text": "Første gode post."},
        '{"id": "broken", "text": ',
        {"title": "Uten id", "text": "Tekst uten id."},
        {"id": "notext", "title": "Uten tekst"},
        {"id": "ok1", "text": "Samme id igjen."},
        {"id": "baddate", "date": "12. juni 2019", "text": "Dato som ikke er ISO."},
        "[1, 2]",
        "",
        {"id": "captiononly", "text": "Foto: NTB scanpix"},
        {"id": "headline", "text": "Lavrov møtte Tillerson i Moskva"},  # one line, no full stop: still its text
        {"id": "ok2", "text": "Andre gode post."},
    ]
    docs, messages = _read(_jsonl(tmp_path / "bad.jsonl", rows))
    assert [(d.doc_id, d.date) for d in docs] == [("ok1", None), ("baddate", None), ("headline", None), ("ok2", None)]
    assert [b.kind for b in docs[2].blocks] == ["paragraph"] and docs[2].title == "Lavrov møtte Tillerson i Moskva"
    expected = {
        2: "not JSON",
        3: "no 'id' field",
        4: "no 'text' field",
        5: "duplicate id 'ok1'",
        6: "not ISO 8601",
        7: "not an object",
        9: "no text to index",
    }
    assert len(messages) == len(expected)
    for line, phrase in expected.items():
        assert any(f"bad.jsonl:{line}'" in m and phrase in m for m in messages), (line, messages)
    duplicate = next(m for m in messages if "duplicate" in m)
    assert "bad.jsonl:1" in duplicate


def test_duplicate_ids_across_files_name_both_places(tmp_path):
    _jsonl(tmp_path / "a.jsonl", [{"id": "x", "text": "Første utgave."}])
    _jsonl(tmp_path / "b.jsonl", [{"id": "x", "text": "Andre utgave."}])
    (tmp_path / "x.txt").write_text("Tredje utgave av samme id.", "utf-8")
    docs, messages = _read(tmp_path)
    assert [d.text for d in docs] == ["Første utgave."]
    assert len(messages) == 2 and all("a.jsonl:1" in m and "duplicate id 'x'" in m for m in messages)
    assert "b.jsonl:1" in messages[0] and "x.txt" in messages[1]


def test_field_map_reads_other_names(tmp_path):
    fields = FieldMap(id="nid", text="body", title="headline", date="published")
    assert FieldMap.from_dict(fields.to_dict()) == fields and FieldMap.from_dict({}) == FieldMap()
    rows = [{"nid": "n1", "body": "Teksten står her.", "headline": "Tittel", "published": "2020-02-03", "id": "legacy"}]
    [doc], messages = _read(_jsonl(tmp_path / "cms.jsonl", rows), fields=fields)
    assert not messages
    assert (doc.doc_id, doc.title, doc.date, doc.metadata) == ("n1", "Tittel", "2020-02-03", {"id": "legacy"})
    with pytest.raises(ValueError, match="unknown field roles"):
        FieldMap.from_dict({"body": "x"})
    with pytest.raises(ValueError, match="share one field name"):
        FieldMap(id="x", text="x")


# --- CSV -------------------------------------------------------------------------------------------


def test_csv_records_quoted_multiline_text_and_semicolons(tmp_path):
    rows = [
        "id,title,date,source,text",
        'c1,Tittel,2021-03-04,nrk,"Første linje.\nAndre linje, med komma."',
        "c2,,2021,vg,Kort tekst.",
    ]
    (tmp_path / "a.csv").write_text("\n".join(rows) + "\n", "utf-8")
    (tmp_path / "b.csv").write_text("id;text;lang\nc3;Semikolon-separert tekst.;nb\n", "utf-8")
    docs, messages = _read(tmp_path)
    assert not messages
    c1, c2, c3 = docs
    assert (c1.doc_id, c1.title, c1.date, c1.metadata) == ("c1", "Tittel", "2021-03-04", {"source": "nrk"})
    assert c1.text == "Første linje.\nAndre linje, med komma." and c2.title is None
    assert c2.source.endswith("a.csv:4") and (c3.doc_id, c3.metadata) == ("c3", {"lang": "nb"})


def test_csv_missing_column_and_short_rows_are_named(tmp_path):
    (tmp_path / "nocol.csv").write_text("id,body\nx,Tekst her.\n", "utf-8")
    (tmp_path / "rows.csv").write_text("id,text,source\nr1,God rad her.,nrk\nr2,Kort rad\nr3,Også god.,vg\n", "utf-8")
    docs, messages = _read(tmp_path)
    assert [d.doc_id for d in docs] == ["r1", "r3"]
    assert len(messages) == 2
    assert "nocol.csv'" in messages[0] and "no 'text' column (columns: id, body)" in messages[0] and "--text-field" in messages[0]
    assert "rows.csv:3'" in messages[1] and "2 cells for 3 columns" in messages[1]


def test_csv_open_quotes_and_repeated_columns_are_named_not_swallowed(tmp_path):
    """Read leniently, a quote left open took every later row into one cell, silently; a repeated column
    silently gave its last cell."""
    (tmp_path / "a-open.csv").write_text('id,text\nu0,Først.\nu1,"Åpent sitat fortsetter\nu2,Neste rad.\n', "utf-8")
    (tmp_path / "b-mid.csv").write_text('id,text\nx1,"a"b tekst.\ny1,God tekst her.\n', "utf-8")
    (tmp_path / "c-twice.csv").write_text("id,text,text\nt1,En,To.\n", "utf-8")
    docs, messages = _read(tmp_path)
    assert [d.doc_id for d in docs] == ["u0", "y1"]
    assert "a-open.csv:3'" in messages[0] and "unexpected end of data" in messages[0] and "quotes" in messages[0]
    assert "b-mid.csv:2'" in messages[1] and "quotes" in messages[1]
    assert "c-twice.csv'" in messages[2] and "'text' more than once" in messages[2] and len(messages) == 3


# --- files and folders -----------------------------------------------------------------------------


def test_list_sources_walks_sorted_with_size_and_mtime(tmp_path):
    (tmp_path / "b" / "c").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    for name in ("b/c/z.txt", "a.md", "b/y.jsonl", ".hidden/x.txt", ".swap.txt", "notes.pdf", "B.HTML"):
        (tmp_path / name).write_text("Tekst her.", "utf-8")
    sources = list_sources(tmp_path)
    assert [s.name for s in sources] == ["B.HTML", "a.md", "b/c/z.txt", "b/y.jsonl"]
    for s in sources:
        info = os.stat(s.path)
        assert (s.size, s.mtime_ns) == (info.st_size, info.st_mtime_ns)
    assert [s.name for s in list_sources(tmp_path / "b" / "c" / "z.txt")] == ["z.txt"]
    with pytest.raises(SemsearchError, match="does not exist"):
        list_sources(tmp_path / "nope")
    with pytest.raises(SemsearchError, match="give a folder or a file named"):
        list_sources(tmp_path / "notes.pdf")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SemsearchError, match="holds no file to read"):
        list_sources(tmp_path / "empty")


def test_the_walk_follows_links_to_files_not_to_folders_and_warns_about_a_dangling_one(tmp_path):
    corpus, elsewhere = tmp_path / "corpus", tmp_path / "elsewhere"
    (elsewhere / "deep").mkdir(parents=True)
    (elsewhere / "deep" / "far.txt").write_text("Tekst her.", "utf-8")
    (elsewhere / "one.txt").write_text("Annen tekst.", "utf-8")
    corpus.mkdir()
    (corpus / "own.txt").write_text("Egen tekst.", "utf-8")
    (corpus / "linked.txt").symlink_to(elsewhere / "one.txt")
    (corpus / "folder").symlink_to(elsewhere / "deep", target_is_directory=True)  # as os.walk: not entered
    (corpus / "gone.txt").symlink_to(tmp_path / "missing.txt")
    with pytest.warns(ReadWarning, match="gone.txt.*cannot be read"):
        sources = list_sources(corpus)
    assert [s.name for s in sources] == ["linked.txt", "own.txt"]
    assert sources[0].size == (elsewhere / "one.txt").stat().st_size  # the link's target, not the link


def test_a_file_name_with_invalid_utf8_is_named_escaped_and_skipped(tmp_path):
    data = (CORPUS / "000_d62e217e901e70a7.txt").read_bytes()
    (tmp_path / "good.txt").write_bytes(data)
    bad = os.path.join(os.fsencode(tmp_path), b"bad\xff\xfe.txt")
    with open(bad, "wb") as f:
        f.write(data)
    docs, messages = _read(tmp_path)
    assert [d.doc_id for d in docs] == ["good"]
    assert len(messages) == 1 and "bad\\xff\\xfe.txt" in messages[0] and "not valid UTF-8" in messages[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert list(corpus_files(tmp_path)) == ["good"]


def test_non_utf8_empty_and_title_only_files_are_named_and_not_counted(tmp_path):
    (tmp_path / "latin1.txt").write_bytes("Blåbær\nEn setning her.".encode("latin-1"))
    (tmp_path / "empty.md").write_text("  \n\n", "utf-8")
    (tmp_path / "title.txt").write_text("Bare en overskrift\n", "utf-8")
    (tmp_path / "ok.txt").write_text("Dette er tekst.", "utf-8")
    docs, messages = _read(tmp_path)
    assert [d.doc_id for d in docs] == ["ok"]
    assert len(messages) == 3
    assert "empty.md" in messages[0] and "empty" in messages[0]
    assert "latin1.txt" in messages[1] and "not UTF-8" in messages[1] and "line 1" in messages[1]
    assert "title.txt" in messages[2] and "no text to index" in messages[2]


def test_size_limits(tmp_path):
    (tmp_path / "big.txt").write_text("Setning her. " * 1000, "utf-8")
    _jsonl(tmp_path / "r.jsonl", [{"id": "huge", "text": "Ord " * 5000 + "."}, {"id": "small", "text": "Kort."}])
    (tmp_path / "long.md").write_text("Ord " * 1500 + "slutt.", "utf-8")
    docs, messages = _read(tmp_path, max_file_size=10_000, max_line_chars=5_000)
    assert [d.doc_id for d in docs] == ["long", "small"]
    assert len(messages) == 3
    assert "big.txt" in messages[0] and "over the 0.01 MB limit" in messages[0] and "--max-file-size" in messages[0]
    assert "long.md" in messages[1] and "line of 6006 characters" in messages[1] and "it is indexed" in messages[1]
    assert "r.jsonl:1" in messages[2] and "record 'huge'" in messages[2]
    docs, messages = _read(tmp_path, max_file_size=None, max_line_chars=100_000)
    assert len(docs) == 4 and not messages


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2019", "2019"),
        ("2019-06", "2019-06"),
        ("2019-06-30", "2019-06-30"),
        ("2019-06-30T23:30:00+02:00", "2019-06-30"),
        ("2019-06-30T23:30:00.123Z", "2019-06-30"),
        ("2019-06-30 08:00", "2019-06-30"),
        (2019, "2019"),
        ("2019-06-31", None),
        ("2019-13", None),
        ("30.06.2019", None),
        ("2019-06-30T25:00", None),
        (True, None),
        ("", None),
    ],
)
def test_normalise_date(value, expected):
    assert normalise_date(value) == expected


def test_a_collector_takes_the_problems_of_its_own_thread_and_no_other(tmp_path):
    """While a `Diagnostics` collector is current, `warn` reports to it and not to the warnings module; another
    thread, with no collector, still warns."""
    import threading

    from semsearch.reading.messages import Diagnostics, DuplicateId, collecting

    (tmp_path / "a.jsonl").write_text('{"id": "x", "text": "Hei."}\n{"id": "x", "text": "Igjen."}\nnot json\n')
    mine = Diagnostics()
    with collecting(mine), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        docs = list(iter_documents(tmp_path / "a.jsonl"))
        other = threading.Thread(target=lambda: list(iter_documents(tmp_path / "a.jsonl")))
        other.start()
        other.join()
    assert [d.doc_id for d in docs] == ["x"] and len(mine.found) == 2 and mine.any(DuplicateId)
    assert [str(w.message) for w in caught] == mine.messages  # the other thread's, the same two problems
