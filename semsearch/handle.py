"""`semsearch.Index`: a handle on one index folder that owns what it opened (the newest generation and the
query model), so one process can hold several indexes, each closed on its own, and a test can pass a fake
wherever a `SearchIndex` is taken.

A handle reopens by itself when another commit becomes the newest (a build, `add`, `delete` or `compact`,
from this process or another), so it never answers from an index that was replaced.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from semsearch.embedding import Embedder, devices
from semsearch.embedding.embedder import recorded_path
from semsearch.embedding.models import model_for_index
from semsearch.errors import SemsearchError
from semsearch.index import store
from semsearch.search import MODES, FusionParams, Mode, Result, Searcher
from semsearch.search.filters import Filter, make_filter, masks_for

if TYPE_CHECKING:
    from semsearch.index.generation import Generation
    from semsearch.ingest.builder import IndexStats, ProblemSink

MAX_K = 10_000


@dataclass(frozen=True)
class IndexInfo:
    """What an index holds and how it was built."""

    path: str
    generation: int
    created: str
    model: str
    variant: str
    backend: list[str]
    dim: int
    prompts: dict
    chunking: dict
    documents: int
    chunks: int
    segments: int
    mean_chunk_chars: float
    mean_chunk_tokens: float
    embedding: dict = field(default_factory=dict)  # what the index recorded: backend, quantisation, isa, device
    embedding_here: str = ""  # what embeds an update on this machine (`embedder.recorded_path`)
    cpu: str = ""  # this CPU's features that choose the path, and $SEMSEARCH_CPU when set
    format_version: int = 0  # the index format of its newest commit (docs/format.md)
    sentence_vectors: bool = False  # every segment holds sentence vectors (format 5 writes them unless turned off)


@dataclass(frozen=True)
class Document:
    """A stored document: its text and fields."""

    doc_id: str
    text: str
    title: str | None
    date: str | None
    url: str | None
    metadata: dict


@runtime_checkable
class SearchIndex(Protocol):
    """What reading an index takes: `Index` has it, and the server serves any object that has it."""

    def open(self) -> None:
        """Open the newest generation and its model unless they are open; SemsearchError when they cannot be."""

    def query(
        self,
        text: str,
        k: int = 5,
        *,
        mode: Mode = "hybrid",
        per_article: bool = False,
        since: str | date | None = None,
        until: str | date | None = None,
        where: Mapping[str, object] | None = None,
        min_score: float | None = None,
    ) -> list[Result]:
        """Best passages first (see `Index.query`)."""

    def document(self, doc_id: str) -> Document | None:
        """The stored document with this id, or None."""

    def info(self) -> IndexInfo:
        """What the index holds and how it was built."""

    def close(self) -> None:
        """Let go of what is open; later calls raise SemsearchError."""


class Models:
    """Query embedders, one per model files and backend, created on first use. A handle has its own unless it is
    given one to share (the module functions share one across folders, so a model is loaded once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._embedders: dict[tuple[str, str, str, str], Embedder] = {}

    def for_index(self, recorded: dict, model: str | None = None) -> Embedder:
        """The embedder that queries an index built with `recorded` (its commit's model record)."""
        spec = model_for_index(recorded, model)
        backend = recorded.get("backend_info", "torch")  # queries are embedded as the index was (older indexes: torch)
        key = (spec.name, spec.variant, str(spec.path), str(backend))
        with self._lock:
            if key not in self._embedders:
                embedder = Embedder(spec, backend=backend)
                if spec.variant == recorded["variant"] and embedder.fingerprint != recorded["fingerprint"]:
                    raise SemsearchError(
                        f"the model files at '{spec.path}' changed since the index was built: rebuild it with `semsearch index`"
                    )
                self._embedders[key] = embedder
            return self._embedders[key]

    def __iter__(self) -> Iterator[Embedder]:
        return iter(list(self._embedders.values()))

    def clear(self) -> None:
        """Drop every embedder (a query after this creates them again)."""
        with self._lock:
            self._embedders.clear()


class Index:
    """A handle on the index folder `path`: ask it questions, read and change its documents, describe it.

    Nothing is opened until it is needed; `close()` (or leaving a `with` block) lets go of the opened generation
    and of the handle's own models, and any later call raises SemsearchError. Queries may run on several threads
    at once; one that is running when another thread closes the handle finishes from what it holds.

    Args:
        path: the index folder; it need not exist yet (`build` and `add` create it).
        model: the model a new index is built with; for an existing one, only to assert which model it must
            have been built with (hub name or local folder).
        fusion: how hybrid search weighs its signals (default `FusionParams()`).
        models: query models shared with other handles (default: the handle's own, dropped by `close`).
    """

    def __init__(
        self,
        path: str | Path = "index",
        model: str | None = None,
        *,
        fusion: FusionParams | None = None,
        models: Models | None = None,
    ):
        self.path = Path(path)
        self.model = model
        self.fusion = fusion
        self._models = Models() if models is None else models
        self._own_models = models is None
        self._lock = threading.Lock()
        self._searcher: Searcher | None = None
        self._info: tuple[tuple, IndexInfo] | None = None  # (commit key, what it describes)
        self._closed = False

    def __repr__(self) -> str:
        return f"Index({str(self.path)!r}{', closed' if self._closed else ''})"

    def __enter__(self) -> Index:
        self._check_open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """True once `close()` was called."""
        return self._closed

    def close(self) -> None:
        """Let go of the opened generation and the handle's own models; calling it again does nothing."""
        with self._lock:
            self._closed = True
            self._searcher = None
            self._info = None
            if self._own_models:
                self._models.clear()

    def _check_open(self) -> None:
        if self._closed:
            raise SemsearchError(f"the handle on index '{self.path}' is closed: open another with semsearch.Index(path)")

    def searcher(self) -> Searcher:
        """The newest generation with its model, opened once and reopened when another commit is the newest (a
        newer one landed, or the index was rebuilt in place). A searcher a caller holds keeps answering from its
        generation."""
        self._check_open()
        newest = store.latest_commit_key(self.path)
        with self._lock:
            self._check_open()
            cached = self._searcher
            if cached is not None and cached.generation.key == newest:
                return cached
            generation = store.open_generation(self.path)
            if not generation.commit.model:
                raise SemsearchError(
                    f"index '{self.path}' holds no documents: build it with `semsearch index CORPUS --index {self.path}`"
                )
            self._searcher = Searcher(generation, self._models.for_index(generation.commit.model, self.model), self.fusion)
            return self._searcher

    def open(self) -> None:
        """Open the newest generation and find its model now (queries do it when needed): a missing, damaged or
        empty index, or a missing model, raises SemsearchError here."""
        self.searcher()

    def generation(self) -> Generation:
        """The newest generation, opened (the searcher's when it is current; the model is not loaded)."""
        self._check_open()
        cached = self._searcher
        if cached is not None and cached.generation.key == store.latest_commit_key(self.path):
            return cached.generation
        return store.open_generation(self.path)

    def query(
        self,
        text: str,
        k: int = 5,
        *,
        mode: Mode = "hybrid",
        per_article: bool = False,
        since: str | date | None = None,
        until: str | date | None = None,
        where: Mapping[str, object] | None = None,
        min_score: float | None = None,
    ) -> list[Result]:
        """Ask the index a question in natural language; best passages first.

        Args:
            text: the question, in Norwegian or English.
            k: how many results (at least 1; more than the index holds gives all of them).
            mode: "hybrid" (default: dense and BM25 fused), "dense" or "lexical".
            per_article: return the best passage of each of the k best articles instead.
            since, until: inclusive date range (YYYY, YYYY-MM, YYYY-MM-DD or `datetime.date`), applied before ranking.
            where: field -> value (or list of values, any of them) over `doc_id`, `url`, `title` and metadata fields.
            min_score: drop results scoring below this.

        Returns:
            Up to k `Result`s, best first. When at least k chunks match the filters, k come back.
        """
        self._check_open()
        text, flt = _checked_question(text, k, mode, since, until, where, min_score)
        found = self.searcher()
        masks = masks_for(found.generation, flt)
        k = min(k, MAX_K, max(found.generation.commit.chunks, 1))
        results = found.search(text, k, mode, per_article, masks=masks)
        return [r for r in results if r.score >= min_score] if min_score is not None else results

    def document(self, doc_id: str) -> Document | None:
        """The stored document with this id (its text and fields), or None."""
        found = self.generation().document(str(doc_id))
        if found is None:
            return None
        return Document(found["doc_id"], found["text"], found["title"], found["date"], found["url"], found["metadata"])

    def info(self) -> IndexInfo:
        """Describe the index without loading its model (what the commit holds is worked out once per commit;
        what embeds here follows this machine and $SEMSEARCH_CPU)."""
        self._check_open()
        known = self._info
        if known is None or known[0] != store.latest_commit_key(self.path):
            gen = self.generation()
            c = gen.commit
            chars, tokens = gen.mean_lengths()
            recorded = c.model.get("backend_info") or c.settings.get("embedding", {})
            described = IndexInfo(
                str(self.path), c.generation, c.created, c.model.get("name", ""), c.model.get("variant", ""),
                c.model.get("backend", []), c.model.get("dim", 0), c.settings.get("prompts", {}),
                c.settings.get("chunking", {}), c.documents, c.chunks, len(c.segments), chars, tokens, recorded,
                format_version=c.format_version, sentence_vectors=gen.has_sentence_vectors,
            )  # fmt: skip
            known = self._info = (gen.key, described)
        return replace(known[1], embedding_here=recorded_path(known[1].embedding), cpu=devices.cpu_summary())

    def build(self, corpus: str | Path = "corpus", **options: Any) -> IndexStats:
        """Index every document under `corpus` into this folder, embedding only what is new or changed; the
        keywords are those of `semsearch.build_index` (the model is the handle's)."""
        from semsearch.ingest.builder import build_index

        self._check_open()
        return build_index(corpus, self.path, self.model, **options)

    def add(self, records: Iterable[dict], on_problem: ProblemSink | None = None) -> IndexStats:
        """Upsert documents given as dicts (`id`, `text`, optional `title`, `date`, `url`, other fields as
        metadata, under the index's recorded field names). Only new or changed records are embedded; committed
        atomically. A record without id or text, or a repeated id, is skipped and reported (naming it) to
        `on_problem`, by default as a warning."""
        from semsearch.ingest.builder import API_SOURCE, update_index
        from semsearch.ingest.sources import record_docs

        self._check_open()
        records = list(records)
        return update_index(
            self.path, lambda options: record_docs(records, options, API_SOURCE), (), self.model, on_problem=on_problem
        )

    def add_file(self, path: str | Path, on_problem: ProblemSink | None = None) -> IndexStats:
        """Upsert the documents of one file (JSONL, CSV or any format `semsearch index` reads), read with the
        index's recorded field names; bad lines are skipped and reported, naming the line, to `on_problem`
        (by default as a warning)."""
        from semsearch.ingest.builder import API_SOURCE, update_index
        from semsearch.ingest.sources import api_doc
        from semsearch.reading import iter_documents

        def documents(options):
            return [api_doc(doc, API_SOURCE) for doc in iter_documents(path, options.fields, max_file_size=options.max_file_size)]

        self._check_open()
        return update_index(self.path, documents, (), self.model, on_problem=on_problem)

    def delete(self, ids: Iterable[str] | str) -> IndexStats:
        """Delete documents by id (unknown ids are ignored: `removed` lists those deleted); committed atomically.
        SemsearchError when there is no index in the folder (nothing is created)."""
        from semsearch.ingest.builder import delete_documents

        self._check_open()
        if store.latest_generation_number(self.path) is None:
            what = "does not exist" if not self.path.is_dir() else "holds no index"
            raise SemsearchError(f"index folder '{self.path}' {what}, so there is nothing to delete: check --index")
        if isinstance(ids, str):
            ids = [ids]
        return delete_documents(self.path, [str(i) for i in ids])

    def compact(self) -> int:
        """Merge the index's segments into one, dropping deleted rows; returns the number of merges run."""
        from semsearch.ingest.builder import compact_index

        self._check_open()
        return compact_index(self.path)


def _checked_question(
    text: str, k: int, mode: str, since, until, where: Mapping[str, object] | None, min_score: float | None
) -> tuple[str, Filter]:
    """The question as searched and the filter, or a SemsearchError naming the bad argument."""
    if not isinstance(text, str) or not text.strip():
        raise SemsearchError('the question is empty: pass a question, e.g. semsearch query "Hva sa Lavrov om Syria?"')
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise SemsearchError(f"k must be a whole number of at least 1 (got {k!r}): pass -k 1 or more")
    if mode not in MODES:
        raise SemsearchError(f"unknown mode '{mode}': use one of {', '.join(MODES)}")
    flt = make_filter(since, until, where)
    number = isinstance(min_score, (int, float)) and not isinstance(min_score, bool)
    if min_score is not None and (not number or min_score != min_score):  # nan != nan
        raise SemsearchError(f"min_score must be a number (got {min_score!r})")
    return text.encode("utf-8", "replace").decode("utf-8").strip(), flt  # lone surrogates from undecodable argv bytes
