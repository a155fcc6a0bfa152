"""A generation opened for reading: one commit's segments and delete marks, consistent whatever commits later.

Rows are addressed globally: segment i's local row r is `offsets[i] + r`.
"""

from __future__ import annotations

import json
import os
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import compress
from pathlib import Path
from typing import NamedTuple

import numpy as np

from semsearch.index.ann import open_ann
from semsearch.index.commit import Commit, commit_key
from semsearch.index.deletes import read_dead
from semsearch.index.segment import SEGMENTS, Segment, SegmentDamaged, ranges, sentence_starts


class SentenceCosines(NamedTuple):
    """Per sentence of some rows, row after row: its cosine with the question and with its own chunk's
    vector; and how many sentences each row has."""

    question: np.ndarray
    chunk: np.ndarray
    sizes: np.ndarray


_opened: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_opened_lock = threading.Lock()


def _segment(root: Path, ref) -> Segment:
    """Open a segment, or reuse one another generation has open: segments never change once written, and
    the key holds each file's identity, so a file replaced on disk (damage, a restored backup) is reopened."""
    folder = root / SEGMENTS / ref.name
    try:
        stats = tuple((st.st_ino, st.st_mtime_ns, st.st_size) for st in (os.stat(folder / f) for f in sorted(ref.files)))
    except FileNotFoundError:
        stats = None
    key = (str(root.resolve()), ref.name, ref.rows, stats)
    with _opened_lock:
        found = _opened.get(key)
    if found is None:
        found = Segment(root, ref.name, ref.rows, ref.files)
        with _opened_lock:
            _opened[key] = found
    return found


_anns: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # segment -> {recorded info: opened index}


def _open_ann(segment: Segment, info: dict):
    """The segment's approximate index as `info` records it, opened once per segment object: a new commit
    (each batch of a build, each hot swap of the server) does not read it again."""
    key = json.dumps(info, sort_keys=True)
    with _opened_lock:
        opened = _anns.setdefault(segment, {})
        if key in opened:
            return opened[key]
    try:
        found = open_ann(segment, info)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError) as e:
        raise SegmentDamaged(f"segment {segment.name}: its approximate index is damaged ({e})") from e
    with _opened_lock:
        return opened.setdefault(key, found)


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as stored, with its document's fields: what a search result is made from."""

    row: int  # global row in this generation
    id: int
    doc_id: str
    position: int
    start: int
    end: int
    text: str
    heading: str | None
    tokens: int
    title: str | None
    date: str | None
    url: str | None
    metadata: dict
    sentence_terms: tuple[tuple[str, ...], ...]
    sentence_spans: tuple[tuple[int, int], ...]


_CATALOG_SQL = "SELECT doc_id, ord, first_row, n_chunks, source, size, mtime_ns, fingerprint FROM docs"
_STAMPS_SQL = "SELECT doc_id, source, size, mtime_ns, first_row FROM docs"
_LOOKUP_GROUP = 500  # ids per `IN (...)` query: well under SQLite's bound on parameters


class StoredDoc(NamedTuple):
    """A live document's entry: where it is stored and how it was read (a tuple: catalogs hold every document)."""

    doc_id: str
    segment: int
    ord: int
    first_row: int
    chunks: int
    source: str
    size: int
    mtime_ns: int
    fingerprint: str

    @classmethod
    def of(cls, segment: int, row: tuple) -> StoredDoc:
        """The entry of a `Generation.catalog_rows` row found in segment `segment`."""
        return cls(row[0], segment, *row[1:])


class Generation:
    """The segments of one commit, opened; `alive[i]` is None when segment i has no deleted rows.

    `dense_index=False` (a writer's view) leaves the approximate dense indexes unopened: `ann(i)` is None.
    """

    def __init__(self, root: Path, commit: Commit, dense_index: bool = True):
        self.root, self.commit = Path(root), commit
        self.key = commit_key(root, commit.generation)  # which commit of that number: readers reopen on another
        self.cache: dict = {}  # per-generation derived data (filter columns), dropped with the generation
        self.segments: list[Segment] = []
        self.alive: list[np.ndarray | None] = []
        self._ann: list = []
        for ref in commit.segments:
            segment = _segment(self.root, ref)
            self.segments.append(segment)
            dead = read_dead(root, ref)
            self.alive.append(None if dead is None else ~dead)
            self._ann.append(_open_ann(segment, ref.ann) if ref.ann and dense_index else None)
        sizes = [s.rows for s in self.segments]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64) if sizes else np.zeros(1, np.int64)

    def ann(self, i: int):
        """The approximate dense index of segment i, or None when it is searched exactly."""
        return self._ann[i]

    def mean_lengths(self) -> tuple[float, float]:
        """Mean live chunk length in characters and in model tokens."""
        chars = tokens = count = 0
        for segment in self.segments:
            n, c, t = segment.db.execute('SELECT COUNT(*), SUM("end" - start), SUM(tokens) FROM chunks').fetchone()
            count, chars, tokens = count + n, chars + (c or 0), tokens + (t or 0)
        return (chars / count, tokens / count) if count else (0.0, 0.0)

    @property
    def generation(self) -> int:
        """The commit's number."""
        return self.commit.generation

    @property
    def rows(self) -> int:
        """Rows in all segments, deleted ones included (the row address space)."""
        return int(self.offsets[-1])

    @property
    def dim(self) -> int:
        """Vector dimension (0 for an empty index)."""
        return self.segments[0].dim if self.segments else int(self.commit.model.get("dim", 0))

    def locate(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Segment index and local row of each global row."""
        seg = np.searchsorted(self.offsets, rows, side="right") - 1
        return seg, rows - self.offsets[seg]

    @property
    def has_sentence_vectors(self) -> bool:
        """Whether every segment holds sentence vectors (format 5 writes them; older segments have none)."""
        return all(seg.has_sentence_vectors for seg in self.segments)

    def sentence_cosines(self, q: np.ndarray, rows: np.ndarray) -> SentenceCosines | None:
        """The cosines of each sentence of each of these global rows, row after row in the rows' order; None
        when a segment holds no sentence vectors."""
        if not self.has_sentence_vectors:
            return None
        seg, local = self.locate(np.asarray(rows, dtype=np.int64))
        groups = [(self.segments[int(i)], np.flatnonzero(seg == i)) for i in np.unique(seg)]
        sizes = np.empty(len(seg), np.int64)
        for segment, at in groups:
            sizes[at] = segment.sentence_counts(local[at])
        first, total = sentence_starts(sizes)[:-1], int(sizes.sum())
        question, chunk = np.empty(total, np.float32), np.empty(total, np.float32)
        for segment, at in groups:
            put = ranges(first[at], sizes[at])
            question[put], chunk[put] = segment.sentence_cosines(q, local[at])
        return SentenceCosines(question, chunk, sizes)

    def is_alive(self, rows: np.ndarray) -> np.ndarray:
        """Which global rows are live."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.ones(len(rows), dtype=bool)
        seg, local = self.locate(rows)
        for i, alive in enumerate(self.alive):
            if alive is not None:
                mask = seg == i
                out[mask] = alive[local[mask]]
        return out

    def doc_keys(self, rows: np.ndarray) -> np.ndarray:
        """A number per global row that is equal for rows of the same document."""
        seg, local = self.locate(np.asarray(rows, dtype=np.int64))
        out = np.empty(len(seg), dtype=np.int64)
        for i in np.unique(seg):
            mask = seg == i
            out[mask] = (int(i) << 32) + self.segments[i].row_doc[local[mask]].astype(np.int64)
        return out

    def doc_spans(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each global row, the global rows [start, end) of its document (deleted rows included)."""
        seg, local = self.locate(np.asarray(rows, dtype=np.int64))
        start, end = np.empty(len(seg), np.int64), np.empty(len(seg), np.int64)
        for i in np.unique(seg):
            at, segment = seg == i, self.segments[int(i)]
            starts = np.append(segment.doc_starts(), segment.rows)
            k = np.searchsorted(starts, local[at], side="right") - 1
            start[at], end[at] = starts[k] + self.offsets[i], starts[k + 1] + self.offsets[i]
        return start, end

    def chunks(self, rows: Sequence[int]) -> list[StoredChunk]:
        """The stored chunks at these global rows, in this order."""
        rows = np.asarray(rows, dtype=np.int64)
        seg, local = self.locate(rows)
        found: dict[int, StoredChunk] = {}
        for i in np.unique(seg):
            wanted = [int(r) for r in local[seg == i]]
            found.update(self._chunks_of(int(i), wanted))
        return [found[int(r)] for r in rows]

    def sentence_texts(self, rows: Sequence[int]) -> list[str]:
        """The analysed sentences of the chunks at these global rows as stored (terms joined by spaces, sentences
        by tabs; see `records.joined_sentences`), in this order: all that ranking reads of a candidate."""
        rows = np.asarray(rows, dtype=np.int64)
        seg, local = self.locate(rows)
        found: dict[int, str] = {}
        for i in np.unique(seg):
            wanted = [int(r) for r in local[seg == i]]
            base = int(self.offsets[i])
            sql = f"SELECT row, sentence_terms FROM chunks WHERE row IN ({','.join('?' * len(wanted))})"
            for row, text in self.segments[int(i)].db.execute(sql, wanted):
                found[base + row] = text or ""
        return [found[int(r)] for r in rows]

    def _chunks_of(self, i: int, local: list[int]) -> dict[int, StoredChunk]:
        base = int(self.offsets[i])
        marks = ",".join("?" * len(local))
        sql = (
            'SELECT c.row, c.id, d.doc_id, c.position, c.start, c."end", c.text, c.heading, c.tokens, d.title, d.date, '
            "d.url, d.metadata, c.sentence_terms, c.sentence_spans FROM chunks c JOIN docs d ON d.ord = c.doc "
            f"WHERE c.row IN ({marks})"
        )
        out = {}
        for r in self.segments[i].db.execute(sql, local):
            sentences = _sentences(r[13])
            spans = tuple(tuple(s) for s in json.loads(r[14] or "[]"))
            out[base + r[0]] = StoredChunk(base + r[0], *r[1:12], json.loads(r[12] or "{}"), sentences, spans)
        return out

    def catalog(self) -> Iterator[StoredDoc]:
        """Every live document (a document's rows live or die together)."""
        for i, rows in self.catalog_rows():
            for row in rows:
                yield StoredDoc.of(i, row)

    def catalog_rows(self) -> Iterator[tuple[int, list[tuple]]]:
        """Per segment, its live documents as plain rows in `StoredDoc`'s order less the segment: (doc_id, ord,
        first_row, chunks, source, size, mtime_ns, fingerprint). A scan of every document without an object each."""
        return self._live_rows(_CATALOG_SQL, first_row_at=2)

    def stamps(self, where: str = "", params: Sequence = ()) -> list[tuple]:
        """Every live document as (doc_id, source, size, mtime_ns, first_row): what a folder build compares the
        corpus with, fetched in bulk (at 20k documents a third of what `catalog_rows` costs). `where`: an SQL
        condition on the docs table's columns, with its `params`, to fetch only some."""
        sql = f"{_STAMPS_SQL} WHERE {where}" if where else _STAMPS_SQL
        return [row for _, rows in self._live_rows(sql, first_row_at=4, params=params) for row in rows]

    def _live_rows(self, sql: str, first_row_at: int, params: Sequence = ()) -> Iterator[tuple[int, list[tuple]]]:
        """Per segment, the rows of a query over its documents, less those of deleted documents (found by the
        document's first row, column `first_row_at`)."""
        for i, segment in enumerate(self.segments):
            rows = segment.db.execute(sql, params).fetchall()
            alive = self.alive[i]
            if alive is not None:
                keep = alive[np.fromiter((r[first_row_at] for r in rows), dtype=np.int64, count=len(rows))]
                rows = list(compress(rows, keep.tolist()))
            yield i, rows

    def lookup(self, doc_ids: Sequence[str]) -> dict[str, StoredDoc]:
        """The live entries of these documents (absent ids are left out), found through the doc_id index:
        an update of a few documents costs a few lookups, not a read of the whole catalog."""
        wanted = list(dict.fromkeys(doc_ids))
        found: dict[str, StoredDoc] = {}
        for at in range(0, len(wanted), _LOOKUP_GROUP):
            group = wanted[at : at + _LOOKUP_GROUP]
            sql = f"{_CATALOG_SQL} WHERE doc_id IN ({','.join('?' * len(group))})"
            for i, segment in enumerate(self.segments):
                alive = self.alive[i]
                for row in segment.db.execute(sql, group):
                    if alive is None or alive[row[2]]:  # its first row
                        found[row[0]] = StoredDoc.of(i, row)
        return found

    def document(self, doc_id: str) -> dict | None:
        """A live document's stored fields and text, or None."""
        for i, segment in enumerate(self.segments):
            row = segment.db.execute(
                "SELECT first_row, title, date, url, metadata, text, source FROM docs WHERE doc_id = ?", (doc_id,)
            ).fetchone()
            if row and (self.alive[i] is None or self.alive[i][row[0]]):
                keys = ("title", "date", "url", "metadata", "text", "source")
                fields = dict(zip(keys, row[1:]))
                fields["metadata"] = json.loads(fields["metadata"] or "{}")
                return {"doc_id": doc_id, **fields}
        return None


def _sentences(text: str | None) -> tuple[tuple[str, ...], ...]:
    """Stored sentence terms ("a b\tc d") as tuples; one empty sentence when there are none."""
    return tuple(tuple(s.split()) for s in text.split("\t")) if text else ((),)
