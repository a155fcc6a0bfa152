"""The read → chunk → embed → commit pipeline of one build, which owns its threads and the current batch.

Three stages overlap: the build's own thread reads and queues documents (`Pipeline.queue`), a chunking thread
cuts them up to `LOOKAHEAD_DOCS` ahead, and an embedding thread embeds the batch in parts (what was chunked
while it was busy) as they come (the model's native code releases the GIL), so the model is fed from the first
documents on. Each batch of `batch_chunks` chunks becomes one segment, committed with the pending delete marks,
so a killed build keeps every batch it finished.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from semsearch import runtimes
from semsearch.embedding import Embedder
from semsearch.index import store
from semsearch.index.compaction import maybe_merge, merge_closing
from semsearch.index.records import ChunkEntry, DocEntry, sentence_texts
from semsearch.index.segment import SegmentWriter
from semsearch.ingest.changes import SkippedFiles
from semsearch.ingest.chunk_terms import chunk_entries
from semsearch.ingest.report import BatchEmbedded, Committed, EventSink, Report
from semsearch.ingest.sources import SourceDoc
from semsearch.ingest.target import Target
from semsearch.reading.messages import Diagnostic

BATCH_CHUNKS = 2048
LOOKAHEAD_DOCS = 256  # documents chunked ahead of the batch being embedded
# Passages are handed to the embedding thread whenever it is free and at least this many wait: all that
# were chunked meanwhile (while the model loads, or the last part runs) go as one part, since each part ends
# with a core idle and sorts its own passages by length. A slow model takes a batch in one or two parts;
# a fast model (or a GPU) takes many smaller ones.
FIRST_STEP = 128


class Options(NamedTuple):
    """How a pipeline runs: chunks per committed batch, a progress bar, and Ray (True for a local cluster, or
    its address)."""

    batch_chunks: int = BATCH_CHUNKS
    progress: bool = False
    ray: str | bool | None = None


class Pipeline:
    """Chunks, embeds and commits the documents a build queues; `finish` commits the last batch and merges,
    `close` (or leaving its `with` block) stops its threads."""

    def __init__(self, target: Target, report: Report, emit: EventSink, options: Options = Options()):
        self.target, self.report, self.emit, self.options = target, report, emit, options
        self.writer: store.Writer = target.writer
        self.embedder: Embedder = target.embedder
        self.model = dict(target.model)  # recorded with each commit: the dimension and backends once embedded
        self.counter = self.embedder.token_counter()
        self.bulk = False  # much to embed: the bulk encoder and vocabulary load at once
        self.skipped_files: SkippedFiles | None = None  # a folder build's files skipped whole, recorded per commit
        self._first = ({ref.name for ref in self.writer.base.segments}, self.writer.base.generation)
        self._pending: deque[tuple[SourceDoc, object, Future]] = deque()  # queued, being chunked
        self._batch: list[tuple[DocEntry, list[ChunkEntry], list[str]]] = []
        self._batch_size = 0
        self._unsent: list[str] = []  # the batch's passages not handed to the embedding thread yet
        self._parts: list[Future] = []  # the batch's parts handed over
        self._loader: Future | None = None  # the bulk encoder loading while the first batch is read and chunked
        self._chunker = ThreadPoolExecutor(1, thread_name_prefix="semsearch-chunk")
        self._embedding = ThreadPoolExecutor(1, thread_name_prefix="semsearch-emb")
        self._bar = None  # the embedding progress bar on a terminal

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def use_bulk(self) -> None:
        """Much to embed: the slow-starting bulk encoder and the whole vocabulary pay; call before `queue`."""
        self.bulk = True
        self.counter = self.embedder.token_counter(bulk=True)

    def queue(self, doc: SourceDoc, old) -> None:
        """Hand one document to the chunking thread (`old`: the stored entry it replaces, or None); finished ones
        join the batch in order."""
        runtimes.preload("tokenizers")  # in this thread, before the first worker starts (see `runtimes`); then a lookup
        if self._loader is None and not self.options.ray:  # first: chunking starts once the load compiles
            self._loader = _load_encoder(self.embedder, self.bulk)
        prompt = self.embedder.prompts.get("passage", "")
        future = self._chunker.submit(chunk_entries, doc.article, self.counter, self.target.params, prompt)
        self._pending.append((doc, old, future))
        self._drain(LOOKAHEAD_DOCS)

    def finish(self) -> None:
        """Commit the last batch and the pending marks; merge the segments the build wrote into one, run the merge
        policy, and clear leftovers (of a killed run too)."""
        self._drain(0)
        self.flush()
        before, base = self._first
        superseded = range(base + 1, self.writer.base.generation + 1)  # the build's batch commits, merged below
        closed = merge_closing(self.writer, before, log=self.target.log)
        self.report.merged += closed + maybe_merge(self.writer, log=self.target.log)
        store.collect_garbage(self.target.root, superseded=superseded if closed else ())

    def close(self) -> None:
        """Stop the threads (work not started is dropped) and the progress bar."""
        self._chunker.shutdown(cancel_futures=True)
        self._embedding.shutdown(cancel_futures=True)
        if self._bar is not None:
            self._bar.close()

    def _drain(self, keep: int) -> None:
        """Move chunked documents into the batch, oldest first, until at most `keep` are in flight."""
        while len(self._pending) > keep:
            doc, old, future = self._pending.popleft()
            entries, passages = future.result()
            if self.target.params.sentence_vectors:
                passages = passages + [t for e in entries for t in sentence_texts(e.text, e.sentence_spans)]
            if old is not None:
                self.writer.delete_doc(old)
            if not entries:
                self.report.skipped.append(doc.doc_id)
                self.report.problem(Diagnostic(f"skipping '{doc.entry.source}' ({doc.doc_id}): no text to index", UserWarning))
                if old is not None:
                    self.report.removed.append(doc.doc_id)
                continue
            (self.report.changed if old is not None else self.report.added).append(doc.doc_id)
            self._batch.append((doc.entry, entries, passages))
            self._batch_size += len(entries)
            if not self.options.ray:  # Ray embeds each batch whole, on the cluster
                self._unsent.extend(passages)
            if self._batch_size >= self.options.batch_chunks:
                self.flush()
            elif len(self._unsent) >= FIRST_STEP and embedder_free(self._loader, self._parts):
                self._send()

    def _send(self) -> None:
        """Hand the batch's unsent passages to the embedding thread (ONNX Runtime and torch release the GIL,
        so the model runs while this thread reads and the chunking thread cuts the next documents)."""
        passages, self._unsent = self._unsent, []
        if self.options.progress:
            if self._bar is None:
                from tqdm import tqdm

                self._bar = tqdm(total=0, unit="chunk", desc="embedding", file=sys.stderr)
            self._bar.total += len(passages)
            self._bar.refresh()
        bulk = len(self._parts) > 0 or len(passages) >= FIRST_STEP  # part of a larger batch, never a small update
        self._parts.append(self._embedding.submit(self._embed, passages, bulk))

    def _embed(self, passages: list[str], bulk: bool):
        """Vectors of one handed-over part of the batch and the seconds they took (runs in the embedding thread)."""
        if self._loader is not None:
            self._loader.result()  # raises what loading raised
        t = time.perf_counter()
        vectors = self.embedder.embed_passages(passages, progress=False, bulk=bulk)
        if self._bar is not None:
            self._bar.update(len(passages))
        return vectors, time.perf_counter() - t

    def _embedded(self, passages: list[str]):
        """The batch's vectors, in order: the parts already handed over, then the rest (all of it on Ray);
        and the seconds the model spent on them."""
        if self.options.ray:
            from semsearch.embedding.ray_backend import embed_with_ray

            t = time.perf_counter()
            ray = self.options.ray
            vectors = embed_with_ray(passages, self.embedder, address=None if ray is True else ray)
            return vectors, time.perf_counter() - t
        if self._unsent:
            self._send()
        parts, self._parts = self._parts, []
        done = [f.result() for f in parts]  # on failure, `close` cancels the parts not yet started
        return np.concatenate([v for v, _ in done]), sum(s for _, s in done)

    def flush(self) -> None:
        """Embed the batch, write it as one segment, and commit it with the pending delete marks; then merge
        what the policy picks, so a long build never piles up small segments."""
        if self._batch:
            self._write(self._embed_batch())
        skipped = self.skipped_files
        if self.writer.pending or (skipped is not None and skipped.changed):
            self.writer.commit(model=dict(self.model), **({"skipped": skipped.now} if skipped is not None else {}))
            base = self.writer.base
            self.emit(Committed(base.generation, base.documents, base.chunks, len(base.segments)))
            self.report.merged += maybe_merge(self.writer, log=self.target.log)

    def _embed_batch(self) -> np.ndarray:
        """The vectors of the batch's passages, in order: each document's chunks, then their sentences."""
        passages = [p for _, _, ps in self._batch for p in ps]
        log = self.target.log
        log(f"embedding {len(passages)} passages of {len(self._batch)} documents with {self.embedder.spec.describe()}")
        t = time.perf_counter()
        vectors, took = self._embedded(passages)
        self.report.timings["embed"] += took
        log(f"embedded {len(passages)} passages in {took:.1f} s ({len(passages) / max(took, 1e-9):.1f} passages/s); "
            f"waited {time.perf_counter() - t:.1f} s for them")  # fmt: skip
        self.emit(BatchEmbedded(len(self._batch), self._batch_size, took))
        return vectors

    def _write(self, vectors: np.ndarray) -> None:
        """Write the batch as one segment of the next commit, and record what embedded it."""
        t = time.perf_counter()
        rows = self._batch_size  # the batch's chunks; `vectors` holds their sentences' too
        sentences = self.target.params.sentence_vectors
        writer = SegmentWriter(self.target.root, vectors.shape[1], rows, sentences=len(vectors) - rows if sentences else None)
        try:
            at = 0
            for entry, chunks, passages in self._batch:  # a document's passages: its chunks, then their sentences
                n = len(chunks)
                writer.add(entry, chunks, vectors[at : at + n], vectors[at + n : at + len(passages)] if sentences else None)
                at += len(passages)
            name, files = writer.finish()
        except BaseException:
            writer.abort()
            raise
        self.writer.add_segment(name, writer.rows, writer.docs, files, writer.ann_info)
        self.report.embedded += rows
        self._batch, self._batch_size = [], 0
        self.report.timings["write"] += time.perf_counter() - t
        backends = set(self.model.get("backend", [])) | {self.embedder.last_backend or "sentence-transformers"}
        self.model.update(dim=int(vectors.shape[1]), backend=sorted(backends), backend_info=self.embedder.backend_info)


def embedder_free(loader: Future | None, parts: list[Future]) -> bool:
    """Whether the embedding thread would start a part now: the encoder is loaded and no part is running."""
    return (loader is None or loader.done()) and all(f.done() for f in parts)


def _load_encoder(embedder: Embedder, large: bool) -> Future:
    """`Embedder.load_bulk` in a thread of its own, so the first batch does not wait for the session; returned
    once the load has imported its runtime (holding the GIL) and compiles (without it): the model is what a
    build waits for, and chunking starts soon enough beside the compilation."""
    loader = ThreadPoolExecutor(1, thread_name_prefix="semsearch-load")
    future = loader.submit(embedder.load_bulk, large)
    loader.shutdown(wait=False)
    embedder.wait_for_load_start()
    return future
