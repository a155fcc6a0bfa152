"""Building and updating an index: stream the corpus, embed only new or changed documents, commit in batches.

A build has three parts: a plan (`plan`: what to read, delete and re-embed), a pipeline that owns its threads
and the current batch (`pipeline`: chunk, embed, commit), and a report (`report`: the `IndexStats` it returns).
Each batch of new chunks becomes one segment, committed with the delete marks of the documents it replaces, so a
killed build keeps every batch it finished and the next build skips those documents. Removed documents are
marked deleted in the last commit; then the merge policy runs.

Problems with the input are diagnostics (`reading.messages`): each is counted in the report and passed to the
caller's `on_problem` (by default a Python `ReadWarning`, the library's edge). What the build does is told to
`on_event` as it happens (`report.BuildEvent`).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from semsearch.chunking import ChunkParams
from semsearch.errors import SemsearchError
from semsearch.index import store
from semsearch.index.compaction import maybe_merge
from semsearch.index.generation import Generation, StoredDoc
from semsearch.ingest.file_states import FileState, FileStates
from semsearch.ingest.folder import LOOKUP_GROUP, groups, read_folder
from semsearch.ingest.pipeline import BATCH_CHUNKS, Options, Pipeline
from semsearch.ingest.plan import FolderPlan, list_corpus, plan_folder
from semsearch.ingest.report import EventSink, FilesPlanned, IndexStats, Report
from semsearch.ingest.sources import SourceDoc, api_doc
from semsearch.ingest.target import Settings, Target, open_target
from semsearch.reading import DEFAULT_MAX_FILE_SIZE, FieldMap, ReadOptions
from semsearch.reading.lines import text_document
from semsearch.reading.messages import Diagnostic, Diagnostics, as_warning, collecting
from semsearch.reading.scope import Scope

__all__ = ["API_SOURCE", "BATCH_CHUNKS", "IndexStats", "build_index", "compact_index", "update_index"]

API_SOURCE = "api:"  # documents added through the API: a corpus build never removes them
ProblemSink = Callable[[Diagnostic], None]


def build_index(
    corpus: str | Path = "corpus",
    index: str | Path = "index",
    model: str | None = None,
    *,
    params: ChunkParams | None = None,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
    batch_chunks: int = BATCH_CHUNKS,
    fields: FieldMap | None = None,
    max_file_size: int | None = DEFAULT_MAX_FILE_SIZE,
    backend: str | dict = "auto",
    device: str = "auto",
    ray: str | bool | None = None,
    changed: Sequence[str | os.PathLike] | None = None,
    on_problem: ProblemSink | None = None,
    on_event: EventSink | None = None,
) -> IndexStats:
    """Index every document under `corpus` into the folder `index`, embedding only what is new or changed.

    Args:
        corpus: folder of articles (read recursively) or one file.
        index: index folder; created when missing. Readers see the previous state until each commit.
        model: hub name or local sentence-transformers folder; default: the index's model, $SEMSEARCH_MODEL,
            or intfloat/multilingual-e5-small.
        params: chunking parameters; default `ChunkParams()`.
        progress: progress bars (default: when stderr is a terminal); each batch is logged with its rate anyway.
        log: receives one-line progress messages.
        batch_chunks: chunks per committed batch (a killed build keeps every finished batch).
        fields: which JSONL/CSV fields hold id, text, title, date and url; recorded in the index, so later
            builds and `add` read records the same way (default: the recorded mapping, else the standard names).
        max_file_size: the largest document in bytes (a file, or one record's text); larger ones are skipped
            with a warning (None: no limit).
        backend: "auto" (the index's recorded one, else the CPU's best), "onnx", "onnx-int8", "openvino-bf16", "torch".
        device: "auto", "cpu" or "cuda" (see `Embedder`); ray: embed on Ray Data, True (local) or an address.
        changed: files and folders under the corpus folder known to have changed (or been deleted): only they
            are looked at, and the rest of the corpus is taken as unchanged, unwalked (`reading.scope`). The
            whole corpus is read when the index is new or its settings changed.
        on_problem: gets each problem with the input as it is found (a one-line `Diagnostic`); default: a warning.
        on_event: gets what the build does as it happens (`FilesPlanned`, `FileRead`, `BatchEmbedded`, `Committed`).

    Returns:
        IndexStats. Documents that could not be read are listed in `skipped` (and passed to `on_problem`).
    """
    t0 = time.perf_counter()
    scope = None if changed is None else Scope.of(corpus, list(changed))
    listing = list_corpus(corpus, scope)  # before the lock: a corpus that cannot be read creates no index
    settings = Settings(model, params, fields, backend, device, max_file_size)
    report, emit = Report(on_problem or as_warning), on_event or _ignore
    with _opened(Path(index), settings, log, report) as target:
        plan = plan_folder(listing, target)
        for problem in plan.listing.problems:
            report.problem(problem)
        with Pipeline(target, report, emit, Options(batch_chunks, _shows(progress), ray)) as pipeline:
            _run_plan(plan, pipeline, report, emit, _shows(progress))
            pipeline.finish()
        plan.catalog.settle(plan.catalog.vanished(plan.sources))  # the side file, once the last commit is made
    return _stats(target, report, t0)


def _run_plan(plan: FolderPlan, pipeline: Pipeline, report: Report, emit: EventSink, progress: bool) -> None:
    """Read what the plan names, queue the API's documents of a replaced commit again, and delete what is gone."""
    whole = plan.previous is not None or not pipeline.writer.base.documents
    emit(FilesPlanned(len(plan.sources), len(plan.to_read) - len(plan.remembered), len(plan.remembered), plan.bulk, whole))
    pipeline.skipped_files = plan.skipped_files
    if plan.bulk:
        pipeline.use_bulk()  # so much to read that the bulk encoder's start-up and vocabulary pay
    read = read_folder(plan, pipeline, report, emit, progress)
    if not read and not plan.catalog.live and plan.scope is None:
        raise SemsearchError(f"no readable document in '{plan.listing.corpus}': fix the files named above")
    if plan.previous is not None:
        _carry_api_docs(pipeline, plan.previous, read)
    gone = plan.catalog.gone(read, keep=lambda source: source.startswith(API_SOURCE))
    for group in groups(gone, LOOKUP_GROUP):
        for entry in plan.catalog.lookup(group).values():
            pipeline.writer.delete_doc(entry)
    report.removed.extend(gone)


def update_index(
    index: str | Path,
    docs: Iterable[SourceDoc] | Callable[[ReadOptions], Iterable[SourceDoc]] = (),
    delete: Iterable[str] = (),
    model: str | None = None,
    *,
    log: Callable[[str], None] | None = None,
    batch_chunks: int = BATCH_CHUNKS,
    on_problem: ProblemSink | None = None,
    on_event: EventSink | None = None,
) -> IndexStats:
    """Upsert these documents and delete these ids, atomically per batch, embedding only what changed.

    `docs` may be a function of the index's read options (its recorded field mapping) giving the documents.
    `on_problem` and `on_event`: as for `build_index`.
    """
    t0 = time.perf_counter()
    report, emit = Report(on_problem or as_warning), on_event or _ignore
    with _opened(Path(index), Settings(model, keep=True), log, report) as target:
        start = target.writer.generation  # every lookup sees the index as the update found it
        with Pipeline(target, report, emit, Options(batch_chunks)) as pipeline:
            upserted = _upsert(start, target.options, pipeline, docs, report)
            removed = [doc_id for doc_id in dict.fromkeys(delete) if doc_id not in upserted]
            known = start.lookup(removed)
            for doc_id in removed:
                if doc_id in known:
                    pipeline.writer.delete_doc(known[doc_id])
                    report.removed.append(doc_id)
            pipeline.finish()
        _read_again(target.root, [known[d] for d in report.removed])
    return _stats(target, report, t0)


def delete_documents(index: str | Path, ids: Iterable[str], log: Callable[[str], None] | None = None) -> IndexStats:
    """Delete documents by id (unknown ids are ignored: `removed` lists those deleted), committed atomically.

    Only delete marks are written and nothing is embedded, so neither the model nor the recorded settings are
    needed: an index whose model folder has gone, or of an older format, can still lose documents. The merge
    policy runs after, as after any update."""
    t0 = time.perf_counter()
    root, report = Path(index), Report(as_warning)
    with store.lock(root):
        base, problems = store.writable_commit(root, rebuild=False)
        if base is None:
            raise SemsearchError(f"index folder '{root}' holds no index, so there is nothing to delete: check --index")
        writer = store.Writer(root, base)
        report.repaired = problems + writer.repairs
        known = writer.generation.lookup(list(dict.fromkeys(ids)))
        for doc in known.values():
            writer.delete_doc(doc)
            report.removed.append(doc.doc_id)
        if report.removed:
            writer.commit()
            report.merged += maybe_merge(writer, log=log)
            store.collect_garbage(root)
        _read_again(root, list(known.values()))
    return report.stats(root, writer.base, time.perf_counter() - t0)


def _upsert(start: Generation, options: ReadOptions, pipeline: Pipeline, docs, report: Report) -> set[str]:
    """Queue the given documents that are new or changed against `start`; return the ids given. Records skipped
    while reading them are counted, as a folder build counts them."""
    upserted: set[str] = set()
    with collecting(Diagnostics(report.problem)):
        for group in groups(docs(options) if callable(docs) else docs, LOOKUP_GROUP):
            known = start.lookup([doc.doc_id for doc in group])
            for doc in group:
                upserted.add(doc.doc_id)
                old = known.get(doc.doc_id)
                if old is None or old.fingerprint != doc.entry.fingerprint:
                    pipeline.queue(doc, old)
    return upserted


def _read_again(root: Path, deleted: list[StoredDoc]) -> None:
    """Have the next folder build read again the corpus files that deleted documents came from: the index
    mirrors the folder, so a document still in its file comes back, whether the file holds it alone (it has
    no stored document left, so it is read anyway) or with others that keep the file's stamp."""
    sources = {(doc.source, (doc.size, doc.mtime_ns)) for doc in deleted if not doc.source.startswith(API_SOURCE)}
    if sources:
        states = FileStates(root)
        for source, stamp in sources:
            states.note(source, FileState.UNREAD, stamp)
        states.save()


def compact_index(index: str | Path, log: Callable[[str], None] | None = None) -> int:
    """Merge every segment into one, dropping deleted rows; returns the number of merges (0 or 1)."""
    root = Path(index)
    with store.lock(root):
        base, problems = store.writable_commit(root, rebuild=False)
        if base is None:
            raise SemsearchError(f"index folder '{root}' holds no index: build it with `semsearch index CORPUS --index {root}`")
        merged = maybe_merge(store.Writer(root, base), force=True, log=log)
        store.collect_garbage(root)
        return merged


@contextmanager
def _opened(root: Path, settings: Settings, log: Callable[[str], None] | None, report: Report) -> Iterator[Target]:
    """The index opened for one build under its writer lock (held until the block ends)."""
    with store.lock(root):
        target = open_target(root, settings, log or _ignore)
        report.repaired = target.repairs
        yield target


def _stats(target: Target, report: Report, t0: float) -> IndexStats:
    """The build's `IndexStats`; after embedding, the query encoder is readied for the searches that follow."""
    if report.embedded:
        target.embedder.prepare_query_encoder()
    return report.stats(target.root, target.writer.base, time.perf_counter() - t0)


def _carry_api_docs(pipeline: Pipeline, previous, read: dict[str, str]) -> None:
    """Queue again, from their stored text and fields, the documents added through the API to the commit that
    a build with new settings or model replaces: they are in no corpus file, and would be lost. A document
    the corpus holds as well comes from the corpus (as a fresh build of it would have it)."""
    old = store.Writer(pipeline.target.root, previous).generation  # a damaged segment is left out, as every writer does
    added = (d for d in old.catalog() if d.source.startswith(API_SOURCE) and d.doc_id not in read)
    for stored in added:
        fields = old.document(stored.doc_id)
        doc = text_document(
            stored.doc_id, fields["text"], stored.source, title=fields["title"], date=fields["date"],
            url=fields["url"], metadata=fields["metadata"],
        )  # fmt: skip
        pipeline.queue(api_doc(doc, API_SOURCE), None)


def _shows(progress: bool | None) -> bool:
    """Whether to show progress bars: as asked, else when stderr is a terminal."""
    return sys.stderr.isatty() if progress is None else progress


def _ignore(_item) -> None:
    """A sink that drops what it is given."""
