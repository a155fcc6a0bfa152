"""What a folder build compares the corpus with: the stored documents grouped by the file they were read from,
and the files that an earlier build read and skipped (no document to index), remembered in the commit.

A file is unchanged when its size and mtime are those recorded for every document read from it, or for its
skip, or its state in files.sqlite says it was read since with that stamp (`file_states`: touched but equal, or
a file of many records of which some were stored again): it is not read again, and a skipped one repeats its
warnings without being read.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from operator import attrgetter

from semsearch.index.generation import Generation, StoredDoc
from semsearch.ingest.file_states import FileState, FileStates, Stamp
from semsearch.reading import ReadOptions, SourceFile
from semsearch.reading.scope import Scope


class StoredCatalog:
    """The live documents of a generation as a folder build compares the corpus with them: each document's
    source, and the stamp (size, mtime_ns) each source's documents were read with.

    Made by C-level calls (`zip`, `dict`), with no Python step per document: at 20k documents ~20 ms, where a
    row object and a loop step per document cost ~75 ms (bench/scale.py's one-file update). Whole entries
    (`lookup`) are fetched only for the documents of changed or vanished files and those a build reads.
    """

    def __init__(self, gen: Generation, states: FileStates, scope: Scope | None = None):
        self.generation, self.states = gen, states
        self.scope = None if scope is None or scope.whole else scope  # None: the whole corpus is compared
        rows = gen.stamps() if self.scope is None else _stamps_in(gen, self.scope)  # (doc_id, source, size, mtime_ns, row)
        self.live = len(rows)
        self._outside: dict[str, str | None] = {}  # a scoped build's lookups of ids stored from outside its scope
        doc_ids, sources, sizes, mtimes, _ = zip(*rows) if rows else ((),) * 5
        self.source_of_doc: dict[str, str] = dict(zip(doc_ids, sources))
        self.stamps: dict[str, Stamp | None] = dict(zip(sources, zip(sizes, mtimes)))  # None: they disagree
        self.newest: dict[str, Stamp] = {}  # the newest stamp of each source whose documents' stamps disagree
        if len(self.stamps) != len(rows):  # sources holding several documents: do their stamps agree?
            distinct = set(zip(sources, sizes, mtimes))
            counts = Counter(s for s, _, _ in distinct)
            for source, size, mtime in distinct:
                if counts[source] > 1:
                    self.stamps[source] = None
                    if mtime >= self.newest.get(source, (0, -1))[1]:
                        self.newest[source] = (size, mtime)
        self.by_source: dict[str, list[str]] = {}  # source -> ids, of the sources `compare` finds changed or gone
        self._entries: dict[str, StoredDoc] = {}  # the documents of `by_source`, fetched by `compare`

    def stored_source(self, doc_id: str) -> str | None:
        """The corpus file the live document `doc_id` was stored from, or None (a scoped build looks up those
        stored from outside its scope one by one, as the documents it reads need them)."""
        source = self.source_of_doc.get(doc_id)
        if source is not None or self.scope is None:
            return source
        if doc_id not in self._outside:
            stored = self.generation.lookup([doc_id]).get(doc_id)
            self._outside[doc_id] = None if stored is None else stored.source
        return self._outside[doc_id]

    def unread(self, source: str, same: set[str]) -> bool:
        """Whether the build leaves the corpus file `source` unread: unchanged, or outside a scoped build's scope."""
        return source in same or (self.scope is not None and not self.scope.covers(source))

    def where(self, source: str, sources: list[SourceFile]) -> str:
        """The escaped path of a corpus file documents were stored from, for messages."""
        if self.scope is not None and not self.scope.covers(source):
            return self.scope.where(source)
        return source_named(sources, source).where

    def signature(self, source: str) -> Stamp | None:
        """What an alias of `source` is checked against: its documents' stamp, or the newest one where they
        disagree (a file of several records of which some were stored again)."""
        return self.stamps.get(source) or self.newest.get(source)

    def compare(self, sources: list[SourceFile]) -> set[str]:
        """The names of the unchanged sources (same size and mtime as their stored documents, or a stamp they
        were seen with since and found to hold the same documents); the ids of the documents stored from every
        other source (changed or gone) are grouped by source in `by_source`."""
        now, stamps = {src.name: (src.size, src.mtime_ns) for src in sources}, self.stamps
        same = {name for name, stamp in now.items() if stamp == stamps.get(name)}  # then the few aliases:
        self.states.apply(same, now, self.signature)
        if len(same) < len(self.stamps):  # some stored source changed or is gone
            for doc_id, source in self.source_of_doc.items():
                if source not in same:
                    self.by_source.setdefault(source, []).append(doc_id)
        # Their entries now, while no other thread runs: each row SQLite gives back releases the GIL, and taking
        # it back behind the encoder's loading or the chunking thread cost ~80 ms per 500 rows, against ~2 ms here.
        self._entries = self.generation.lookup([doc_id for ids in self.by_source.values() for doc_id in ids])
        return same

    def lookup(self, doc_ids: list[str]) -> dict[str, StoredDoc]:
        """The entries of those of these documents that are live (new ids cost nothing; those of the sources
        `compare` found changed or gone were fetched then)."""
        found = {d: self._entries[d] for d in doc_ids if d in self._entries}
        rest = [d for d in doc_ids if d not in found and (self.scope or d in self.source_of_doc)]  # stored elsewhere
        if rest:
            found.update(self.generation.lookup(rest))
        return found

    def holds(self, doc_id: str, source: str, fingerprint: str) -> bool:
        """Whether the live document `doc_id` was stored from `source` with this fingerprint."""
        stored = self._entries.get(doc_id) or self.lookup([doc_id]).get(doc_id)  # the first: no list per line
        return stored is not None and stored.source == source and stored.fingerprint == fingerprint

    def vanished(self, sources: list[SourceFile]) -> list[str]:
        """The sources documents were stored from that are no longer in the corpus."""
        if not self.by_source:
            return []
        present = {src.name for src in sources}
        return [source for source in self.by_source if source not in present]

    def read_back(self, src: SourceFile, doc_ids: list[str]) -> None:
        """Note a file that was read and gave exactly its stored documents, all equal: it is not read again while
        it keeps this stamp."""
        stored = self.signature(src.name)
        if stored is not None and sorted(doc_ids) == sorted(self.by_source[src.name]):
            self.states.note(src.name, FileState.EQUAL, (src.size, src.mtime_ns), stored)

    def stopped(self, src: SourceFile) -> None:
        """Note a file whose reading stopped part way: its stored documents not read now are kept (not taken for
        gone), and the next build reads it again, even if the documents stored from it agree with its stamp."""
        self.by_source.pop(src.name, None)
        self.states.note(src.name, FileState.STOPPED, (src.size, src.mtime_ns))

    def read_again(self, source: str, stamp: Stamp) -> None:
        """Note a file to be read by the next build even while it keeps `stamp`, a build told what changed too (one
        holding an id that another file holds too: which copy wins depends on the other files)."""
        self.states.note(source, FileState.LOST_ID, stamp)

    def rewrote(self, src: SourceFile) -> None:
        """Note a file read to its end (any record it warned about skipped, as on every read) of which some
        documents are stored again and others were equal and kept: its documents are what it holds, though
        their stamps disagree, so it is noted against the newest (its own). Written by `settle`, once the build
        has committed them; a build killed before that writes nothing, so such a file, perhaps stored in part,
        is read again."""
        stamp = (src.size, src.mtime_ns)
        self.states.note(src.name, FileState.REWRITTEN, stamp, stamp)

    def settle(self, gone: list[str]) -> None:
        """After the build's last commit: write the file states and records it found (none reach the disk before);
        `gone`: the files no longer in the corpus."""
        outside = (lambda source: not self.scope.covers(source)) if self.scope is not None else (lambda source: False)
        self.states.save(lambda source: self.signature(source) if source not in self.by_source else None, outside, gone)

    def gone(self, read: set[str] | dict[str, str], keep=lambda source: False) -> list[str]:
        """Stored documents of the changed or vanished sources that this build did not read again (sorted), less
        those whose source `keep` says to keep."""
        return sorted(d for source, ids in self.by_source.items() if not keep(source) for d in ids if d not in read)


class SeenIds:
    """The document ids a folder build has met, and where, as `reading.dedupe` asks for them: those read so far,
    and those stored from unchanged files that sort before the file being read (`current`). So the first
    occurrence of an id in name order wins, as if every file were read, while unchanged files stay unread."""

    def __init__(self, known: StoredCatalog, unchanged: set[str], sources: list[SourceFile]):
        self.read: dict[str, str] = {}
        self.known, self.unchanged, self.sources = known, unchanged, sources  # sources: sorted by name
        self.current = ""  # the name of the file being read

    def get(self, doc_id: str) -> str | None:
        """Where the id was met first, or None."""
        first = self.read.get(doc_id)
        if first is None:
            source = self.known.stored_source(doc_id)
            if source is not None and source < self.current and self.known.unread(source, self.unchanged):
                return self.known.where(source, self.sources)
        return first

    def __setitem__(self, doc_id: str, where: str) -> None:
        self.read[doc_id] = where

    def __len__(self) -> int:
        return len(self.read)


def _stamps_in(gen: Generation, scope: Scope) -> list[tuple]:
    """`Generation.stamps` of the documents stored from files in `scope`, fetched by SQLite's own scan."""
    files, folders = sorted(scope.files), scope.folders
    if len(files) + 2 * len(folders) > MAX_SCOPE_PARAMS:  # past SQLite's bound on parameters: filtered here
        return [row for row in gen.stamps() if scope.covers(row[1])]
    ranges = ["(source >= ? AND source < ?)"] * len(folders)  # "a/" up to "a0": every name under a/
    where = " OR ".join([f"source IN ({','.join('?' * len(files))})"] * bool(files) + ranges)
    return gen.stamps(where, [*files, *(bound for f in folders for bound in (f, f[:-1] + "0"))])


MAX_SCOPE_PARAMS = 900


def source_named(sources: list[SourceFile], name: str) -> SourceFile:
    """The source of this name in `sources` (sorted by name, as `list_sources` gives them)."""
    return sources[bisect_left(sources, name, key=attrgetter("name"))]


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

    def __init__(self, remembered: dict, options: ReadOptions, scope: Scope | None = None):
        self.remembered, self.key = remembered or {}, options_key(options)
        self.now: dict[str, dict] = {}  # a scoped build carries those outside its scope as they are
        if scope is not None and not scope.whole:
            self.now = {name: entry for name, entry in self.remembered.items() if not scope.covers(name)}

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
