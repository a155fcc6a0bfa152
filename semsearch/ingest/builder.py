"""Building and updating an index: stream the corpus, embed only new or changed documents, commit in batches.

Each batch of new chunks becomes one segment, committed with the delete marks of the documents it
replaces, so a killed build keeps every batch it finished and the next build skips those documents.
Removed documents are marked deleted in the last commit; then the merge policy runs.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path

import numpy as np

from semsearch import runtimes
from semsearch.analysis import ANALYZER
from semsearch.chunking import ChunkParams
from semsearch.embedding import Embedder
from semsearch.embedding.models import ENV_VAR, ModelSpec, canonical_name, resolve_model
from semsearch.errors import SemsearchError
from semsearch.index import store
from semsearch.index.commit import FORMAT_VERSION, Commit, new_commit
from semsearch.index.compaction import maybe_merge, merge_closing
from semsearch.index.generation import StoredDoc
from semsearch.index.records import ChunkEntry, DocEntry
from semsearch.index.segment import SegmentWriter
from semsearch.ingest.changes import SeenIds, SkippedFiles, StoredCatalog, options_key, repeat
from semsearch.ingest.chunk_terms import chunk_entries
from semsearch.ingest.record_memo import RecordMemo
from semsearch.ingest.restamps import Restamps
from semsearch.ingest.sources import EqualDoc, SourceDoc, api_doc, list_sources, memo_docs, source_docs
from semsearch.reading import (
    DEFAULT_MAX_FILE_SIZE,
    DuplicateId,
    FieldMap,
    ReadOptions,
    ReadStopped,
    ReadWarning,
    SourceFile,
    reader_for,
)
from semsearch.reading.lines import text_document
from semsearch.reading.messages import shown, warn
from semsearch.reading.scope import Scope

BATCH_CHUNKS = 2048
LOOKAHEAD_DOCS = 256  # documents chunked ahead of the batch being embedded
# Passages are handed to the embedding thread whenever it is free and at least this many wait: all that
# were chunked meanwhile (while the model loads, or the last part runs) go as one part, since each part ends
# with a core idle and sorts its own passages by length. e5 embeds ~60-125 chunks/s here and chunking runs
# at thousands, so a batch goes in one or two parts; a fast model (or a GPU) takes many smaller ones.
FIRST_STEP = 128
BULK_BYTES = 1 << 18  # new or one-document changed files past this size (~60 news articles, 300+ chunks): a bulk build
LOOKUP_GROUP = 512  # upserted documents looked up in the index at a time
API_SOURCE = "api:"  # documents added through the API: a corpus build never removes them


@dataclass(frozen=True)
class IndexStats:
    """What a build did: counts, which documents changed, and what was skipped."""

    index: str
    model: str
    variant: str
    documents: int
    chunks: int
    embedded_chunks: int
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    segments: int = 0
    merged: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def unchanged(self) -> bool:
        """True when the build found nothing to do."""
        return not (self.added or self.changed or self.removed or self.repaired)


def _pick_model(requested: str | None, previous: Commit | None, log: Callable[[str], None]) -> ModelSpec:
    """The model for this build: explicit, else the one the index already uses, else $SEMSEARCH_MODEL, else the
    default."""
    if previous is not None and previous.model:
        recorded = previous.model
        if requested is None or canonical_name(requested) == recorded["name"]:
            if Path(recorded["path"]).is_dir():
                return ModelSpec(recorded["name"], recorded["variant"], Path(recorded["path"]))
            requested = recorded["name"]  # its files moved: found again by name, never swapped for the default
    return resolve_model(requested or os.environ.get(ENV_VAR) or None, log=log)


@dataclass
class _Run:
    """The state of one build."""

    root: Path
    embedder: Embedder
    params: ChunkParams
    writer: store.Writer
    log: Callable[[str], None]
    batch_chunks: int
    model: dict
    repairs: list[str]
    stats: dict = field(default_factory=lambda: {"added": [], "changed": [], "removed": [], "skipped": [], "embedded": 0})
    timings: dict = field(default_factory=lambda: {"read_and_chunk": 0.0, "embed": 0.0, "write": 0.0})
    batch: list[tuple[DocEntry, list[ChunkEntry], list[str]]] = field(default_factory=list)
    batch_size: int = 0
    merged: int = 0
    progress: bool = False
    options: ReadOptions = field(default_factory=ReadOptions)
    counter: Callable | None = None
    pending: deque = field(default_factory=deque)
    chunker: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="semsearch-chunk"))
    ray: str | bool | None = None  # embed on Ray Data: True for a local cluster, or its address
    loader: Future | None = None  # the bulk encoder loading while the first batch is read and chunked
    large: bool = False  # much to embed (changed files past BULK_BYTES): the slow-starting bulk path loads at once
    embedding: list = field(default_factory=list)  # futures of the batch's passages handed to the embedding thread
    unsent: list = field(default_factory=list)  # the batch's passages not handed over yet
    embedder_thread: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="semsearch-emb"))
    bar: object | None = None  # the embedding progress bar on a terminal
    on_commit: list = field(default_factory=list)  # called once the build's last commit is made
    skipped_files: SkippedFiles | None = None  # a folder build's files skipped whole (None: an update keeps the base's)
    previous: Commit | None = None  # the commit a build with new settings or model replaces: re-embedded whole
    memo: RecordMemo | None = None  # a folder build's memo of JSONL and CSV records (record_memo)


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
) -> IndexStats:
    """Index every document under `corpus` into the folder `index`, embedding only what is new or changed.

    Args:
        corpus: folder of articles (read recursively) or one file.
        index: index folder; created when missing. Readers see the previous state until each commit.
        model: hub name or local sentence-transformers folder; default: the index's model, $SEMSEARCH_MODEL,
            or intfloat/multilingual-e5-small.
        params: chunking parameters; default `ChunkParams()`.
        progress: a progress bar over the corpus files (default: when stderr is a terminal); each embedded
            batch is logged with its rate either way.
        log: receives one-line progress messages.
        batch_chunks: chunks per committed batch (a killed build keeps every finished batch).
        fields: which JSONL/CSV fields hold id, text, title, date and url; recorded in the index, so later
            builds and `add` read records the same way (default: the recorded mapping, else the standard names).
        max_file_size: the largest document in bytes (a file, or one record's text); larger ones are skipped
            with a warning (None: no limit).
        backend: embedding backend: "auto" (the index's recorded one, else ONNX fp32 on CPU), "onnx" (int8) or "torch".
        device: "auto", "cpu" or "cuda" (see `Embedder`).
        ray: embed on Ray Data: True for a local cluster, or a cluster address (`ray_backend.embed_with_ray`).
        changed: files and folders under the corpus folder known to have changed (or been deleted): only they
            are looked at, and the rest of the corpus is taken as unchanged, unwalked (`reading.scope`). The
            whole corpus is read when the index is new or its settings changed.

    Returns:
        IndexStats. Documents that could not be read are listed in `skipped` (and warned about).
    """
    t0 = time.perf_counter()
    log = log or (lambda _msg: None)
    root = Path(index)
    scope = None if changed is None else Scope.of(corpus, list(changed))
    walked, sources = _listed(corpus, scope)
    with _running(root, model, params or ChunkParams(), log, batch_chunks, fields=fields, backend=backend, device=device) as run:
        if scope is not None and (run.previous is not None or not run.writer.base.documents):
            log("reading the whole corpus, not only what --changed names: the index is new or its settings changed")
            scope = None
            walked, sources = _listed(corpus, None)
        restamps = Restamps(root)
        if scope is not None and (lost := [s for s in restamps.lost_ids() if not scope.covers(s)]):
            scope = scope.including(lost)  # files holding an id another file won: what --changed names may drop it
            walked, sources = _listed(corpus, scope)
        with _reporting(run):
            for w in walked:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        run.progress = sys.stderr.isatty() if progress is None else progress
        run.options = replace(run.options, max_file_size=max_file_size)
        run.ray = ray
        run.skipped_files = SkippedFiles(run.writer.base.skipped, run.options, scope)
        run.memo = RecordMemo(root, options_key(run.options))
        known = StoredCatalog(run.writer.generation, restamps, scope)
        read = _index_changes(run, sources, known, known.compare(sources))
        run.on_commit.append(known.settle)
        run.on_commit.append(lambda: run.memo.save(known.vanished(sources)))
        if not read and not known.live and scope is None:
            raise SemsearchError(f"no readable document in '{corpus}': fix the files named above")
        if run.previous is not None:
            _carry_api_docs(run, read)
        gone = known.gone(read, keep=lambda source: source.startswith(API_SOURCE))
        for group in _groups(gone, LOOKUP_GROUP):
            for entry in known.lookup(group).values():
                run.writer.delete_doc(entry)
        run.stats["removed"].extend(gone)
    return _stats(run, t0)


def _listed(corpus: str | Path, scope: Scope | None) -> tuple[list, list[SourceFile]]:
    """The corpus files to compare (all, or those in `scope`), and the warnings about files left out by name
    (recorded: they are counted once the run starts)."""
    with warnings.catch_warnings(record=True) as walked:
        warnings.simplefilter("always")
        sources = list_sources(Path(corpus)) if scope is None else scope.sources()
    return walked, sources


def update_index(
    index: str | Path,
    docs: Iterable[SourceDoc] | Callable[[ReadOptions], Iterable[SourceDoc]] = (),
    delete: Iterable[str] = (),
    model: str | None = None,
    *,
    log: Callable[[str], None] | None = None,
    batch_chunks: int = BATCH_CHUNKS,
) -> IndexStats:
    """Upsert these documents and delete these ids, atomically per batch, embedding only what changed.

    `docs` may be a function of the index's read options (its recorded field mapping) giving the documents.
    """
    t0 = time.perf_counter()
    log = log or (lambda _msg: None)
    root = Path(index)
    with _running(root, model, ChunkParams(), log, batch_chunks, keep_settings=True) as run:
        start = run.writer.generation  # every lookup sees the index as the update found it
        upserted = set()
        with _reporting(run):  # records skipped while reading them are counted, as a folder build counts them
            for group in _groups(docs(run.options) if callable(docs) else docs, LOOKUP_GROUP):
                known = start.lookup([doc.doc_id for doc in group])
                for doc in group:
                    upserted.add(doc.doc_id)
                    old = known.get(doc.doc_id)
                    if old is None or old.fingerprint != doc.entry.fingerprint:
                        _queue(run, doc, old)
        removed = [doc_id for doc_id in dict.fromkeys(delete) if doc_id not in upserted]
        known = start.lookup(removed)
        for doc_id in removed:
            if doc_id in known:
                run.writer.delete_doc(known[doc_id])
                run.stats["removed"].append(doc_id)
        run.on_commit.append(lambda: _read_again(root, [known[d] for d in run.stats["removed"]]))
    return _stats(run, t0)


def _read_again(root: Path, deleted: list[StoredDoc]) -> None:
    """Have the next folder build read again the corpus files that deleted documents came from: the index
    mirrors the folder, so a document still in its file comes back, whether the file holds it alone (it has
    no stored document left, so it is read anyway) or with others that keep the file's stamp."""
    sources = {(doc.source, (doc.size, doc.mtime_ns)) for doc in deleted if not doc.source.startswith(API_SOURCE)}
    if sources:
        restamps = Restamps(root)
        for source, stamp in sources:
            restamps.mark_unread(source, stamp)
        restamps.save()


def _groups(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of at most `size` items (a stream is never held whole)."""
    it = iter(items)
    while group := list(islice(it, size)):
        yield group


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
def _running(root: Path, model: str | None, params: ChunkParams, log, batch_chunks: int, keep_settings: bool = False, **opts):
    """A build under the writer lock: yields its state; on normal exit, the last batch is committed, the segments
    the build wrote are merged into one, and the merge policy runs.
    `opts`: the `fields`, `backend` and `device` keywords of `_start`."""
    with store.lock(root):
        run = _start(root, model, params, log, batch_chunks, keep_settings, **opts)
        before, base = {ref.name for ref in run.writer.base.segments}, run.writer.base.generation
        try:
            yield run
            _drain(run, 0)
            _flush(run)
            superseded = range(base + 1, run.writer.base.generation + 1)  # the build's batch commits, merged below
            closed = merge_closing(run.writer, before, log=run.log)
            run.merged += closed + maybe_merge(run.writer, log=run.log)
            # also when nothing was committed: leftovers of a killed run go now
            store.collect_garbage(root, superseded=superseded if closed else ())
            for settle in run.on_commit:
                settle()
        finally:
            run.chunker.shutdown(cancel_futures=True)
            run.embedder_thread.shutdown(cancel_futures=True)
            if run.bar is not None:
                run.bar.close()


def _stats(run: _Run, t0: float) -> IndexStats:
    commit = run.writer.base
    if run.stats["embedded"]:
        run.embedder.prepare_query_encoder()
    return IndexStats(
        str(run.root), commit.model.get("name", ""), commit.model.get("variant", ""), commit.documents, commit.chunks,
        run.stats["embedded"], run.stats["added"], run.stats["changed"], run.stats["removed"], run.stats["skipped"],
        run.repairs, len(commit.segments), run.merged, time.perf_counter() - t0, run.timings,
    )  # fmt: skip


def _start(
    root: Path,
    model: str | None,
    params: ChunkParams,
    log,
    batch_chunks: int,
    keep_settings: bool = False,
    fields: FieldMap | None = None,
    backend: str | dict = "auto",
    device: str = "auto",
) -> _Run:
    """Open the writer on the newest commit, or on a fresh one when the settings or model changed (then the
    old commit is `run.previous`; `keep_settings`: an update through the API keeps the index's chunking)."""
    base, problems = store.writable_commit(root, rebuild=not keep_settings)
    previous = None
    if keep_settings and base is not None and base.settings.get("chunking"):
        params = ChunkParams(**base.settings["chunking"])
    if fields is None:
        fields = FieldMap.from_dict(base.settings.get("fields")) if base is not None else FieldMap()
    spec = _pick_model(model, base, log)
    if backend == "auto" and base is not None and base.settings.get("embedding"):
        backend = base.settings["embedding"]  # an update embeds as the index was built
    embedder = Embedder(spec, backend=backend, device=device, log=log)
    runtimes.preload("tokenizers")  # in this thread, before the build's threads start (see `runtimes`)
    log(embedder.describe_path())
    params = replace(params, max_tokens=min(params.max_tokens, embedder.max_seq_length))
    settings = {
        "format_version": FORMAT_VERSION,
        "model_fingerprint": embedder.fingerprint,
        "prompts": embedder.prompts,
        "chunking": params.to_dict(),
        "analyzer": ANALYZER,
        "fields": fields.to_dict(),
        "embedding": {k: embedder.backend_info[k] for k in ("backend", "quantisation")},
    }
    model_info = {**spec.to_dict(), "fingerprint": embedder.fingerprint, "max_seq_length": embedder.max_seq_length}
    if base is not None and base.settings != settings:
        if keep_settings:  # an add or delete re-embeds nothing it was not given: it would drop every other document
            raise SemsearchError(_mismatch(root, base, settings, model_info))
        log("index settings or model changed: re-embedding every document")
        previous = base
        base = replace(new_commit(settings, model_info), generation=base.generation)  # numbering keeps increasing
    if base is None:
        base = new_commit(settings, model_info)
    writer = store.Writer(root, base)
    repairs = problems + writer.repairs
    for line in repairs:
        log(f"repairing: {line}")
    run = _Run(root, embedder, params, writer, log, batch_chunks, dict(base.model or model_info), repairs)
    run.previous = previous
    run.options = ReadOptions(fields)
    run.counter = embedder.token_counter()
    return run


def _carry_api_docs(run: _Run, read: dict[str, str]) -> None:
    """Queue again, from their stored text and fields, the documents added through the API to the commit that
    a build with new settings or model replaces: they are in no corpus file, and would be lost. A document
    the corpus holds as well comes from the corpus (as a fresh build of it would have it)."""
    old = store.Writer(run.root, run.previous).generation  # a damaged segment is left out, as every writer does
    added = (d for d in old.catalog() if d.source.startswith(API_SOURCE) and d.doc_id not in read)
    for stored in added:
        fields = old.document(stored.doc_id)
        doc = text_document(
            stored.doc_id, fields["text"], stored.source, title=fields["title"], date=fields["date"],
            url=fields["url"], metadata=fields["metadata"],
        )  # fmt: skip
        _queue(run, api_doc(doc, API_SOURCE), None)


def _mismatch(root: Path, base: Commit, settings: dict, model_info: dict) -> str:
    """Why an update cannot embed into this index as it was built, and what to do."""
    differ = sorted(key for key in settings if settings[key] != base.settings.get(key))
    was, now = base.model.get("name", "?"), model_info.get("name", "?")
    what = f"model {now} is not the index's {was}" if was != now else f"the index's {', '.join(differ)} differ"
    if was == now and "model_fingerprint" in differ:
        what = f"the files of model {was} changed since the index was built"
    return (
        f"cannot add to or delete from '{root}' as it was built: {what}. Pass --model {was} (with its files as they"
        f" were), or rebuild the whole index with `semsearch index CORPUS --index {root}`"
    )


def _index_changes(run: _Run, sources, known: StoredCatalog, same: set[str]) -> dict[str, str]:
    """Read changed files and queue new or changed documents; return the ids read (id -> where)."""
    changed = [src for src in sources if src.name not in same]  # unchanged files are not even read
    seen = SeenIds(known, same, sources)
    remembered = {  # files skipped whole before and unchanged since: their warnings again, unread
        src.name: messages
        for src in changed
        if src.name not in known.by_source and (messages := run.skipped_files.unchanged(src)) is not None
    }
    # Much to embed? Counted by the bytes of the changed files that are new or hold one stored document: a changed
    # file of many stored records (a JSONL archive) may differ by one record, so it alone never makes a bulk build
    # (one changed record of a 5k-record file: 2.1 s with the bulk encoder's start-up and the whole tokenizer).
    if sum(s.size for s in changed if s.name not in remembered and len(known.by_source.get(s.name, ())) <= 1) > BULK_BYTES:
        run.large = True  # so much to read that the bulk encoder's start-up and vocabulary pay
        run.counter = run.embedder.token_counter(bulk=True)
    for src in _files_bar(changed, run.progress):
        if src.name in remembered:
            run.stats["skipped"].extend(remembered[src.name])
            repeat(remembered[src.name])
            continue
        t = time.perf_counter()
        before, seen.current = len(seen), src.name
        equal, changed_docs, displaced = [], False, []  # documents stored as they are; whether any is not; see below
        with _reporting(run) as report:
            for group in _groups(_docs_of(run, src, seen, known), LOOKUP_GROUP):  # a file of many records
                stored = known.lookup([doc.doc_id for doc in group if not isinstance(doc, EqualDoc)])
                for doc in group:
                    if isinstance(doc, EqualDoc):
                        equal.append(doc.doc_id)
                        continue
                    old = stored.get(doc.doc_id)
                    if old is not None and old.fingerprint == doc.entry.fingerprint and old.source == src.name:
                        equal.append(doc.doc_id)
                        continue
                    changed_docs = True
                    if old is not None and known.unread(old.source, same):  # an unread file holds the id too: it loses
                        displaced.append((old, doc.article.source))
                    _queue(run, doc, old)
        messages = report.messages
        for old, where in displaced:
            _duplicate_in_unread_file(run, known, sources, old, where)
        if report.stopped:
            known.stopped(src)  # read in part: its unread documents are kept, and it is read again next time
        elif report.duplicates:  # which copy of an id wins depends on the other files: read it while it has one
            known.read_again(src.name, (src.size, src.mtime_ns))
        elif len(seen) == before and messages:
            run.skipped_files.record(src, messages)  # nothing read from it: not read again while unchanged
        elif equal and not changed_docs and not messages:
            known.read_back(src, equal)  # touched, not changed: not read again while it keeps this stamp
        elif changed_docs and equal:  # its documents' stamps will disagree: noted, so it is not read whole again
            known.rewrote(src)
        run.timings["read_and_chunk"] += time.perf_counter() - t
    return seen.read


def _files_bar(files: list[SourceFile], show: bool):
    """`files`, with a progress bar over them on a terminal (tqdm is imported only then)."""
    if not show:
        return files
    from tqdm import tqdm

    return tqdm(files, desc="reading and chunking", unit="file", leave=False)


def _docs_of(run: _Run, src: SourceFile, seen: SeenIds, known: StoredCatalog):
    """The documents of a file being read: the records of a JSONL or CSV file that are as they were when it was
    last read whole (and whose documents the index holds from it) come as `EqualDoc`s, unparsed."""
    if run.memo is None or reader_for(src.name).records is None:
        return source_docs(src, run.options, seen)
    return memo_docs(src, run.options, seen, run.memo, lambda doc_id, fingerprint: known.holds(doc_id, src.name, fingerprint))


def _duplicate_in_unread_file(run: _Run, known: StoredCatalog, sources, old: StoredDoc, winner: str) -> None:
    """A changed file took an id that an unchanged, unread file holds too (it sorts after, or the changed file
    would have lost): as in a fresh build the first file wins, and the other is warned about as reading it would
    be, and read next time."""
    with _reporting(run):
        problem = f"first read at '{winner}', so this one is skipped: give each document its own id"
        warn(known.where(old.source, sources), f"duplicate id '{shown(old.doc_id)}', {problem}", DuplicateId)
    known.read_again(old.source, (old.size, old.mtime_ns))


@dataclass
class _Report:
    """The reading layer's warnings about one file, and whether reading it stopped part way."""

    messages: list[str] = field(default_factory=list)
    stopped: bool = False
    duplicates: bool = False  # an id read before was skipped


@contextmanager
def _reporting(run: _Run):
    """Collect the reading layer's warnings while a file is read; each is counted as skipped and shown once.
    Yields the `_Report` that receives them."""
    report = _Report()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield report
    for w in caught:
        if issubclass(w.category, ReadWarning):
            run.stats["skipped"].append(str(w.message))
            report.messages.append(str(w.message))
            report.stopped = report.stopped or issubclass(w.category, ReadStopped)
            report.duplicates = report.duplicates or issubclass(w.category, DuplicateId)
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _queue(run: _Run, doc: SourceDoc, old) -> None:
    """Hand one document to the chunking thread; finished ones join the batch in order.

    Three stages overlap: this thread reads, a chunking thread cuts documents up to `LOOKAHEAD_DOCS`
    ahead, and an embedding thread embeds the batch in parts (what was chunked while it was busy) as they come
    (the model's native code releases the GIL), so the model is fed from the first documents on.
    """
    if run.loader is None and not run.ray:  # first: chunking starts once the load compiles (`_load_encoder`)
        run.loader = _load_encoder(run.embedder, run.large)
    prompt = run.embedder.prompts.get("passage", "")
    future = run.chunker.submit(chunk_entries, doc.article, run.counter, run.params, prompt)
    run.pending.append((doc, old, future))
    _drain(run, LOOKAHEAD_DOCS)


def _load_encoder(embedder: Embedder, large: bool) -> Future:
    """`Embedder.load_bulk` in a thread of its own, so the first batch does not wait for the session; returned
    once the load has imported its runtime (holding the GIL) and compiles (without it): the model is what a
    build waits for, and chunking starts soon enough beside the compilation. On two cores, the first batch
    started 0.4 s sooner (bench/build_timeline.py) and a 250-article build went from 0.92 to 0.95x raw."""
    loader = ThreadPoolExecutor(1, thread_name_prefix="semsearch-load")
    future = loader.submit(embedder.load_bulk, large)
    loader.shutdown(wait=False)
    embedder.wait_for_load_start()
    return future


def _drain(run: _Run, keep: int) -> None:
    """Move chunked documents into the batch, oldest first, until at most `keep` are in flight."""
    while len(run.pending) > keep:
        doc, old, future = run.pending.popleft()
        entries, passages = future.result()
        if old is not None:
            run.writer.delete_doc(old)
        if not entries:
            warnings.warn(f"skipping '{doc.entry.source}' ({doc.doc_id}): no text to index", stacklevel=3)
            run.stats["skipped"].append(doc.doc_id)
            if old is not None:
                run.stats["removed"].append(doc.doc_id)
            continue
        run.stats["changed" if old is not None else "added"].append(doc.doc_id)
        run.batch.append((doc.entry, entries, passages))
        run.batch_size += len(entries)
        if not run.ray:  # Ray embeds each batch whole, on the cluster
            run.unsent.extend(passages)
        if run.batch_size >= run.batch_chunks:
            _flush(run)
        elif len(run.unsent) >= FIRST_STEP and _embedder_free(run):
            _send(run)


def _embedder_free(run: _Run) -> bool:
    """Whether the embedding thread would start a part now: the encoder is loaded and no part is running."""
    return (run.loader is None or run.loader.done()) and all(f.done() for f in run.embedding)


def _send(run: _Run) -> None:
    """Hand the batch's unsent passages to the embedding thread (ONNX Runtime and torch release the GIL,
    so the model runs while this thread reads and the chunking thread cuts the next documents)."""
    passages, run.unsent = run.unsent, []
    if run.progress:
        if run.bar is None:
            from tqdm import tqdm

            run.bar = tqdm(total=0, unit="chunk", desc="embedding", file=sys.stderr)
        run.bar.total += len(passages)
        run.bar.refresh()
    bulk = len(run.embedding) > 0 or len(passages) >= FIRST_STEP  # part of a larger batch, never a small update
    run.embedding.append(run.embedder_thread.submit(_embed, run, passages, bulk))


def _embed(run: _Run, passages: list[str], bulk: bool):
    """Vectors of one handed-over part of the batch and the seconds they took (runs in the embedding thread)."""
    if run.loader is not None:
        run.loader.result()  # raises what loading raised
    t = time.perf_counter()
    vectors = run.embedder.embed_passages(passages, progress=False, bulk=bulk)
    if run.bar is not None:
        run.bar.update(len(passages))
    return vectors, time.perf_counter() - t


def _embedded(run: _Run, passages: list[str]):
    """The batch's vectors, in order: the parts already handed over, then the rest (all of it on Ray);
    and the seconds the model spent on them."""
    if run.ray:
        from semsearch.embedding.ray_backend import embed_with_ray

        t = time.perf_counter()
        vectors = embed_with_ray(passages, run.embedder, address=None if run.ray is True else run.ray)
        return vectors, time.perf_counter() - t
    if run.unsent:
        _send(run)
    parts, run.embedding = run.embedding, []
    done = [f.result() for f in parts]  # on failure, `_running` cancels the parts not yet started
    return np.concatenate([v for v, _ in done]), sum(s for _, s in done)


def _flush(run: _Run) -> None:
    """Embed the batch, write it as one segment, and commit it with the pending delete marks; then merge
    what the policy picks, so a long build never piles up small segments."""
    if run.batch:
        passages = [p for _, _, ps in run.batch for p in ps]
        run.log(f"embedding {len(passages)} chunks of {len(run.batch)} documents with {run.embedder.spec.describe()}")
        t = time.perf_counter()
        vectors, took = _embedded(run, passages)
        run.timings["embed"] += took
        run.log(f"embedded {len(passages)} chunks in {took:.1f} s ({len(passages) / max(took, 1e-9):.1f} chunks/s); "
                f"waited {time.perf_counter() - t:.1f} s for them")  # fmt: skip
        t = time.perf_counter()
        writer = SegmentWriter(run.root, vectors.shape[1], len(passages))
        try:
            at = 0
            for entry, chunks, _ in run.batch:
                writer.add(entry, chunks, vectors[at : at + len(chunks)])
                at += len(chunks)
            name, files = writer.finish()
        except BaseException:
            writer.abort()
            raise
        run.writer.add_segment(name, writer.rows, writer.docs, files, writer.ann_info)
        run.stats["embedded"] += len(passages)
        run.batch, run.batch_size = [], 0
        run.timings["write"] += time.perf_counter() - t
        backends = set(run.model.get("backend", [])) | {run.embedder.last_backend or "sentence-transformers"}
        run.model.update(dim=int(vectors.shape[1]), backend=sorted(backends), backend_info=run.embedder.backend_info)
    skipped = run.skipped_files
    if run.writer.pending or (skipped is not None and skipped.changed):
        run.writer.commit(model=dict(run.model), **({"skipped": skipped.now} if skipped is not None else {}))
        run.merged += maybe_merge(run.writer, log=run.log)
