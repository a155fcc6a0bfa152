"""What builds noted about corpus files, for the builds that follow: one side file, `<index>/files.sqlite`.

    files(source TEXT PRIMARY KEY, state TEXT, size, mtime_ns, stored_size, stored_mtime_ns)
    records(source TEXT, key BLOB, doc_id TEXT, fingerprint TEXT, PRIMARY KEY (source, key)) WITHOUT ROWID

`files` holds a `FileState` for a file seen with stamp (size, mtime_ns):
- EQUAL: touched, not changed (a copy, checkout or `touch`). Its documents keep their old stamp in the
  immutable segments, so the row says "seen with this stamp, it holds what is stored under the stored stamp",
  and later builds leave it unread.
- REWRITTEN: a file of many records of which some were stored again: its documents carry two stamps, so it is
  noted against the newest (its own), and later builds leave it unread.
- STOPPED (its reading stopped part way), UNREAD (`delete` took out one of its documents) and LOST_ID (it holds
  an id another file won): read again by the next build while it has this stamp, whatever its documents say;
  a LOST_ID file even by a build told what changed, since the copy it holds takes the id when the winner drops it.
A note only counts while the file keeps its stamp; an EQUAL or REWRITTEN one only while the catalog still
records its stored stamp for the file, so it checks itself and a stale one is dropped.

`records` holds the records of each JSONL or CSV file as last read whole: a keyed digest of each raw record (a
JSONL line; a CSV row with its header) with the document it gave (`RecordMemo`). A record read again under the
same options and semsearch version, whose document the catalog still holds from that file, is equal unparsed.

Nothing here needs a commit: every note is checked against the catalog, a build killed before writing reads or
parses some files once more, and a damaged file is removed and started again. Indexes of semsearch 0.x before
this store kept the same notes in `restamps.sqlite` (sentinel stored stamps (-1, -1) for "read again" and
(-2, -2) for a lost id) and `records.sqlite`; they are read once into `files.sqlite` and removed (`_migrate`).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from enum import Enum
from pathlib import Path
from typing import NamedTuple

from semsearch import __version__

FILE = "files.sqlite"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS files (source TEXT PRIMARY KEY, state TEXT NOT NULL, size INTEGER NOT NULL, "
    "mtime_ns INTEGER NOT NULL, stored_size INTEGER, stored_mtime_ns INTEGER)",
    "CREATE TABLE IF NOT EXISTS records (source TEXT, key BLOB, doc_id TEXT, fingerprint TEXT, "
    "PRIMARY KEY (source, key)) WITHOUT ROWID",
)
Stamp = tuple[int, int]
Hit = tuple[str, str]  # (doc_id, fingerprint)


class FileState(Enum):
    """What a build found about one corpus file, and so when a later build reads it again."""

    READ = "read"  # read to its end; its documents carry its stamp (nothing to note): read again when it changes
    EQUAL = "equal"  # read to its end, every document as stored (touched): noted under its new stamp
    REWRITTEN = "rewritten"  # some documents stored again, the others equal: noted under its own stamp
    SKIPPED = "skipped"  # gave no document: remembered in the commit with its messages, unread while unchanged
    STOPPED = "stopped"  # reading stopped part way: its unread documents are kept, and it is read again
    LOST_ID = "lost_id"  # holds an id another file won: read again by every build while it does
    UNREAD = "unread"  # one of its documents was deleted through the API: read again


ALIASES = frozenset({FileState.EQUAL, FileState.REWRITTEN})  # noted with the stamp their documents carry
AGAIN = frozenset({FileState.STOPPED, FileState.LOST_ID, FileState.UNREAD})  # read by the next build


class Note(NamedTuple):
    """One file's row: its state, the stamp it was seen with, and (aliases only) the stamp stored for it."""

    state: FileState
    stamp: Stamp
    stored: Stamp | None = None


class FileStates:
    """The notes of one index: read when a build starts, written once (`save`) after its last commit."""

    def __init__(self, root: Path):
        self.path = Path(root) / FILE
        _migrate(Path(root), self.path)
        self.seen: dict[str, Note] = {}
        self.new: dict[str, Note] = {}
        self.records_new: dict[str, dict[bytes, Hit]] = {}  # source -> its records, read whole this build
        self._lost = False  # the file was damaged and removed during the build: every kept note is written again
        if self.path.is_file():
            try:
                with closing(sqlite3.connect(self.path)) as db:
                    rows = db.execute("SELECT source, state, size, mtime_ns, stored_size, stored_mtime_ns FROM files").fetchall()
                self.seen = {r[0]: Note(FileState(r[1]), (r[2], r[3]), None if r[4] is None else (r[4], r[5])) for r in rows}
            except (sqlite3.Error, ValueError):
                self.path.unlink(missing_ok=True)  # damaged: the files it named are read once more

    def note(self, source: str, state: FileState, stamp: Stamp, stored: Stamp | None = None) -> None:
        """Note what a build found about a file seen with `stamp` (an alias: the stamp its documents carry)."""
        self.new[source] = Note(state, stamp, stored if state in ALIASES else None)

    def lost_ids(self) -> list[str]:
        """The files noted as holding an id that another file won."""
        return sorted(source for source, note in self.seen.items() if note.state is FileState.LOST_ID)

    def apply(self, same: set[str], now: dict[str, Stamp], signature: Callable[[str], Stamp | None]) -> None:
        """Correct `same`, the sources whose stamp `now` equals the one their documents were stored with: add the
        aliases seen with their stamp now that hold what is stored under `signature(source)`, and drop the files
        to read again at that stamp (whatever their documents say)."""
        for source, note in self.seen.items():
            if now.get(source) != note.stamp:
                continue
            if note.state in AGAIN:
                same.discard(source)
            elif note.stored == signature(source):
                same.add(source)

    def records_of(self, source: str) -> dict[bytes, Hit]:
        """What the last full read of `source` found: {key: (doc_id, fingerprint)} ({} when nothing)."""
        if not self.path.is_file():
            return {}
        try:
            with closing(sqlite3.connect(self.path)) as db:
                rows = db.execute("SELECT key, doc_id, fingerprint FROM records WHERE source = ?", (source,)).fetchall()
        except sqlite3.Error:
            self.path.unlink(missing_ok=True)  # damaged: those files are parsed once more
            self._lost = True
            return {}
        return {key: (doc_id, fingerprint) for key, doc_id, fingerprint in rows}

    def read_whole(self, source: str, records: dict[bytes, Hit]) -> None:
        """Note the records a full read of `source` found."""
        self.records_new[source] = records

    def save(
        self, stored: Callable[[str], Stamp | None] | None = None, kept: Callable[[str], bool] = lambda s: False, gone=()
    ) -> None:
        """Write the new notes and records in one transaction; drop the notes the catalog no longer backs (an alias
        whose stored stamp `stored(source)` no longer gives, a read-again mark once its file was compared; None:
        keep every other note, for a writer that did not compare the corpus), except those of the sources `kept`
        names (outside what the build compared); and drop the records of the `gone` files."""
        old = {s: n for s, n in self.seen.items() if s not in self.new}
        stale = [s for s, n in old.items() if stored and not kept(s) and (n.stored is None or stored(s) != n.stored)]
        rows = {**({s: n for s, n in old.items() if s not in stale} if self._lost else {}), **self.new}
        gone = [s for s in gone if s not in self.records_new]
        if not rows and not stale and not self.records_new and not (gone and self.path.is_file()):
            return
        try:
            with closing(sqlite3.connect(self.path)) as db, db:
                for statement in _SCHEMA:
                    db.execute(statement)
                db.executemany("DELETE FROM files WHERE source = ?", [(s,) for s in stale])
                db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)", [_row(s, n) for s, n in rows.items()])
                db.executemany("DELETE FROM records WHERE source = ?", [(s,) for s in [*gone, *self.records_new]])
                for source, records in self.records_new.items():
                    db.executemany("INSERT INTO records VALUES (?, ?, ?, ?)", ((source, k, *hit) for k, hit in records.items()))
        except sqlite3.Error:
            self.path.unlink(missing_ok=True)


def _row(source: str, note: Note) -> tuple:
    return (source, note.state.value, *note.stamp, *(note.stored or (None, None)))


class RecordMemo:
    """The records of JSONL and CSV files as last read, keyed under one build's read options (`records`)."""

    def __init__(self, states: FileStates, options_key: str):
        self.states = states
        self.salt = hashlib.blake2b(f"{__version__}\0{options_key}".encode(), digest_size=16).digest()

    def key(self, raw: bytes) -> bytes:
        """The key of one raw record under this build's read options and semsearch version."""
        return hashlib.blake2b(raw, digest_size=16, key=self.salt).digest()

    def records_of(self, source: str) -> dict[bytes, Hit]:
        """What the last full read of `source` found."""
        return self.states.records_of(source)

    def read_whole(self, source: str, records: dict[bytes, Hit]) -> None:
        """Note what a full read of `source` found (written with the notes, by `FileStates.save`)."""
        self.states.read_whole(source, records)


LEGACY_NOTES, LEGACY_RECORDS = "restamps.sqlite", "records.sqlite"
_UNREAD, _LOST_ID = (-1, -1), (-2, -2)  # the legacy sentinel stored stamps
_LEGACY_NOTES_ROWS = "SELECT source, size, mtime_ns, stored_size, stored_mtime_ns FROM old.restamps"


def _migrate(root: Path, path: Path) -> None:
    """Read the side files of older indexes (`restamps.sqlite`, `records.sqlite`) once into `files.sqlite`, then
    remove them. A damaged one is dropped (its files are read once more, as before); the new file is written
    under a temporary name and renamed, so a killed migration leaves the old files to migrate again."""
    notes, records = root / LEGACY_NOTES, root / LEGACY_RECORDS
    if not notes.exists() and not records.exists():
        return
    if not path.exists():
        tmp = path.with_name(f".{FILE}.tmp-{os.getpid()}")
        tmp.unlink(missing_ok=True)
        try:
            with closing(sqlite3.connect(tmp)) as db, db:
                for statement in _SCHEMA:
                    db.execute(statement)
                _copy_legacy(db, notes, _LEGACY_NOTES_ROWS, _legacy_note)
                _copy_legacy(db, records, "SELECT source, key, doc_id, fingerprint FROM old.memo", lambda row: row)
            os.replace(tmp, path)
        except (sqlite3.Error, OSError):
            tmp.unlink(missing_ok=True)
            return  # nothing written: the next build tries again
    notes.unlink(missing_ok=True)
    records.unlink(missing_ok=True)


def _copy_legacy(db: sqlite3.Connection, legacy: Path, query: str, convert: Callable[[tuple], tuple]) -> None:
    """Copy the rows of one legacy side file into `db` (a damaged or missing one gives none)."""
    if not legacy.is_file():
        return
    db.commit()  # ATTACH cannot run inside a transaction
    try:
        db.execute("ATTACH DATABASE ? AS old", (str(legacy),))
        try:
            rows = [convert(row) for row in db.execute(query)]
        finally:
            db.execute("DETACH DATABASE old")
    except sqlite3.Error:
        rows = []
    table = "files VALUES (?, ?, ?, ?, ?, ?)" if legacy.name == LEGACY_NOTES else "records VALUES (?, ?, ?, ?)"
    db.executemany(f"INSERT OR REPLACE INTO {table}", rows)


def _legacy_note(row: tuple) -> tuple:
    """A `restamps` row as a `files` row: the sentinel stored stamps become states."""
    source, size, mtime_ns, stored_size, stored_mtime_ns = row
    stored = (stored_size, stored_mtime_ns)
    if stored == _UNREAD:
        return _row(source, Note(FileState.UNREAD, (size, mtime_ns)))
    if stored == _LOST_ID:
        return _row(source, Note(FileState.LOST_ID, (size, mtime_ns)))
    state = FileState.REWRITTEN if stored == (size, mtime_ns) else FileState.EQUAL
    return _row(source, Note(state, (size, mtime_ns), stored))
