"""What a folder build compares the corpus with: the stored documents grouped by the file they were read from,
and the files that an earlier build read and skipped (no document to index), remembered in the commit.

A file is unchanged when its size and mtime are those recorded for every document read from it, or for its
skip: it is not read again, and a skipped one repeats its warnings without being read.
"""

from __future__ import annotations

import warnings

from semsearch.index.generation import Generation, StoredDoc
from semsearch.index.restamps import Restamps
from semsearch.reading import ReadOptions, ReadWarning, SourceFile


class StoredCatalog:
    """The live documents of a generation as plain rows (an object per document costs more than the whole
    comparison at 20k documents): each document's row, and each source file's documents and stamp."""

    def __init__(self, gen: Generation, restamps: Restamps):
        self.restamps = restamps
        self.rows: dict[str, tuple[int, tuple]] = {}  # doc_id -> (segment, catalog row)
        self.by_source: dict[str, list[str]] = {}  # source -> ids of the documents read from it
        self.stamps: dict[str, tuple[int, int] | None] = {}  # source -> (size, mtime_ns); None when they disagree
        rows, by_source, stamps = self.rows, self.by_source, self.stamps
        for i, segment_rows in gen.catalog_rows():
            for row in segment_rows:
                doc_id, source, stamp = row[0], row[4], (row[5], row[6])
                rows[doc_id] = (i, row)
                ids = by_source.get(source)
                if ids is None:
                    by_source[source], stamps[source] = [doc_id], stamp
                else:
                    ids.append(doc_id)
                    if stamps[source] != stamp:
                        stamps[source] = None

    def get(self, doc_id: str) -> StoredDoc | None:
        """A live document's entry, or None."""
        found = self.rows.get(doc_id)
        return None if found is None else StoredDoc.of(*found)

    def unchanged(self, src: SourceFile) -> bool:
        """Whether documents were stored from this file as it is now (same size and mtime, or a stamp it was
        seen with since and found to hold the same documents)."""
        stamp, stored = (src.size, src.mtime_ns), self.stamps.get(src.name)
        return stamp == stored or self.restamps.alias(src.name, stamp, stored)

    def read_back(self, src: SourceFile, doc_ids: list[str]) -> None:
        """Note a file that was read and gave exactly its stored documents, all equal: it is not read again while
        it keeps this stamp."""
        stored = self.stamps.get(src.name)
        if stored is not None and sorted(doc_ids) == sorted(self.by_source[src.name]):
            self.restamps.record(src.name, (src.size, src.mtime_ns), stored)

    def source_of(self, doc_id: str) -> str:
        """Where a live document was read from."""
        return self.rows[doc_id][1][4]


def options_key(options: ReadOptions) -> str:
    """The read options a skip was decided under: a file skipped under others is read again."""
    return repr((options.fields.to_dict(), options.max_file_size, options.max_line_chars))


# Bounds on what a commit remembers (every commit file carries it): past them, skipped files are read again
# each build, as before. 10,000 entries of a few warnings are ~2 MB of JSON.
MAX_REMEMBERED = 10_000
MAX_WARNINGS = 20  # a file with more (a JSONL of bad lines) is read again rather than stored in every commit


class SkippedFiles:
    """Files read and skipped whole (every document unreadable or without text): {name: {size, mtime_ns,
    options, warnings}}. Carried from the base commit while they are unchanged, so they are not read again."""

    def __init__(self, remembered: dict, options: ReadOptions):
        self.remembered, self.key = remembered or {}, options_key(options)
        self.now: dict[str, dict] = {}

    def unchanged(self, src: SourceFile) -> list[str] | None:
        """The warnings of an unchanged remembered file (carried on), or None when it must be read."""
        entry = self.remembered.get(src.name)
        if entry is None or (entry["size"], entry["mtime_ns"], entry["options"]) != (src.size, src.mtime_ns, self.key):
            return None
        self.now[src.name] = entry
        return list(entry["warnings"])

    def record(self, src: SourceFile, messages: list[str]) -> None:
        """Remember a file that was read and gave no document, with its warnings (within the bounds above)."""
        if len(messages) <= MAX_WARNINGS and len(self.now) < MAX_REMEMBERED:
            self.now[src.name] = {"size": src.size, "mtime_ns": src.mtime_ns, "options": self.key, "warnings": messages}

    @property
    def changed(self) -> bool:
        """Whether the next commit must record a different set than the base's."""
        return self.now != self.remembered


def repeat(messages: list[str]) -> None:
    """Warn again what an unchanged skipped file was warned about when it was read."""
    for message in messages:
        warnings.warn(message, ReadWarning, stacklevel=2)
