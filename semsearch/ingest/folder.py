"""Reading the files a folder build plans to read: each file's documents go to the pipeline when new or changed,
and what was found in the file (its `FileState`) decides when a later build reads it again."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from itertools import islice

from semsearch.index.generation import StoredDoc
from semsearch.ingest.changes import SeenIds
from semsearch.ingest.pipeline import Pipeline
from semsearch.ingest.plan import FolderPlan
from semsearch.ingest.report import EventSink, FileRead, FileState, Report
from semsearch.ingest.sources import EqualDoc, memo_docs, source_docs
from semsearch.reading import DuplicateId, ReadStopped, ReadWarning, SourceFile, reader_for
from semsearch.reading.messages import Diagnostic, Diagnostics, collecting, diagnostic, shown

LOOKUP_GROUP = 512  # documents looked up in the index at a time


class FileFound:
    """What reading one file gave: the ids found as stored, how many documents were new or changed, the stored
    documents an unread file holds under an id this file took (with where it was read), and its problems."""

    def __init__(self, problems: Diagnostics):
        self.equal: list[str] = []
        self.queued = 0
        self.displaced: list[tuple[StoredDoc, str]] = []
        self.new_ids = 0  # ids this file gave that no file read before it gave
        self.problems = problems


def read_folder(plan: FolderPlan, pipeline: Pipeline, report: Report, emit: EventSink, progress: bool) -> dict[str, str]:
    """Read the files `plan` names, queue their new or changed documents, and note each file's state; return the
    ids read (id -> where)."""
    seen = SeenIds(plan.catalog, plan.unchanged, plan.sources)
    for src in _files_bar(plan.to_read, progress):
        if src.name in plan.remembered:
            for message in plan.remembered[src.name]:
                report.problem(Diagnostic(message, ReadWarning))
            continue
        t = time.perf_counter()
        found = _read_file(src, seen, plan, pipeline, report)
        for old, where in found.displaced:
            _duplicate_in_unread_file(plan, report, old, where)
        state = file_state(found)
        _note(plan, src, state, found)
        report.timings["read_and_chunk"] += time.perf_counter() - t
        emit(FileRead(src.name, state, found.queued, len(found.equal), len(found.problems.messages)))
    return seen.read


def _read_file(src: SourceFile, seen: SeenIds, plan: FolderPlan, pipeline: Pipeline, report: Report) -> FileFound:
    """Read one file: queue its documents that are new, changed or stored from another file; collect its problems."""
    found, before, known = FileFound(Diagnostics(report.problem)), len(seen), plan.catalog
    seen.current = src.name
    with collecting(found.problems):
        for group in groups(_docs_of(plan, pipeline, src, seen), LOOKUP_GROUP):  # a file of many records
            stored = known.lookup([doc.doc_id for doc in group if not isinstance(doc, EqualDoc)])
            for doc in group:
                old = None if isinstance(doc, EqualDoc) else stored.get(doc.doc_id)
                if isinstance(doc, EqualDoc) or (
                    old is not None and old.fingerprint == doc.entry.fingerprint and old.source == src.name
                ):
                    found.equal.append(doc.doc_id)
                    continue
                found.queued += 1
                if old is not None and known.unread(old.source, plan.unchanged):  # an unread file holds the id: it loses
                    found.displaced.append((old, doc.article.source))
                pipeline.queue(doc, old)
    found.new_ids = len(seen) - before
    return found


def file_state(found: FileFound) -> FileState:
    """What reading a file found, as a later build needs it: read in part, holding an id another file won,
    skipped whole, found equal, in part equal, or nothing to note."""
    messages = found.problems.messages
    if found.problems.any(ReadStopped):
        return FileState.STOPPED
    if found.problems.any(DuplicateId):  # which copy of an id wins depends on the other files
        return FileState.LOST_ID
    if not found.new_ids and messages:
        return FileState.SKIPPED
    if found.equal and not found.queued and not messages:
        return FileState.EQUAL
    if found.queued and found.equal:
        return FileState.REWRITTEN
    return FileState.READ


def _note(plan: FolderPlan, src: SourceFile, state: FileState, found: FileFound) -> None:
    """Record a file's state where the next build looks for it."""
    stamp = (src.size, src.mtime_ns)
    if state is FileState.STOPPED:
        plan.catalog.stopped(src)  # its unread documents are kept, and it is read again next time
    elif state is FileState.LOST_ID:
        plan.catalog.read_again(src.name, stamp)  # read while it holds such a copy
    elif state is FileState.SKIPPED:
        plan.skipped_files.record(src, found.problems.messages)  # not read again while unchanged
    elif state is FileState.EQUAL:
        plan.catalog.read_back(src, found.equal)  # touched, not changed: not read again while it keeps this stamp
    elif state is FileState.REWRITTEN:
        plan.catalog.rewrote(src)  # its documents' stamps disagree: noted, so it is not read whole again


def _docs_of(plan: FolderPlan, pipeline: Pipeline, src: SourceFile, seen: SeenIds) -> Iterator:
    """The documents of a file being read: the records of a JSONL or CSV file that are as they were when it was
    last read whole (and whose documents the index holds from it) come as `EqualDoc`s, unparsed."""
    options = pipeline.target.options
    if reader_for(src.name).records is None:
        return source_docs(src, options, seen)
    known = plan.catalog
    return memo_docs(src, options, seen, plan.memo, lambda doc_id, fingerprint: known.holds(doc_id, src.name, fingerprint))


def _duplicate_in_unread_file(plan: FolderPlan, report: Report, old: StoredDoc, winner: str) -> None:
    """A changed file took an id that an unchanged, unread file holds too (it sorts after, or the changed file
    would have lost): as in a fresh build the first file wins, and the other is reported as reading it would
    be, and read next time."""
    problem = f"first read at '{winner}', so this one is skipped: give each document its own id"
    where = plan.catalog.where(old.source, plan.sources)
    report.problem(diagnostic(where, f"duplicate id '{shown(old.doc_id)}', {problem}", DuplicateId))
    plan.catalog.read_again(old.source, (old.size, old.mtime_ns))


def _files_bar(files: list[SourceFile], show: bool):
    """`files`, with a progress bar over them on a terminal (tqdm is imported only then)."""
    if not show:
        return files
    from tqdm import tqdm

    return tqdm(files, desc="reading and chunking", unit="file", leave=False)


def groups(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of at most `size` items (a stream is never held whole)."""
    it = iter(items)
    while group := list(islice(it, size)):
        yield group
