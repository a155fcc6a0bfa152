"""A segment: an immutable, self-contained piece of the index, written once and never edited.

`segments/<name>/` holds the vectors (of chunks, and of their sentences), chunk ids, row tables and postings as
.npy files, the chunk and document store with the term dictionary in `segment.sqlite`, and an optional
`ann.faiss`: docs/format.md specifies each.
Rows of a document are contiguous. Segments are deleted only by garbage collection, once no commit that a
reader may hold names them.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from semsearch.index.files import RowWriter, fsync_dir, fsync_file, load_array, save_array
from semsearch.index.records import ChunkEntry, DocEntry, joined_sentences, sentence_texts

SEGMENTS = "segments"
ARRAYS = ("vectors", "ids", "row_doc", "chunk_lens", "post_rows", "post_tf")
# Sentence vectors (format 5, optional): one per sentence of each chunk (`records.sentence_texts`), rows' sentences
# consecutive in `sentence_vectors.npy`; `sentence_starts.npy` [rows + 1] says where each row's begin. float16: they
# only re-rank candidates, and a chunk has ~6.5 of them.
SENTENCE_DTYPE = np.float16
DB = "segment.sqlite"
_BLOCK_CHUNKS = 4096  # chunks' postings gathered before they are folded into one array

SCHEMA = """
CREATE TABLE docs (ord INTEGER PRIMARY KEY, doc_id TEXT NOT NULL UNIQUE, source TEXT, size INTEGER,
    mtime_ns INTEGER, fingerprint TEXT, title TEXT, date TEXT, url TEXT, metadata TEXT, text TEXT,
    first_row INTEGER, n_chunks INTEGER);
CREATE TABLE chunks (row INTEGER PRIMARY KEY, id INTEGER NOT NULL, doc INTEGER NOT NULL, position INTEGER,
    start INTEGER, "end" INTEGER, text TEXT, heading TEXT, tokens INTEGER, terms TEXT, sentence_terms TEXT,
    sentence_spans TEXT);
CREATE TABLE terms (term TEXT PRIMARY KEY, df INTEGER, start INTEGER) WITHOUT ROWID;
CREATE TABLE sterms (term TEXT PRIMARY KEY, df INTEGER) WITHOUT ROWID;
CREATE TABLE info (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
"""
# Made once the rows are in. `docs_catalog` covers the catalog every build reads (generation.catalog), so that
# reading it never touches the documents' texts.
INDEXES = """
CREATE INDEX chunks_doc ON chunks (doc);
CREATE INDEX docs_catalog ON docs (ord, doc_id, first_row, n_chunks, source, size, mtime_ns, fingerprint);
"""


def file_digest(path: Path) -> str:
    """A checksum of a file's bytes (verified by `semsearch check`, not on every open)."""
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def new_name() -> str:
    """A fresh, unique segment name."""
    return uuid.uuid4().hex[:16]


DB_MMAP_BYTES = 1 << 30  # the most of a segment's database a reader maps (SQLite maps up to the file's size)


def read_only_uri(path: Path) -> str:
    """SQLite's URI for reading an immutable file (percent-encoded: a '#' or '?' in a folder name is safe)."""
    return Path(path).resolve().as_uri() + "?mode=ro&immutable=1"


def build_ann(folder: Path, rows: int) -> dict | None:
    """An approximate index for a large segment being written (see ann.py); None below `ann.MIN_ROWS` rows."""
    from semsearch.index import ann

    if rows < ann.MIN_ROWS or os.environ.get("SEMSEARCH_EXACT") == "1":
        return None
    return ann.build_ann(folder, folder / "vectors.npy")


def sentence_starts(counts) -> np.ndarray:
    """Where each row's sentence vectors begin, and the total last ([rows + 1], int64), from per-row counts."""
    return np.concatenate([[0], np.cumsum(np.asarray(counts, np.int64))]).astype(np.int64)


def ranges(lo: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The indices lo[i], lo[i] + 1, ..., lo[i] + sizes[i] - 1 of every i, one run after another."""
    first = sentence_starts(sizes)[:-1]  # where each run begins in the result
    return np.repeat(np.asarray(lo, np.int64) - first, sizes) + np.arange(int(np.sum(sizes)))


def seal(root: Path, name: str, tmp: Path) -> dict[str, dict]:
    """fsync a segment written in `tmp`, rename it into place as `name`; the size and checksum of each file."""
    for f in tmp.iterdir():
        fsync_file(f)
    final = Path(root) / SEGMENTS / name
    os.replace(tmp, final)
    fsync_dir(final.parent)
    return {f.name: {"size": f.stat().st_size, "blake2b": file_digest(f)} for f in final.iterdir()}


class SegmentWriter:
    """Writes one segment into a temporary folder; `finish` fsyncs it and renames it into place."""

    def __init__(self, root: Path, dim: int, rows: int, sentences: int | None = None):
        self.root = Path(root)
        self.name = new_name()
        self.tmp = self.root / SEGMENTS / f".tmp-{self.name}"
        self.tmp.mkdir(parents=True)
        self.dim, self.capacity = dim, rows
        self.vectors = RowWriter(self.tmp / "vectors.npy", rows, dim)
        # `sentences` announces the sentence vectors to come (None: the segment holds none)
        path = self.tmp / "sentence_vectors.npy"
        self.sentence_vectors = None if sentences is None else RowWriter(path, sentences, dim, SENTENCE_DTYPE)
        self._sentence_counts: list[int] = []
        self.db = sqlite3.connect(self.tmp / DB)
        self.db.executescript(SCHEMA)
        self.rows = self.docs = 0
        self.ann_info: dict | None = None
        self._ids: list[np.ndarray] = []
        self._row_doc: list[int] = []
        self._lens: list[int] = []
        self._vocab: dict[str, int] = {}
        self._post_terms: list[np.ndarray] = []
        self._post_rows: list[np.ndarray] = []
        self._post_tf: list[np.ndarray] = []
        self._df = np.zeros(0, np.int64)  # postings per term id, of the folded blocks
        self._blocks: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
        self._sentence_df: Counter = Counter()
        self._stats = Counter()

    def add(
        self, doc: DocEntry, chunks: Sequence[ChunkEntry], vectors: np.ndarray, sentence_vectors: np.ndarray | None = None
    ) -> None:
        """Append one document with its chunks and their vectors (rows of a document stay together), and the
        vectors of the chunks' sentences in order when the segment holds them."""
        if len(chunks) != len(vectors) or not chunks:
            raise ValueError(f"document '{doc.doc_id}': {len(chunks)} chunks but {len(vectors)} vectors")
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"document '{doc.doc_id}': vectors of shape {vectors.shape}, the segment holds {self.dim} dims")
        self._add_sentence_vectors(doc, chunks, sentence_vectors)
        first, ord_ = self.rows, self.docs
        self.db.execute(
            "INSERT INTO docs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (ord_, doc.doc_id, doc.source, doc.size, doc.mtime_ns, doc.fingerprint, doc.title, doc.date, doc.url,
             json.dumps(doc.metadata, ensure_ascii=False), doc.text, first, len(chunks)),
        )  # fmt: skip
        self.db.executemany(
            "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (first + i, c.id, ord_, c.position, c.start, c.end, c.text, c.heading, c.tokens, " ".join(c.terms),
                 joined_sentences(c.sentence_terms), json.dumps(c.sentence_spans))
                for i, c in enumerate(chunks)
            ],
        )  # fmt: skip
        self.vectors.write(vectors)
        for i, c in enumerate(chunks):
            self._add_terms(first + i, c)
        self._ids.append(np.fromiter((c.id for c in chunks), dtype=np.int64, count=len(chunks)))
        self._row_doc.extend([ord_] * len(chunks))
        self.rows += len(chunks)
        self.docs += 1

    def _add_sentence_vectors(self, doc: DocEntry, chunks: Sequence[ChunkEntry], vectors: np.ndarray | None) -> None:
        if (vectors is None) != (self.sentence_vectors is None):
            wrong = (
                "no sentence vectors for a segment that holds them"
                if vectors is None
                else "sentence vectors for a segment without"
            )
            raise ValueError(f"document '{doc.doc_id}': {wrong}")
        if vectors is None:
            return
        counts = [len(sentence_texts(c.text, c.sentence_spans)) for c in chunks]
        if sum(counts) != len(vectors):
            raise ValueError(f"document '{doc.doc_id}': {sum(counts)} sentences but {len(vectors)} sentence vectors")
        self.sentence_vectors.write(vectors)
        self._sentence_counts.extend(counts)

    def _add_terms(self, row: int, chunk: ChunkEntry) -> None:
        counts = Counter(chunk.terms)
        vocab = self._vocab
        ids = np.fromiter((vocab.setdefault(t, len(vocab)) for t in counts), dtype=np.int32, count=len(counts))
        self._post_terms.append(ids)
        self._post_rows.append(np.full(len(counts), row, dtype=np.int32))
        self._post_tf.append(np.fromiter(counts.values(), dtype=np.uint16, count=len(counts)))
        if len(self._post_terms) >= _BLOCK_CHUNKS:
            self._consolidate()
        self._lens.append(max(len(chunk.terms), 1))  # an empty row counts as one (placeholder) term, as bm25s does
        sentences = chunk.sentence_terms or ((),)
        for terms in sentences:
            self._sentence_df.update(set(terms))
            self._stats["sentence_len"] += max(len(terms), 1)
        self._stats["sentences"] += len(sentences)

    def finish(self) -> tuple[str, dict[str, int]]:
        """Write the arrays and dictionaries, fsync everything, rename into place; the name and file sizes."""
        if self.rows != self.capacity:
            raise ValueError(f"segment holds {self.rows} rows, {self.capacity} were announced")
        self.vectors.close()
        if self.sentence_vectors is not None:
            self.sentence_vectors.close()
            save_array(self.tmp / "sentence_starts.npy", sentence_starts(self._sentence_counts))
        self._write_postings()  # before the approximate index: the posting blocks are freed first
        self.ann_info = self._build_ann()
        save_array(self.tmp / "ids.npy", np.concatenate(self._ids) if self._ids else np.zeros(0, np.int64))
        save_array(self.tmp / "row_doc.npy", np.asarray(self._row_doc, dtype=np.int32))
        save_array(self.tmp / "chunk_lens.npy", np.asarray(self._lens, dtype=np.int32))
        self.db.executemany("INSERT INTO sterms VALUES (?,?)", self._sentence_df.items())
        info = {"rows": self.rows, "docs": self.docs, "dim": self.dim, "chunk_len": int(sum(self._lens)),
                "sentences": self._stats["sentences"], "sentence_len": self._stats["sentence_len"]}  # fmt: skip
        self.db.executemany("INSERT INTO info VALUES (?,?)", info.items())
        self.db.executescript(INDEXES)
        self.db.commit()
        self.db.close()
        return self.name, seal(self.root, self.name, self.tmp)

    def _build_ann(self) -> dict | None:
        return build_ann(self.tmp, self.rows)

    def _consolidate(self) -> None:
        """Fold the per-chunk posting arrays into one block each (small arrays cost ~100 bytes apiece)."""
        if not self._post_terms:
            return
        for pending, blocks in zip((self._post_terms, self._post_rows, self._post_tf), self._blocks):
            blocks.append(np.concatenate(pending))
            pending.clear()
        counts = np.bincount(self._blocks[0][-1], minlength=len(self._vocab))
        counts[: len(self._df)] += self._df
        self._df = counts

    def _write_postings(self) -> None:
        """Group the postings by term with a counting sort, block by block (rows stay ascending within a term).

        Memory: the blocks plus the two output arrays, ~16 bytes a posting, each block freed once placed.
        """
        self._consolidate()
        counts = np.zeros(len(self._vocab), np.int64)
        counts[: len(self._df)] = self._df
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64) if len(counts) else counts
        rows_out = np.empty(int(counts.sum()), np.int32)
        tf_out = np.empty(len(rows_out), np.uint16)
        cursor = starts.copy()
        terms_blocks, rows_blocks, tf_blocks = self._blocks
        while terms_blocks:
            terms, rows, tf = terms_blocks.pop(0), rows_blocks.pop(0), tf_blocks.pop(0)
            order = np.argsort(terms, kind="stable")
            terms = terms[order]
            first = np.flatnonzero(np.concatenate([[True], terms[1:] != terms[:-1]]))
            sizes = np.diff(np.append(first, len(terms)))
            at = cursor[terms] + (np.arange(len(terms)) - np.repeat(first, sizes))
            rows_out[at], tf_out[at] = rows[order], tf[order]
            cursor[terms[first]] += sizes
        save_array(self.tmp / "post_rows.npy", rows_out)
        save_array(self.tmp / "post_tf.npy", tf_out)
        self.db.executemany(
            "INSERT INTO terms VALUES (?,?,?)",
            ((t, int(counts[i]), int(starts[i])) for t, i in self._vocab.items()),
        )

    def abort(self) -> None:
        """Throw the unfinished segment away."""
        try:
            self.vectors.abort()
            if self.sentence_vectors is not None:
                self.sentence_vectors.abort()
            self.db.close()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


class SegmentDamaged(Exception):
    """A segment file is missing, truncated or unreadable; the message names the file."""


class Segment:
    """A segment opened for reading: arrays memory-mapped, its database open read-only.

    Everything is opened here, at once, so the segment stays readable for as long as this object lives,
    even after a writer's clean-up unlinks its files (POSIX keeps open files and mappings alive).
    """

    def __init__(self, root: Path, name: str, rows: int, files: dict[str, dict]):
        self.name, self.rows = name, rows
        self.has_sentence_vectors = "sentence_vectors.npy" in files
        self.folder = Path(root) / SEGMENTS / name
        self._doc_starts: np.ndarray | None = None  # `doc_starts`, computed at its first call
        for fname, recorded in files.items():
            size = recorded["size"]
            path = self.folder / fname
            try:
                actual = path.stat().st_size
            except FileNotFoundError:
                raise
            except OSError as e:
                raise SegmentDamaged(f"segment {name}: {fname} is unreadable ({e})") from e
            if actual != size:
                raise SegmentDamaged(f"segment {name}: {fname} has {actual} bytes, the commit recorded {size}")
        self.db = self._open_db()
        try:
            info = dict(self.db.execute("SELECT key, value FROM info"))
            self.docs, self.dim = int(info["docs"]), int(info["dim"])
            self.chunk_len, self.sentences, self.sentence_len = info["chunk_len"], info["sentences"], info["sentence_len"]
            last = self.db.execute("SELECT MAX(row) FROM chunks").fetchone()[0]
        except (sqlite3.Error, KeyError, TypeError, ValueError) as e:
            raise SegmentDamaged(f"segment {name}: {DB} is damaged ({e})") from e
        if int(info["rows"]) != rows or (last if last is not None else -1) != rows - 1:
            raise SegmentDamaged(f"segment {name}: {DB} holds {int(info['rows'])} rows, the commit recorded {rows}")
        self._load_arrays()

    def _open_db(self) -> sqlite3.Connection:
        path = self.folder / DB
        if not path.is_file():
            raise FileNotFoundError(str(path))
        try:
            db = sqlite3.connect(read_only_uri(path), uri=True, check_same_thread=False)
            # Pages read through a memory map, not read() into SQLite's small page cache: a hybrid query reads the
            # sentences of ~200 candidates scattered over every segment. The file is immutable, as the vectors
            # mapped beside it are.
            db.execute(f"PRAGMA mmap_size = {DB_MMAP_BYTES}")
            return db
        except sqlite3.Error as e:
            raise SegmentDamaged(f"segment {self.name}: {DB} cannot be opened ({e})") from e

    def _load_arrays(self) -> None:
        try:
            self.vectors = load_array(self.folder / "vectors.npy", self.rows)
            self.ids = load_array(self.folder / "ids.npy", self.rows)
            self.row_doc = load_array(self.folder / "row_doc.npy", self.rows)
            self.chunk_lens = load_array(self.folder / "chunk_lens.npy", self.rows)
            self.post_rows = load_array(self.folder / "post_rows.npy")
            self.post_tf = load_array(self.folder / "post_tf.npy", len(self.post_rows))
        except FileNotFoundError:
            raise
        except (OSError, ValueError) as e:
            raise SegmentDamaged(f"segment {self.name}: {e}") from e
        if self.vectors.ndim != 2 or self.vectors.shape[1] != self.dim:
            raise SegmentDamaged(f"segment {self.name}: vectors.npy has shape {self.vectors.shape}, expected dim {self.dim}")
        self.sentence_vectors = self.sentence_starts = None
        if self.has_sentence_vectors:
            self._load_sentence_vectors()

    def _load_sentence_vectors(self) -> None:
        try:
            self.sentence_starts = load_array(self.folder / "sentence_starts.npy", self.rows + 1)
            total = int(self.sentence_starts[-1])
            self.sentence_vectors = load_array(self.folder / "sentence_vectors.npy", total)
        except FileNotFoundError:
            raise
        except (OSError, ValueError) as e:
            raise SegmentDamaged(f"segment {self.name}: {e}") from e
        if self.sentence_vectors.ndim != 2 or self.sentence_vectors.shape[1] != self.dim:
            shape = self.sentence_vectors.shape
            raise SegmentDamaged(f"segment {self.name}: sentence_vectors.npy has shape {shape}, expected dim {self.dim}")

    def sentence_counts(self, local: np.ndarray) -> np.ndarray:
        """How many sentence vectors each of these local rows has (at least one)."""
        starts = np.asarray(self.sentence_starts)
        return starts[local + 1] - starts[local]

    def sentence_cosines(self, q: np.ndarray, local: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The cosine of every sentence of these local rows, row after row, with the question and with its own
        chunk's vector."""
        sizes = self.sentence_counts(local)
        sentences = np.asarray(self.sentence_vectors[ranges(np.asarray(self.sentence_starts)[local], sizes)], np.float32)
        chunks = np.repeat(np.asarray(self.vectors[local], np.float32), sizes, axis=0)
        return sentences @ q, np.einsum("ij,ij->i", sentences, chunks)

    def doc_starts(self) -> np.ndarray:
        """The local row where each run of one document's rows begins, ascending (a document's chunks are
        consecutive rows); computed once per opened segment."""
        if self._doc_starts is None:
            row_doc = np.asarray(self.row_doc)
            self._doc_starts = np.flatnonzero(np.concatenate([[True], row_doc[1:] != row_doc[:-1]])) if len(row_doc) else row_doc
        return self._doc_starts

    def postings(self, terms: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Rows and term frequencies of each known term."""
        if not terms:
            return {}
        marks = ",".join("?" * len(terms))
        found = {}
        for term, df, start in self.db.execute(f"SELECT term, df, start FROM terms WHERE term IN ({marks})", list(terms)):
            found[term] = (self.post_rows[start : start + df], self.post_tf[start : start + df])
        return found

    def sentence_df(self, terms: Sequence[str]) -> dict[str, int]:
        """How many sentences of this segment hold each term."""
        if not terms:
            return {}
        marks = ",".join("?" * len(terms))
        return dict(self.db.execute(f"SELECT term, df FROM sterms WHERE term IN ({marks})", list(terms)))
