"""Records of JSONL and CSV files as they were last read: a digest of each raw record, with the document it gave.

A JSONL or CSV archive re-exported every night gets a new mtime with (mostly) the same records, so a folder
build reads it whole. Parsing a record (the field rules, the fingerprint) is most of that: ~0.1 ms a record,
~100 s for a million. A record whose bytes (a JSONL line; a CSV row with its header), read options and
semsearch version are those of a record read before gave the same document then; when the catalog still holds
that document, stored from this file with that fingerprint, the record is equal without being parsed.

    <index>/records.sqlite   source, key (blake2b of the record), doc_id, fingerprint

Like restamps.sqlite it needs no commit: every hit is checked against the catalog, a build killed before
writing it parses once more, and a damaged file is removed and started again.
"""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from pathlib import Path

from semsearch import __version__

FILE = "records.sqlite"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS memo (source TEXT, key BLOB, doc_id TEXT, fingerprint TEXT, "
    "PRIMARY KEY (source, key)) WITHOUT ROWID"
)
Hit = tuple[str, str]  # (doc_id, fingerprint)


class RecordMemo:
    """The records each JSONL or CSV file gave when last read to its end; loaded per file, written after the commit."""

    def __init__(self, root: Path, options_key: str):
        self.path = Path(root) / FILE
        self.salt = hashlib.blake2b(f"{__version__}\0{options_key}".encode(), digest_size=16).digest()
        self.new: dict[str, dict[bytes, Hit]] = {}  # source -> its lines' keys and documents, read whole this build

    def key(self, raw: bytes) -> bytes:
        """The key of one raw record under this build's read options and semsearch version."""
        return hashlib.blake2b(raw, digest_size=16, key=self.salt).digest()

    def records_of(self, source: str) -> dict[bytes, Hit]:
        """What the last full read of `source` found: {key: (doc_id, fingerprint)} ({} when nothing)."""
        if not self.path.is_file():
            return {}
        try:
            with closing(sqlite3.connect(self.path)) as db:
                rows = db.execute("SELECT key, doc_id, fingerprint FROM memo WHERE source = ?", (source,)).fetchall()
        except sqlite3.Error:
            self.path.unlink(missing_ok=True)  # damaged: those files are parsed once more
            return {}
        return {key: (doc_id, fingerprint) for key, doc_id, fingerprint in rows}

    def read_whole(self, source: str, lines: dict[bytes, Hit]) -> None:
        """Note what a full read of `source` found (written by `save`)."""
        self.new[source] = lines

    def save(self, gone: list[str]) -> None:
        """Write the files read whole this build, and drop the `gone` ones (no longer in the corpus)."""
        if not self.new and not (gone and self.path.is_file()):
            return
        try:
            with closing(sqlite3.connect(self.path)) as db, db:
                db.execute(_SCHEMA)
                db.executemany("DELETE FROM memo WHERE source = ?", [(s,) for s in [*gone, *self.new]])
                for source, lines in self.new.items():
                    db.executemany("INSERT INTO memo VALUES (?, ?, ?, ?)", ((source, k, *hit) for k, hit in lines.items()))
        except sqlite3.Error:
            self.path.unlink(missing_ok=True)
