"""What a folder build reads, deletes and re-embeds, decided before it reads a file.

The corpus is listed (whole, or only what a build told what changed names) and compared with the index in bulk:
a file whose size and mtime are those its stored documents carry is unchanged and left unread; a file skipped
whole before and unchanged since repeats its messages unread; every other file is read. What is deleted is
known once reading ends: the stored documents of changed or vanished files that no file gave again.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from semsearch.index.commit import Commit
from semsearch.ingest.changes import SkippedFiles, StoredCatalog, options_key
from semsearch.ingest.file_states import FileStates, RecordMemo
from semsearch.ingest.sources import list_sources
from semsearch.ingest.target import Target
from semsearch.reading import SourceFile
from semsearch.reading.messages import Diagnostic, Diagnostics, collecting
from semsearch.reading.scope import Scope


class Listing(NamedTuple):
    """The corpus files a build compares (sorted by name), and the problems met listing them."""

    corpus: Path
    scope: Scope | None  # None: the whole corpus
    sources: list[SourceFile]
    problems: list[Diagnostic]


def list_corpus(corpus: str | Path, scope: Scope | None) -> Listing:
    """List every corpus file, or those in `scope`; a name that cannot be read is a problem, not an error.

    Raises SemsearchError when the corpus cannot be read at all (see `reading.list_sources`)."""
    with collecting(Diagnostics()) as found:
        sources = list_sources(Path(corpus)) if scope is None else scope.sources()
    return Listing(Path(corpus), scope, sources, found.found)


class FolderPlan(NamedTuple):
    """What a folder build does before it reads a file: the files to read (`to_read`, in name order), those left
    unread (`unchanged`), those that repeat their messages unread (`remembered`), whether to load the bulk encoder
    at once (`bulk`), and the commit whose documents added through the API are embedded again (`previous`)."""

    listing: Listing
    catalog: StoredCatalog  # the stored documents by file; `catalog.gone` gives the deletes once reading ends
    unchanged: set[str]
    to_read: list[SourceFile]
    remembered: dict[str, list[str]]
    bulk: bool
    previous: Commit | None
    skipped_files: SkippedFiles  # files skipped whole, as the next commit records them
    memo: RecordMemo  # the records of JSONL and CSV files as last read

    @property
    def scope(self) -> Scope | None:
        return self.listing.scope

    @property
    def sources(self) -> list[SourceFile]:
        return self.listing.sources


def plan_folder(listing: Listing, target: Target) -> FolderPlan:
    """Compare the listed corpus with the index `target` opened. A build told what changed reads the whole corpus
    when the index is new or its settings changed, and also the files that hold an id another file won."""
    if listing.scope is not None and (target.previous is not None or not target.writer.base.documents):
        target.log("reading the whole corpus, not only what --changed names: the index is new or its settings changed")
        listing = list_corpus(listing.corpus, None)
    states = FileStates(target.root)
    if listing.scope is not None and (lost := [s for s in states.lost_ids() if not listing.scope.covers(s)]):
        listing = list_corpus(listing.corpus, listing.scope.including(lost))  # what --changed names may drop the id
    scope, sources = listing.scope, listing.sources
    catalog = StoredCatalog(target.writer.generation, states, scope)
    unchanged = catalog.compare(sources)
    skipped_files = SkippedFiles(target.writer.base.skipped, target.options, scope)
    to_read = [src for src in sources if src.name not in unchanged]  # unchanged files are not even read
    remembered = {  # files skipped whole before and unchanged since: their messages again, unread
        src.name: messages
        for src in to_read
        if src.name not in catalog.by_source and (messages := skipped_files.unchanged(src)) is not None
    }
    memo = RecordMemo(states, options_key(target.options))
    bulk = _new_bytes(to_read, remembered, catalog) > target.embedder.bulk_bytes
    return FolderPlan(listing, catalog, unchanged, to_read, remembered, bulk, target.previous, skipped_files, memo)


def _new_bytes(to_read: list[SourceFile], remembered: dict, catalog: StoredCatalog) -> int:
    """How much there is to embed, as the bytes of the files to read that are new or hold one stored document: a
    changed file of many stored records (a JSONL archive) may differ by one record, so it alone never makes a
    bulk build (the bulk encoder's start-up and the whole tokenizer cost seconds)."""
    by_source = catalog.by_source
    return sum(s.size for s in to_read if s.name not in remembered and len(by_source.get(s.name, ())) <= 1)
