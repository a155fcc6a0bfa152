"""Generated file names and contents: readers never raise, every problem is one ReadWarning line."""

from __future__ import annotations

import json
import os
import tempfile
import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from semsearch.errors import SemsearchError
from semsearch.reading import READERS, ReadWarning, iter_documents

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SUFFIXES = sorted(READERS)

name_bytes = st.binary(min_size=1, max_size=40).filter(lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b".."))
words = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | words,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(words, inner, max_size=3),
    max_leaves=8,
)
sentences = st.lists(words, min_size=1, max_size=4).map(lambda parts: ". ".join(parts) + ".")
dates = st.sampled_from(["2019", "2019-06", "2019-06-31", "2019-06-30T10:00:00+02:00", "i går", ""]) | json_values
records = st.fixed_dictionaries(
    {"id": words | st.integers() | json_values, "text": sentences | json_values},
    optional={"title": words | json_values, "date": dates, "url": words, "source": json_values, "tags": json_values},
) | st.dictionaries(words, json_values, max_size=4)
contents = st.binary(max_size=600) | st.text(max_size=600).map(lambda t: t.encode("utf-8", "surrogatepass"))


def _check(folder: bytes) -> list:
    """Read `folder`; assert the contract; return the documents."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            docs = list(iter_documents(os.fsdecode(folder), max_file_size=20_000))
        except SemsearchError as e:
            assert "\n" not in str(e)
            docs = []
    for w in caught:
        assert issubclass(w.category, ReadWarning), w.message
        message = str(w.message)
        assert "\n" not in message and message.isprintable(), message
        message.encode("utf-8")
    for doc in docs:
        for value in (doc.doc_id, doc.text, doc.title or "", *map(str, doc.metadata)):
            value.encode("utf-8")
        assert doc.has_text and all(0 <= b.start < b.end <= len(doc.text) for b in doc.blocks)
        assert len({d.doc_id for d in docs}) == len(docs)
    return docs


def _write(folder: bytes, name: bytes, data: bytes) -> None:
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


@SETTINGS
@given(files=st.lists(st.tuples(name_bytes, st.sampled_from(SUFFIXES), contents), min_size=1, max_size=4))
def test_any_names_and_bytes(files):
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.fsencode(tmp)
        for name, suffix, data in files:
            _write(folder, name + suffix.encode(), data)
        _check(folder)


@SETTINGS
@given(text=st.text(max_size=600), suffix=st.sampled_from([".txt", ".md", ".html"]), bom=st.booleans())
def test_any_text_in_one_document_files(text, suffix, bom):
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.fsencode(tmp)
        _write(folder, b"doc" + suffix.encode(), (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8", "surrogatepass"))
        docs = _check(folder)
        assert all(not d.text.startswith("\ufeff") for d in docs)


@SETTINGS
@given(lines=st.lists(records.map(json.dumps) | words, max_size=8))
def test_any_jsonl(lines):
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.fsencode(tmp)
        _write(folder, b"r.jsonl", "\n".join(lines).encode("utf-8", "surrogatepass"))
        _check(folder)


@SETTINGS
@given(
    rows=st.lists(st.lists(sentences | words, max_size=4), max_size=6),
    header=st.permutations(["id", "text", "date", "source"]) | st.lists(st.sampled_from(["id", "text", "date"]) | words),
)
def test_any_csv(rows, header):
    import csv
    import io

    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *rows])
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.fsencode(tmp)
        _write(folder, b"r.csv", buffer.getvalue().encode("utf-8", "surrogatepass"))
        _check(folder)
