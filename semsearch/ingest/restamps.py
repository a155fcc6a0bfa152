"""Files touched but not changed: the stamp (size, mtime) each was last seen with, so builds stop reading it.

A folder build skips a file whose size and mtime are those its stored documents record. A copy, checkout or
`touch` gives a file a new mtime with the same content: the build reads it, finds every document equal and
embeds nothing, but the segments keep the old stamp (they are immutable), so every later build read it again
(20k touched NoReC files: 4.3 s a build instead of 0.22 s). Such a file is noted here as an alias:
"seen as (size, mtime), it holds what is stored under (stored size, stored mtime)". A file of many records
of which some changed is another case: its documents then carry two stamps, and once the build has committed
it is noted against the newest (its own), so later builds do not read it whole again.

    <index>/restamps.sqlite   source -> size, mtime_ns, stored_size, stored_mtime_ns

An alias only counts while the catalog still records the stored stamp for that source, so it checks itself:
a file re-indexed since, or an index rebuilt, leaves it stale and it is dropped. Nothing else depends on
it, so it needs no commit: a build killed before writing it reads the files once more, and a damaged file
is removed and started again. A file whose reading stopped part way (an I/O error), or one of whose documents
`semsearch delete` took out, is noted with no stored stamp, meaning "read it again", until a build reads it to
its end; one that holds an id another file won is noted so too, and read by every build until it holds none,
even by a build told what changed (`--changed`): the copy it holds takes the id when the winner drops it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

FILE = "restamps.sqlite"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS restamps (source TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, "
    "stored_size INTEGER, stored_mtime_ns INTEGER)"
)
Stamp = tuple[int, int]
UNREAD = (-1, -1)  # in place of the stored stamp: the file was read in part and must be read again
LOST_ID = (-2, -2)  # likewise: the file holds an id that another file won, which a change elsewhere may hand to it


class Restamps:
    """The aliases of one index: read when a folder build starts, written once it has read the corpus."""

    def __init__(self, root: Path):
        self.path = Path(root) / FILE
        self.seen: dict[str, tuple[Stamp, Stamp]] = {}  # source -> (seen stamp, stored stamp)
        self.new: dict[str, tuple[Stamp, Stamp]] = {}
        if self.path.is_file():
            try:
                with closing(sqlite3.connect(self.path)) as db:
                    rows = db.execute("SELECT source, size, mtime_ns, stored_size, stored_mtime_ns FROM restamps").fetchall()
                self.seen = {r[0]: ((r[1], r[2]), (r[3], r[4])) for r in rows}
            except sqlite3.Error:
                self.path.unlink(missing_ok=True)  # damaged: the files it named are read once more

    def mark_unread(self, source: str, stamp: Stamp) -> None:
        """Note a file to read again while it has `stamp`: its reading stopped part way, or a document of it was
        deleted; the documents stored from it may agree with its stamp and still miss some of what it holds."""
        self.new[source] = (stamp, UNREAD)

    def mark_lost_id(self, source: str, stamp: Stamp) -> None:
        """Note a file to read again while it has `stamp`, by every build, those told what changed too: it holds an
        id that another file won (which copy wins depends on the other files)."""
        self.new[source] = (stamp, LOST_ID)

    def lost_ids(self) -> list[str]:
        """The files noted as holding an id that another file won (`mark_lost_id`)."""
        return sorted(source for source, (_, stored) in self.seen.items() if stored == LOST_ID)

    def apply(self, same: set[str], now: dict[str, Stamp], signature: Callable[[str], Stamp | None]) -> None:
        """Correct `same`, the sources whose stamp `now` equals the one their documents were stored with: add those
        seen since with their stamp now and found to hold what is stored under `signature(source)`, and drop those
        read only in part at that stamp (they are read again whatever their documents say)."""
        for source, (seen, stored) in self.seen.items():
            if now.get(source) != seen:
                continue
            if stored in (UNREAD, LOST_ID):
                same.discard(source)
            elif stored == signature(source):
                same.add(source)

    def record(self, source: str, stamp: Stamp, stored: Stamp) -> None:
        """Note a file read with `stamp` whose documents all equal those stored under `stored`."""
        self.new[source] = (stamp, stored)

    def save(self, stored: Callable[[str], Stamp | None] | None = None, kept: Callable[[str], bool] = lambda s: False) -> None:
        """Write the new aliases and marks, and drop those whose stored stamp the catalog no longer records
        (`stored(source)`; None: keep every other one, for a writer that did not compare the corpus), except
        those of the sources `kept` names (outside what the build compared)."""
        stale = [s for s, (_, was) in self.seen.items() if s not in self.new and stored and not kept(s) and stored(s) != was]
        if not self.new and not stale:
            return
        try:
            with closing(sqlite3.connect(self.path)) as db, db:
                db.execute(_SCHEMA)
                db.executemany("DELETE FROM restamps WHERE source = ?", [(s,) for s in stale])
                db.executemany(
                    "INSERT OR REPLACE INTO restamps VALUES (?, ?, ?, ?, ?)",
                    [(s, *seen, *stored) for s, (seen, stored) in self.new.items()],
                )
        except sqlite3.Error:
            self.path.unlink(missing_ok=True)
