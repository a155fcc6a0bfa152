"""The file-state store: one side file (files.sqlite) with a state per corpus file and the records memo, and the
one-time migration of the side files older indexes hold (restamps.sqlite with sentinel stamps, records.sqlite)."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from semsearch.ingest.file_states import FILE, LEGACY_NOTES, LEGACY_RECORDS, FileState, FileStates, Note

REFERENCE = Path(__file__).parent / "data" / "index-v4"


def _legacy(index: Path, notes: list[tuple], records: list[tuple]) -> None:
    """Side files as semsearch wrote them before the file-state store."""
    with closing(sqlite3.connect(index / LEGACY_NOTES)) as db, db:
        db.execute(
            "CREATE TABLE restamps (source TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, "
            "stored_size INTEGER, stored_mtime_ns INTEGER)"
        )
        db.executemany("INSERT INTO restamps VALUES (?, ?, ?, ?, ?)", notes)
    with closing(sqlite3.connect(index / LEGACY_RECORDS)) as db, db:
        db.execute(
            "CREATE TABLE memo (source TEXT, key BLOB, doc_id TEXT, fingerprint TEXT, PRIMARY KEY (source, key)) WITHOUT ROWID"
        )
        db.executemany("INSERT INTO memo VALUES (?, ?, ?, ?)", records)


def test_older_side_files_are_read_once_into_states_and_removed(tmp_path):
    _legacy(
        tmp_path,
        [("touched.txt", 10, 200, 10, 100), ("archive.jsonl", 50, 300, 50, 300), ("stopped.jsonl", 7, 70, -1, -1),
         ("lost.jsonl", 8, 80, -2, -2)],
        [("archive.jsonl", b"k" * 16, "r1", "f1"), ("archive.jsonl", b"j" * 16, "r2", "f2")],
    )  # fmt: skip
    states = FileStates(tmp_path)
    assert states.seen == {
        "touched.txt": Note(FileState.EQUAL, (10, 200), (10, 100)),
        "archive.jsonl": Note(FileState.REWRITTEN, (50, 300), (50, 300)),
        "stopped.jsonl": Note(FileState.UNREAD, (7, 70)),
        "lost.jsonl": Note(FileState.LOST_ID, (8, 80)),
    }
    assert states.records_of("archive.jsonl") == {b"k" * 16: ("r1", "f1"), b"j" * 16: ("r2", "f2")}
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILE]
    same = {"stopped.jsonl", "lost.jsonl"}  # their documents agree with their stamps, yet they are read again
    states.apply(same, {"touched.txt": (10, 200), "stopped.jsonl": (7, 70), "lost.jsonl": (8, 80)}, lambda s: (10, 100))
    assert same == {"touched.txt"} and states.lost_ids() == ["lost.jsonl"]


def test_a_damaged_older_side_file_is_dropped_and_the_other_still_migrates(tmp_path):
    _legacy(tmp_path, [("touched.txt", 10, 200, 10, 100)], [])
    (tmp_path / LEGACY_RECORDS).write_bytes(b"not a database")
    assert FileStates(tmp_path).seen == {"touched.txt": Note(FileState.EQUAL, (10, 200), (10, 100))}
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILE]
    # Left over from a migration killed after its rename: the store is current and the old file is only removed.
    _legacy(tmp_path, [("other.txt", 1, 2, 1, 1)], [])
    assert set(FileStates(tmp_path).seen) == {"touched.txt"} and sorted(p.name for p in tmp_path.iterdir()) == [FILE]


def test_the_side_file_of_the_format_4_reference_index_migrates(tmp_path):
    index = tmp_path / "index"
    shutil.copytree(REFERENCE, index)
    assert (index / LEGACY_NOTES).is_file()
    states = FileStates(index)
    assert states.seen == {
        "001_b8141d4232c9699a.txt": Note(FileState.EQUAL, (2885, 1796590062404797526), (2885, 1796590061404797526))
    }
    assert not (index / LEGACY_NOTES).exists() and (index / FILE).is_file()


def test_notes_are_written_once_and_stale_ones_dropped(tmp_path):
    states = FileStates(tmp_path)
    states.note("a.txt", FileState.EQUAL, (1, 2), (1, 1))
    states.note("b.jsonl", FileState.STOPPED, (3, 4), (9, 9))  # a mark keeps no stored stamp
    states.read_whole("c.jsonl", {b"k" * 16: ("c1", "f")})
    states.save()
    again = FileStates(tmp_path)
    assert again.seen == {"a.txt": Note(FileState.EQUAL, (1, 2), (1, 1)), "b.jsonl": Note(FileState.STOPPED, (3, 4))}
    # A build that compared the corpus: the alias still backed by the catalog stays, the mark (read now) goes,
    # and so do the records of a file no longer in the corpus.
    again.save(stored=lambda source: (1, 1) if source == "a.txt" else None, gone=["c.jsonl"])
    last = FileStates(tmp_path)
    assert set(last.seen) == {"a.txt"} and last.records_of("c.jsonl") == {}
