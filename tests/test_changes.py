"""A folder build compares the corpus with the index in bulk and reads only what changed: whatever the edits,
the index ends as a fresh build of the same corpus would leave it."""

from __future__ import annotations

import json
import os
import random
import shutil
import warnings

import pytest

import semsearch
from semsearch.embedding import embedder
from semsearch.index import store
from semsearch.ingest import plan
from semsearch.ingest.report import BatchEmbedded, FileRead, FilesPlanned, FileState

WORDS = "Lavrov Syria Oslo strømpris Bergen regjeringen avtalen valget fotball Stortinget kommunen skolen".split()


def _text(rng: random.Random, n: int = 30) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)) + "."


def _stored(index) -> dict[str, tuple[str, str]]:
    """doc_id -> (source, fingerprint) of every live document."""
    return {d.doc_id: (d.source, d.fingerprint) for d in store.open_generation(index).catalog()}


def _read(events: list) -> list[str]:
    """The corpus files a build read, in order, from its events."""
    return [e.source for e in events if isinstance(e, FileRead)]


def _jsonl(records: dict[str, str]) -> str:
    return "".join(json.dumps({"id": k, "text": v}, ensure_ascii=False) + "\n" for k, v in records.items())


def _write_jsonl(path, records: dict[str, str]) -> None:
    path.write_text(_jsonl(records))


class Corpus:
    """A folder of txt files (one document each) and JSONL files (several), edited at random; ids never repeat
    across files, so a fresh build of any state is well defined."""

    def __init__(self, root, rng: random.Random):
        self.root, self.rng = root, rng
        self.txt: dict[str, str] = {}  # file stem -> text
        self.jsonl: dict[str, dict[str, str]] = {}  # file stem -> id -> text
        self.next = 0

    def new_id(self) -> str:
        self.next += 1
        return f"d{self.next:04d}"

    def write(self) -> list:
        """Write the files whose content changed and remove the others' leftovers; the rest keep their stamps.
        Returns the paths written or removed."""
        wanted = {f"{stem}.txt": text for stem, text in self.txt.items()}
        for stem, records in self.jsonl.items():
            wanted[f"{stem}.jsonl"] = _jsonl(records)
        touched = []
        for f in self.root.iterdir():
            if f.name not in wanted:
                f.unlink()
                touched.append(f)
        for name, content in wanted.items():
            path = self.root / name
            if not path.is_file() or path.read_text() != content:
                path.write_text(content)
                touched.append(path)
        return touched

    def edit(self) -> None:
        """One random edit of the files' contents (written by `write`)."""
        rng = self.rng
        kind = rng.choice(["add_txt", "add_jsonl", "change_txt", "remove_txt", "change_record", "add_record",
                           "drop_record", "move_record", "remove_jsonl"])  # fmt: skip
        records = [(stem, i) for stem, recs in self.jsonl.items() for i in recs]
        if kind == "add_txt" or not self.txt and kind in ("change_txt", "remove_txt"):
            self.txt[self.new_id()] = _text(rng)
        elif kind == "change_txt":
            stem = rng.choice(sorted(self.txt))
            self.txt[stem] += " " + _text(rng, 5)
        elif kind == "remove_txt":
            del self.txt[rng.choice(sorted(self.txt))]
        elif kind == "add_jsonl" or not records:
            self.jsonl[f"batch{self.next}"] = {self.new_id(): _text(rng) for _ in range(rng.randint(1, 4))}
        elif kind == "change_record":
            stem, i = rng.choice(records)
            self.jsonl[stem][i] = _text(rng)
        elif kind == "add_record":
            stem, _ = rng.choice(records)
            self.jsonl[stem][self.new_id()] = _text(rng)
        elif kind == "drop_record":
            stem, i = rng.choice(records)
            del self.jsonl[stem][i]
        elif kind == "move_record":  # the same id, now read from another file
            stem, i = rng.choice(records)
            text = self.jsonl[stem].pop(i)
            self.jsonl.setdefault(rng.choice([*self.jsonl, "moved"]), {})[i] = text
        else:
            del self.jsonl[rng.choice(sorted(self.jsonl))]
        self.jsonl = {stem: recs for stem, recs in self.jsonl.items() if recs}


def _built_random_corpus(tiny_model, tmp_path, rng: random.Random) -> tuple:
    """A small random corpus (a JSONL file of 4 records and 4 text files), indexed: (folder, index, Corpus)."""
    folder, index = tmp_path / "corpus", tmp_path / "index"
    folder.mkdir()
    corpus = Corpus(folder, rng)
    for _ in range(4):
        corpus.jsonl.setdefault("base", {})[corpus.new_id()] = _text(rng)
        corpus.txt[corpus.new_id()] = _text(rng)
    corpus.write()
    semsearch.build_index(folder, index, model=str(tiny_model))
    return folder, index, corpus


@pytest.mark.parametrize("seed", [1, 2])
def test_builds_after_random_edits_store_what_a_fresh_build_stores(tiny_model, tmp_path, seed):
    rng = random.Random(seed)
    folder, index, corpus = _built_random_corpus(tiny_model, tmp_path, rng)
    for step in range(6):
        for _ in range(rng.randint(1, 3)):
            corpus.edit()
        corpus.write()
        if step % 2:  # a touch without a change too: a new mtime, the same bytes
            victim = rng.choice(sorted(folder.iterdir()))
            os.utime(victim, ns=(victim.stat().st_atime_ns, victim.stat().st_mtime_ns + 10**9))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no document is skipped or warned about
            semsearch.build_index(folder, index)
        fresh = tmp_path / f"fresh{step}"
        semsearch.build_index(folder, fresh, model=str(tiny_model))
        assert _stored(index) == _stored(fresh), f"step {step}"
        assert semsearch.build_index(folder, index).unchanged


def test_the_first_file_in_name_order_wins_a_repeated_id_whichever_file_changed(tiny_model, tmp_path):
    folder, index = tmp_path / "corpus", tmp_path / "index"
    folder.mkdir()
    _write_jsonl(folder / "b.jsonl", {"x": "Lavrov besøkte Syria.", "y": "Strømprisen steg i Bergen."})
    semsearch.build_index(folder, index, model=str(tiny_model))
    # A later file (unread before, so changed) repeats x: b.jsonl is unchanged and not read, yet it still wins.
    _write_jsonl(folder / "c.jsonl", {"x": "En annen tekst om valget.", "z": "Fotball i Oslo."})
    with pytest.warns(UserWarning, match="duplicate id 'x'"):
        stats = semsearch.build_index(folder, index)
    assert stats.added == ["z"] and _stored(index)["x"][0] == "b.jsonl"
    # An earlier file repeats y: it comes first in name order, so it takes y over from the unchanged b.jsonl,
    # which is warned about in this build, as a fresh build warns. Files that lost an id are read every build
    # (c.jsonl here), since which copy wins depends on the other files.
    _write_jsonl(folder / "a.jsonl", {"y": "Regjeringen la fram avtalen."})
    events = []
    with pytest.warns(UserWarning) as caught:
        stats = semsearch.build_index(folder, index, on_event=events.append)
    said = sorted(str(w.message).split("corpus/", 1)[1] for w in caught)
    assert said[0].startswith("b.jsonl': duplicate id 'y', first read at '") and "corpus/a.jsonl:1', so this one" in said[0]
    assert said[1].startswith("c.jsonl:1': duplicate id 'x', first read at '") and "corpus/b.jsonl', so" in said[1]
    assert len(said) == 2
    assert _read(events) == ["a.jsonl", "c.jsonl"] and stats.changed == ["y"] and _stored(index)["y"][0] == "a.jsonl"
    fresh = tmp_path / "fresh"
    with pytest.warns(UserWarning, match="duplicate id"):
        semsearch.build_index(folder, fresh, model=str(tiny_model))
    assert _stored(index) == _stored(fresh)
    # The winners go: the copies that lost come in, though their files did not change.
    (folder / "a.jsonl").unlink()
    _write_jsonl(folder / "b.jsonl", {"y": "Strømprisen steg i Bergen."})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stats = semsearch.build_index(folder, index)
    assert _stored(index)["x"][0] == "c.jsonl" and _stored(index)["y"][0] == "b.jsonl"
    fresh = tmp_path / "fresh-2"
    semsearch.build_index(folder, fresh, model=str(tiny_model))
    assert _stored(index) == _stored(fresh)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert semsearch.build_index(folder, index).unchanged


def test_a_record_that_lost_its_id_to_a_file_now_gone_is_indexed(tiny_model, tmp_path):
    """A file whose every record was a duplicate was remembered as skipped whole, so when the file that won
    went away, its record was never read again (and every build said 'no readable document')."""
    folder, index = tmp_path / "corpus", tmp_path / "index"
    folder.mkdir()
    _write_jsonl(folder / "a.jsonl", {"j1": "Første fil om Lavrov og Syria."})
    _write_jsonl(folder / "b.jsonl", {"j1": "Andre fil om Tillerson i Moskva."})
    with pytest.warns(UserWarning, match="duplicate id 'j1'"):
        semsearch.build_index(folder, index, model=str(tiny_model))
    with pytest.warns(UserWarning, match="duplicate id 'j1'"):  # still there: still said
        assert semsearch.build_index(folder, index).unchanged
    (folder / "a.jsonl").unlink()
    stats = semsearch.build_index(folder, index)
    assert stats.changed == ["j1"] and _stored(index)["j1"][0] == "b.jsonl"
    assert semsearch.query("Tillerson", k=1, index=index, mode="lexical")[0].doc_id == "j1"


def test_a_file_of_many_records_with_one_changed_is_read_once_and_then_left_alone(tiny_model, tmp_path):
    """Its documents now carry two stamps (the changed record the new one, the others the old); once an update
    has read it whole and committed, later builds leave it unread until it changes again."""
    folder, index = tmp_path / "corpus", tmp_path / "index"
    folder.mkdir()
    records = {f"r{i}": f"Sak {i}: {' '.join(WORDS[i % len(WORDS) :])}." for i in range(6)}
    _write_jsonl(folder / "archive.jsonl", records)
    semsearch.build_index(folder, index, model=str(tiny_model))
    records["r2"] = "Strømprisen i Bergen steg igjen."
    _write_jsonl(folder / "archive.jsonl", records)
    assert semsearch.build_index(folder, index).changed == ["r2"]
    events = []
    assert semsearch.build_index(folder, index, on_event=events.append).unchanged and _read(events) == []
    records["r4"] = "Fotball i Oslo."  # changed again: read again, and only r4 embedded
    _write_jsonl(folder / "archive.jsonl", records)
    assert semsearch.build_index(folder, index).changed == ["r4"]
    fresh = tmp_path / "fresh"
    semsearch.build_index(folder, fresh, model=str(tiny_model))
    assert _stored(index) == _stored(fresh)


def test_a_deleted_document_still_in_its_file_comes_back_with_the_next_folder_build(tiny_model, tmp_path):
    """The index mirrors the folder: a document deleted through the API comes back when the folder is indexed,
    from a file of many records (whose other documents keep its stamp) as from a file of its own."""
    folder, index = tmp_path / "corpus", tmp_path / "index"
    folder.mkdir()
    _write_jsonl(folder / "archive.jsonl", {f"r{i}": f"Sak {i}: {' '.join(WORDS[i:])}." for i in range(4)})
    (folder / "alone.txt").write_text("Strømprisen i Bergen steg igjen.\n")
    semsearch.build_index(folder, index, model=str(tiny_model))
    before = _stored(index)
    assert sorted(semsearch.delete(["r2", "alone", "r9"], index=index).removed) == ["alone", "r2"]
    assert semsearch.build_index(folder, index).added == ["alone", "r2"]
    assert _stored(index) == before
    events = []
    assert semsearch.build_index(folder, index, on_event=events.append).unchanged and _read(events) == []


def test_a_build_killed_inside_a_file_of_many_records_reads_it_again(tiny_model, tmp_path):
    """A killed build keeps its finished batches: some records of a changed file are stored with its new stamp,
    others not yet. The file is read again, so nothing it holds is lost."""
    folder, index = tmp_path / "corpus", tmp_path / "index"
    folder.mkdir()
    records = {f"r{i}": f"Sak {i} om {WORDS[i % len(WORDS)]} og {WORDS[(i * 7) % len(WORDS)]}." for i in range(8)}
    _write_jsonl(folder / "archive.jsonl", records)
    semsearch.build_index(folder, index, model=str(tiny_model))
    for i in range(8):
        records[f"r{i}"] += f" Oppdatert {i}."
    _write_jsonl(folder / "archive.jsonl", records)
    flushed = []

    def killed_after_one_batch(event):
        if isinstance(event, BatchEmbedded):  # killed once the second batch is embedded, before it is written
            if flushed:
                raise KeyboardInterrupt
            flushed.append(event.documents)

    with pytest.raises(KeyboardInterrupt):
        semsearch.build_index(folder, index, batch_chunks=2, on_event=killed_after_one_batch)
    assert 0 < flushed[0] < 8  # some records committed with the new stamp, the rest not
    again = semsearch.build_index(folder, index)
    assert again.changed and len(again.changed) < 8  # the records committed before the kill are not embedded again
    fresh = tmp_path / "fresh"
    semsearch.build_index(folder, fresh, model=str(tiny_model))
    assert _stored(index) == _stored(fresh)


@pytest.mark.parametrize("changed", [["r0"], ["r0", "r1", "r2", "r3"]])
def test_a_file_whose_reading_stops_part_way_keeps_its_unread_documents(tiny_model, tmp_path, monkeypatch, changed):
    """Reading stops after the changed records; one added at the end is not reached. The unread records stay, and
    the next build reads the file again and adds it, also when every stored record now carries the new stamp."""
    from semsearch.reading import jsonl

    folder, index = tmp_path / "corpus", tmp_path / "index"
    folder.mkdir()
    records = {f"r{i}": f"Sak {i} om {WORDS[i]} og {WORDS[i + 3]}." for i in range(4)}
    _write_jsonl(folder / "archive.jsonl", records)
    semsearch.build_index(folder, index, model=str(tiny_model))
    for doc_id in changed:
        records[doc_id] += " Oppdatert."
    records["r4"] = "Strømprisen i Bergen steg igjen."
    _write_jsonl(folder / "archive.jsonl", records)
    real = jsonl.lines

    def failing(source):
        yield from list(real(source))[: len(changed)]
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(jsonl, "lines", failing)
    events = []
    with pytest.warns(UserWarning, match="stopped reading"):
        stats = semsearch.build_index(folder, index, on_event=events.append)
    assert [(e.source, e.state) for e in events if isinstance(e, FileRead)] == [("archive.jsonl", FileState.STOPPED)]
    assert stats.changed == changed and not stats.removed and set(_stored(index)) == set(records) - {"r4"}
    monkeypatch.undo()
    assert semsearch.build_index(folder, index).added == ["r4"]  # read again, to its end
    fresh = tmp_path / "fresh"
    semsearch.build_index(folder, fresh, model=str(tiny_model))
    assert _stored(index) == _stored(fresh)


def test_one_changed_record_of_a_big_file_is_a_small_update(tiny_model, tmp_path):
    """A changed file of many stored records may differ by one record: its size alone does not make the update a
    bulk build (the bulk encoder's start-up and the whole tokenizer cost seconds); a new file of that size does."""
    folder, index = tmp_path / "corpus", tmp_path / "index"
    folder.mkdir()
    rng = random.Random(3)
    records = {f"r{i}": _text(rng, 700) for i in range(60)}  # ~5 KB each, past every bulk threshold together
    _write_jsonl(folder / "archive.jsonl", records)
    assert (folder / "archive.jsonl").stat().st_size > embedder.SLOW_BULK_BYTES
    events = []
    semsearch.build_index(folder, index, model=str(tiny_model), on_event=events.append)
    records["r7"] = "Strømprisen i Bergen steg igjen."
    _write_jsonl(folder / "archive.jsonl", records)
    assert semsearch.build_index(folder, index, on_event=events.append).changed == ["r7"]
    assert [e.bulk for e in events if isinstance(e, FilesPlanned)] == [True, False]


def test_only_files_whose_documents_end_with_two_stamps_are_noted(tiny_model, tmp_path):
    """A changed one-document file agrees with its new stamp by itself: nothing is noted for it, so the notes
    do not grow with every file ever changed."""
    from semsearch.ingest.file_states import FileStates

    folder, index = tmp_path / "corpus", tmp_path / "index"
    folder.mkdir()
    (folder / "a.txt").write_text("Lavrov besøkte Syria.\n")
    _write_jsonl(folder / "b.jsonl", {"x": "Strømprisen steg.", "y": "Fotball i Oslo."})
    semsearch.build_index(folder, index, model=str(tiny_model))
    (folder / "a.txt").write_text("Lavrov besøkte Syria igjen.\n")
    _write_jsonl(folder / "b.jsonl", {"x": "Strømprisen steg.", "y": "Fotball i Bergen."})
    assert sorted(semsearch.build_index(folder, index).changed) == ["a", "y"]
    assert {s: n.state for s, n in FileStates(index).seen.items()} == {"b.jsonl": FileState.REWRITTEN}


def test_a_re_exported_jsonl_file_parses_only_its_new_lines(tiny_model, tmp_path, monkeypatch):
    """A nightly export rewrites the whole file (new mtime, records in another order, one changed): only the
    changed line is parsed; the others are known from when the file was last read, checked against the catalog."""
    from semsearch.ingest import file_states
    from semsearch.reading import jsonl

    folder, index = tmp_path / "corpus", tmp_path / "index"
    folder.mkdir()
    records = {f"r{i}": f"Sak {i} om {WORDS[i % len(WORDS)]} og {WORDS[(i + 3) % len(WORDS)]}." for i in range(40)}
    _write_jsonl(folder / "archive.jsonl", records)
    semsearch.build_index(folder, index, model=str(tiny_model))
    parsed = []
    real = jsonl.line_document
    monkeypatch.setattr(jsonl, "line_document", lambda raw, where, options: parsed.append(raw) or real(raw, where, options))
    records["r7"] = "Strømprisen i Bergen steg igjen."
    reordered = dict(reversed(list(records.items())))
    _write_jsonl(folder / "archive.jsonl", reordered)
    stats = semsearch.build_index(folder, index)
    assert stats.changed == ["r7"] and len(parsed) == 1 and b"r7" in parsed[0]
    fresh = tmp_path / "fresh"
    semsearch.build_index(folder, fresh, model=str(tiny_model))
    assert _stored(index) == _stored(fresh)
    # Other read options give other keys: every line is parsed again under them.
    parsed.clear()
    (folder / "archive.jsonl").touch()
    os.utime(folder / "archive.jsonl", ns=(1, 1))
    from semsearch.reading import FieldMap

    semsearch.build_index(folder, index, fields=FieldMap(title="headline"))
    assert len(parsed) == len(records)
    # A damaged memo is dropped: the file is parsed once more, and the build goes on.
    (index / file_states.FILE).write_bytes(b"not a database")
    parsed.clear()
    os.utime(folder / "archive.jsonl", ns=(2, 2))
    assert semsearch.build_index(folder, index).changed == [] and len(parsed) == len(records)
    parsed.clear()
    os.utime(folder / "archive.jsonl", ns=(3, 3))
    assert semsearch.build_index(folder, index).changed == [] and parsed == []


def test_a_re_exported_csv_file_parses_only_its_new_rows(tiny_model, tmp_path, monkeypatch):
    """As for JSONL: a CSV export rewritten with its rows in another order and one changed parses only that row;
    a renamed column (another header) makes every row new."""
    import csv

    from semsearch.reading import csv_records

    def write(records: dict[str, str], header=("id", "text", "section")) -> None:
        with open(folder / "archive.csv", "w", newline="", encoding="utf-8") as f:
            rows = csv.writer(f)
            rows.writerow(header)
            rows.writerows([doc_id, text, "Innenriks, Oslo" if len(text) % 2 else ""] for doc_id, text in records.items())

    folder, index = tmp_path / "corpus", tmp_path / "index"
    folder.mkdir()
    records = {f"r{i}": f'Sak {i} om {WORDS[i % len(WORDS)]},\n og "{WORDS[(i + 3) % len(WORDS)]}".' for i in range(30)}
    write(records)
    semsearch.build_index(folder, index, model=str(tiny_model))
    parsed = []
    real = csv_records._row_document
    monkeypatch.setattr(csv_records, "_row_document", lambda header, row, *a: parsed.append(row[0]) or real(header, row, *a))
    records["r7"] = "Strømprisen i Bergen steg igjen."
    write(dict(reversed(list(records.items()))))
    stats = semsearch.build_index(folder, index)
    assert stats.changed == ["r7"] and parsed == ["r7"]
    fresh = tmp_path / "fresh"
    semsearch.build_index(folder, fresh, model=str(tiny_model))
    assert _stored(index) == _stored(fresh)
    parsed.clear()
    write(records, header=("id", "text", "avdeling"))  # the same cells under another column name: other records
    semsearch.build_index(folder, index)
    assert sorted(parsed) == sorted(records)
    semsearch.build_index(folder, fresh)
    assert _stored(index) == _stored(fresh)


@pytest.mark.parametrize("seed", [3, 4])
def test_builds_told_what_changed_store_what_a_fresh_build_stores(tiny_model, tmp_path, seed):
    """`changed=` names the files written or removed since the last build (and some that did not change):
    only they are looked at, and the index ends as a fresh build of the whole corpus leaves it."""
    rng = random.Random(seed)
    folder, index, corpus = _built_random_corpus(tiny_model, tmp_path, rng)
    for step in range(8):
        for _ in range(rng.randint(1, 3)):
            corpus.edit()
        touched = corpus.write()
        extra = rng.sample(sorted(folder.iterdir()), k=1)  # named though unchanged: read or left, never lost
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            semsearch.build_index(folder, index, changed=touched + extra)
        fresh = tmp_path / f"fresh{step}"
        semsearch.build_index(folder, fresh, model=str(tiny_model))
        assert _stored(index) == _stored(fresh), f"step {step}"
        assert semsearch.build_index(folder, index).unchanged


def test_a_build_told_what_changed_looks_nowhere_else(tiny_model, tmp_path, monkeypatch):
    folder, index = tmp_path / "corpus", tmp_path / "index"
    (folder / "2024").mkdir(parents=True)
    (folder / "2025").mkdir()
    for year in ("2024", "2025"):
        for i in range(3):
            (folder / year / f"a{i}.txt").write_text(f"Lavrov besøkte Syria i {year}, sak {i}.")
    semsearch.build_index(folder, index, model=str(tiny_model))
    (folder / "2024" / "a0.txt").write_text("Strømprisen steg i Bergen.")  # changed, but not named
    (folder / "2025" / "a1.txt").write_text("Regjeringen la fram avtalen.")
    (folder / "2025" / "a2.txt").unlink()
    (folder / "2025" / "new.txt").write_text("Fotball i Oslo.")
    walked, events = [], []
    monkeypatch.setattr(plan, "list_sources", lambda *a: walked.append(a) or pytest.fail("walked the corpus"))
    named = [folder / "2025" / "a1.txt", folder / "2025" / "a2.txt", folder / "2025" / "new.txt"]
    stats = semsearch.build_index(folder, index, changed=named, on_event=events.append)
    assert _read(events) == ["2025/a1.txt", "2025/new.txt"] and not walked
    assert [(e.files, e.to_read) for e in events if isinstance(e, FilesPlanned)] == [(2, 2)]
    assert (stats.added, stats.changed, stats.removed) == (["2025/new"], ["2025/a1"], ["2025/a2"])
    assert sorted(_stored(index)) == ["2024/a0", "2024/a1", "2024/a2", "2025/a0", "2025/a1", "2025/new"]
    # A folder named is walked (a deleted one too: its documents go); 2024/a0 was never named, so a later full
    # build is what finds it.
    shutil.rmtree(folder / "2025")
    events.clear()
    stats = semsearch.build_index(folder, index, changed=[folder / "2025"], on_event=events.append)
    assert _read(events) == [] and sorted(stats.removed) == ["2025/a0", "2025/a1", "2025/new"]
    monkeypatch.undo()
    stats = semsearch.build_index(folder, index)
    assert stats.changed == ["2024/a0"] and not stats.removed


def test_a_build_told_what_changed_keeps_the_first_copy_of_a_repeated_id_in_name_order(tiny_model, tmp_path):
    folder, index = tmp_path / "corpus", tmp_path / "index"
    folder.mkdir()
    _write_jsonl(folder / "b.jsonl", {"x": "Lavrov besøkte Syria.", "y": "Strømprisen steg i Bergen."})
    semsearch.build_index(folder, index, model=str(tiny_model))
    _write_jsonl(folder / "c.jsonl", {"x": "En annen tekst om valget."})  # after b: b keeps x
    _write_jsonl(folder / "a.jsonl", {"y": "Regjeringen la fram avtalen."})  # before b: a takes y over
    with pytest.warns(UserWarning) as caught:
        semsearch.build_index(folder, index, changed=[folder / "a.jsonl", folder / "c.jsonl"])
    said = sorted(str(w.message).split("corpus/", 1)[1] for w in caught)
    assert said[0].startswith("b.jsonl': duplicate id 'y', first read at '") and len(said) == 2
    assert said[1].startswith("c.jsonl:1': duplicate id 'x', first read at '") and "corpus/b.jsonl'" in said[1]
    fresh = tmp_path / "fresh"
    with pytest.warns(UserWarning, match="duplicate id"):
        semsearch.build_index(folder, fresh, model=str(tiny_model))
    assert _stored(index) == _stored(fresh)


def test_a_build_told_what_changed_reads_again_the_file_that_lost_a_repeated_id(tiny_model, tmp_path):
    """Two files hold id x; the first in name order wins and the other's copy is skipped. A build told only that the
    winner was deleted (or edited to drop x) gives x to the other copy, as a full build would: nothing is lost.
    Files without such a copy stay unread."""
    folder, index = tmp_path / "corpus", tmp_path / "index"
    folder.mkdir()
    _write_jsonl(folder / "a.jsonl", {"x": "Lavrov besøkte Syria.", "y": "Strømprisen steg i Bergen."})
    _write_jsonl(folder / "b.jsonl", {"x": "Regjeringen la fram avtalen.", "z": "Fotball i Oslo."})
    _write_jsonl(folder / "c.jsonl", {"w": "Valget i Tromsø."})
    _write_jsonl(folder / "d.jsonl", {"v": "Været i Bodø."})
    with pytest.warns(UserWarning, match="duplicate id 'x'"):
        semsearch.build_index(folder, index, model=str(tiny_model))
    assert _stored(index)["x"][0] == "a.jsonl"
    events = []
    _write_jsonl(folder / "a.jsonl", {"y": "Strømprisen steg i Bergen."})
    _write_jsonl(folder / "c.jsonl", {"w": "Valget i Tromsø og Alta."})  # changed, not named: left for a full build
    stats = semsearch.build_index(folder, index, changed=[folder / "a.jsonl"], on_event=events.append)
    assert _read(events) == ["a.jsonl", "b.jsonl"] and stats.changed == ["x"] and not stats.removed
    assert _stored(index)["x"][0] == "b.jsonl"
    (folder / "b.jsonl").unlink()
    events.clear()
    assert semsearch.build_index(folder, index, changed=[folder / "b.jsonl"], on_event=events.append).removed == ["x", "z"]
    assert _read(events) == [] and sorted(_stored(index)) == ["v", "w", "y"]
    _write_jsonl(folder / "b.jsonl", {"x": "Regjeringen la fram avtalen.", "z": "Fotball i Oslo."})
    semsearch.build_index(folder, index)
    fresh = tmp_path / "fresh"
    semsearch.build_index(folder, fresh, model=str(tiny_model))
    assert _stored(index) == _stored(fresh)


def test_changed_paths_must_lie_in_the_corpus_folder(tiny_model, tmp_path):
    folder, index = tmp_path / "corpus", tmp_path / "index"
    folder.mkdir()
    (folder / "a.txt").write_text("Lavrov besøkte Syria.")
    with pytest.raises(semsearch.SemsearchError, match=r"--changed '.*elsewhere.txt' is not inside the corpus folder"):
        semsearch.build_index(folder, index, model=str(tiny_model), changed=[tmp_path / "elsewhere.txt"])
    with pytest.raises(semsearch.SemsearchError, match="--changed needs a corpus folder"):
        semsearch.build_index(folder / "a.txt", index, model=str(tiny_model), changed=[folder / "a.txt"])
    # A new index reads the whole corpus, whatever is named.
    stats = semsearch.build_index(folder, index, model=str(tiny_model), changed=[folder / "b.txt"])
    assert stats.added == ["a"]


def test_a_build_told_what_changed_keeps_remembering_skipped_files_elsewhere(tiny_model, tmp_path):
    folder, index = tmp_path / "corpus", tmp_path / "index"
    folder.mkdir()
    (folder / "a.txt").write_text("Lavrov besøkte Syria.")
    (folder / "empty.txt").write_text("")
    with pytest.warns(UserWarning, match="empty"):
        semsearch.build_index(folder, index, model=str(tiny_model))
    (folder / "b.txt").write_text("Strømprisen steg i Bergen.")
    semsearch.build_index(folder, index, changed=[folder / "b.txt"])
    events = []
    with pytest.warns(UserWarning, match="empty"):  # warned again, not read again
        assert semsearch.build_index(folder, index, on_event=events.append).unchanged
    assert _read(events) == [] and [e.remembered for e in events if isinstance(e, FilesPlanned)] == [1]


def test_a_build_told_what_changed_keeps_the_marks_of_files_outside_it(tiny_model, tmp_path):
    """A document deleted through the API while its JSONL file still holds it comes back with the next full
    build, even when a build told about another file ran in between."""
    folder, index = tmp_path / "corpus", tmp_path / "index"
    folder.mkdir()
    _write_jsonl(folder / "a.jsonl", {"x": "Lavrov besøkte Syria.", "y": "Strømprisen steg i Bergen."})
    semsearch.build_index(folder, index, model=str(tiny_model))
    semsearch.delete(["x"], index)
    (folder / "b.txt").write_text("Regjeringen la fram avtalen.")
    semsearch.build_index(folder, index, changed=[folder / "b.txt"])
    assert sorted(_stored(index)) == ["b", "y"]
    assert semsearch.build_index(folder, index).added == ["x"]


def test_the_marks_an_older_semsearch_left_in_restamps_sqlite_still_count(tiny_model, tmp_path):
    """An index written before the file-state store holds restamps.sqlite: a file it marks to read again (sentinel
    stored stamp (-1, -1), left by `delete`) is read by the next build, which brings the deleted record back."""
    import sqlite3
    from contextlib import closing

    from semsearch.ingest import file_states

    folder, index = tmp_path / "corpus", tmp_path / "index"
    folder.mkdir()
    _write_jsonl(folder / "archive.jsonl", {"r0": "Lavrov besøkte Syria.", "r1": "Strømprisen steg i Bergen."})
    semsearch.build_index(folder, index, model=str(tiny_model))
    assert semsearch.delete(["r1"], index).removed == ["r1"]
    (index / file_states.FILE).unlink()  # what semsearch wrote for that delete before the store:
    stat = (folder / "archive.jsonl").stat()
    with closing(sqlite3.connect(index / file_states.LEGACY_NOTES)) as db, db:
        db.execute("CREATE TABLE restamps (source TEXT PRIMARY KEY, size, mtime_ns, stored_size, stored_mtime_ns)")
        db.execute("INSERT INTO restamps VALUES (?, ?, ?, -1, -1)", ("archive.jsonl", stat.st_size, stat.st_mtime_ns))
    events = []
    assert semsearch.build_index(folder, index, on_event=events.append).added == ["r1"]
    assert _read(events) == ["archive.jsonl"] and not (index / file_states.LEGACY_NOTES).exists()
    events.clear()
    assert semsearch.build_index(folder, index, on_event=events.append).unchanged and _read(events) == []
