"""Merging segments: the live rows of several segments copied into one, without re-embedding or re-analysing.

Everything is copied in bulk, as Lucene's merger does, never document by document through Python:
- documents and chunks by SQLite itself (`INSERT ... SELECT` from the attached source, rows renumbered);
- vectors, chunk ids and lengths block by block, read from the files rather than mapped;
- postings by a counting sort over the union of the term dictionaries: each source's postings are
  already grouped by term with ascending rows, so they are renumbered, dead rows dropped, and placed
  after those of the segments before it;
- sentence statistics summed, minus those of the deleted chunks (the only chunks parsed in Python).

The result is the segment `SegmentWriter` would write from the same live documents: tests compare them.
Memory: the merged postings (6 bytes each), one source's postings at a time and the term dictionary.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass

import numpy as np

from semsearch.index.files import RowFile, RowWriter, save_array
from semsearch.index.segment import (
    DB,
    INDEXES,
    SCHEMA,
    SEGMENTS,
    SENTENCE_DTYPE,
    Segment,
    build_ann,
    new_name,
    read_only_uri,
    seal,
    sentence_starts,
)

_BLOCK = 1 << 22  # postings renumbered at a time
_SENTENCE_BLOCK = 1 << 16  # sentence vectors copied at a time


@dataclass
class _Source:
    """One source segment's part in the merge: which rows live and where they land."""

    segment: Segment
    live: np.ndarray  # bool per row
    row_map: np.ndarray  # new row of each old row, -1 when dead
    docs: np.ndarray  # [old ord, new ord, row shift] of each live document
    dead_docs: list[int]
    gids: np.ndarray | None = None  # merged term id of each local term, in posting order
    term_starts: np.ndarray | None = None


def merge_segments(root, segments: list[Segment], alive: list[np.ndarray | None]) -> tuple[str, int, int, dict, dict | None]:
    """Copy the live documents of `segments` into one new segment; returns (name, rows, docs, files, ann)."""
    sources, rows, docs = _plan(segments, alive)
    if rows == 0:
        return "", 0, 0, {}, None
    name = new_name()
    tmp = root / SEGMENTS / f".tmp-{name}"
    tmp.mkdir(parents=True)
    try:
        _write(tmp, sources, rows, docs, segments[0].dim)
        ann = build_ann(tmp, rows)
        files = seal(root, name, tmp)
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return name, rows, docs, files, ann


def _plan(segments: list[Segment], alive: list[np.ndarray | None]) -> tuple[list[_Source], int, int]:
    """Each source's live rows and documents, renumbered after the sources before it."""
    sources, row_base, ord_base = [], 0, 0
    for segment, mask in zip(segments, alive):
        live = np.ones(segment.rows, bool) if mask is None else np.asarray(mask, bool)
        table = np.array(segment.db.execute("SELECT ord, first_row, n_chunks FROM docs ORDER BY ord").fetchall(), np.int64)
        table = table.reshape(-1, 3)
        doc_live = live[table[:, 1]] if len(table) else np.zeros(0, bool)
        kept = table[doc_live]
        new_first = row_base + np.concatenate([[0], np.cumsum(kept[:, 2])[:-1]]) if len(kept) else np.zeros(0, np.int64)
        row_map = np.full(segment.rows, -1, np.int64)
        row_map[live] = row_base + np.arange(int(live.sum()))
        placed = np.stack([kept[:, 0], ord_base + np.arange(len(kept)), new_first - kept[:, 1]], axis=1)
        sources.append(_Source(segment, live, row_map, placed, table[~doc_live, 0].tolist()))
        row_base += int(live.sum())
        ord_base += len(kept)
    return sources, row_base, ord_base


def _write(tmp, sources: list[_Source], rows: int, docs: int, dim: int) -> None:
    db = sqlite3.connect((tmp / DB).resolve().as_uri(), uri=True)
    try:
        db.executescript(SCHEMA)
        for source in sources:
            _copy_tables(db, source)
        _copy_arrays(tmp, sources, rows, dim)
        term_df, starts, vocab = _merge_postings(tmp, sources, rows)
        kept = ((t, int(term_df[g]), int(starts[g])) for t, g in vocab.items() if term_df[g])
        db.executemany("INSERT INTO terms VALUES (?,?,?)", kept)
        sterms, stats = _sentence_stats(sources)
        db.executemany("INSERT INTO sterms VALUES (?,?)", ((t, n) for t, n in sterms.items() if n > 0))
        lens = np.load(tmp / "chunk_lens.npy")
        info = {"rows": rows, "docs": docs, "dim": dim, "chunk_len": int(lens.sum()), **stats}
        db.executemany("INSERT INTO info VALUES (?,?)", info.items())
        db.executescript(INDEXES)
        db.commit()
    finally:
        db.close()


def _copy_tables(db: sqlite3.Connection, source: _Source) -> None:
    """The live documents and chunks of one source, renumbered, copied by SQLite."""
    db.execute("ATTACH DATABASE ? AS src", (read_only_uri(source.segment.folder / DB),))
    try:
        db.execute("CREATE TEMP TABLE placed (old INTEGER PRIMARY KEY, new INTEGER, shift INTEGER)")
        db.executemany("INSERT INTO placed VALUES (?,?,?)", source.docs.tolist())
        db.execute(
            "INSERT INTO main.docs SELECT p.new, d.doc_id, d.source, d.size, d.mtime_ns, d.fingerprint, d.title, d.date, "
            "d.url, d.metadata, d.text, d.first_row + p.shift, d.n_chunks FROM src.docs d JOIN placed p ON d.ord = p.old "
            "ORDER BY d.ord"
        )
        db.execute(
            'INSERT INTO main.chunks SELECT c.row + p.shift, c.id, p.new, c.position, c.start, c."end", c.text, c.heading, '
            "c.tokens, c.terms, c.sentence_terms, c.sentence_spans FROM src.chunks c JOIN placed p ON c.doc = p.old "
            "ORDER BY c.row"
        )
        db.execute("DROP TABLE placed")
        db.commit()
    finally:
        db.execute("DETACH DATABASE src")


def _copy_arrays(tmp, sources: list[_Source], rows: int, dim: int) -> None:
    """Vectors (block by block, read not mapped), chunk ids, row -> document and chunk lengths of the live rows."""
    vectors = RowWriter(tmp / "vectors.npy", rows, dim)
    try:
        for source in sources:
            with RowFile(source.segment.folder / "vectors.npy") as rows_in:
                for start, block in rows_in.blocks(32768):
                    vectors.write(block[source.live[start : start + len(block)]])
        vectors.close()
    except BaseException:
        vectors.abort()
        raise
    row_doc = []
    for source in sources:
        old_row_doc = np.asarray(source.segment.row_doc)[source.live]
        new_ord = np.full(source.segment.docs, -1, np.int64)
        new_ord[source.docs[:, 0]] = source.docs[:, 1]
        row_doc.append(new_ord[old_row_doc])
    save_array(tmp / "row_doc.npy", np.concatenate(row_doc).astype(np.int32))
    save_array(tmp / "ids.npy", np.concatenate([np.asarray(s.segment.ids)[s.live] for s in sources]).astype(np.int64))
    lens = np.concatenate([np.asarray(s.segment.chunk_lens)[s.live] for s in sources])
    save_array(tmp / "chunk_lens.npy", lens.astype(np.int32))
    if all(s.segment.has_sentence_vectors for s in sources):  # else the merged segment holds none
        _copy_sentence_vectors(tmp, sources, dim)


def _copy_sentence_vectors(tmp, sources: list[_Source], dim: int) -> None:
    """The sentence vectors of the live rows, block by block, and where each row's begin."""
    every = [np.diff(np.asarray(s.segment.sentence_starts)) for s in sources]  # sentences of each row
    counts = [n[s.live] for n, s in zip(every, sources)]
    out = RowWriter(tmp / "sentence_vectors.npy", int(sum(c.sum() for c in counts)), dim, SENTENCE_DTYPE)
    try:
        for source, n in zip(sources, every):
            keep = np.repeat(source.live, n)
            vectors = source.segment.sentence_vectors
            for start in range(0, len(keep), _SENTENCE_BLOCK):
                end = start + _SENTENCE_BLOCK
                out.write(np.asarray(vectors[start:end])[keep[start:end]])
        out.close()
    except BaseException:
        out.abort()
        raise
    save_array(tmp / "sentence_starts.npy", sentence_starts(np.concatenate(counts)))


def _merge_postings(tmp, sources: list[_Source], rows: int) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Write the merged postings; (postings per merged term id, start of each, term -> merged id)."""
    vocab: dict[str, int] = {}
    counts = np.zeros(0, np.int64)
    for source in sources:  # pass 1: the merged dictionary and how many live postings each term keeps
        table = source.segment.db.execute("SELECT term, start FROM terms ORDER BY start").fetchall()
        source.gids = np.fromiter((vocab.setdefault(t, len(vocab)) for t, _ in table), np.int64, count=len(table))
        source.term_starts = np.fromiter((s for _, s in table), np.int64, count=len(table))
        grown = np.zeros(len(vocab), np.int64)
        grown[: len(counts)] = counts
        counts = grown
        for gterm, _, _ in _live_postings(source):
            counts += np.bincount(gterm, minlength=len(vocab))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64) if len(counts) else counts
    out_rows = np.empty(int(counts.sum()), np.int32)
    out_tf = np.empty(len(out_rows), np.uint16)
    cursor = starts.copy()
    for source in sources:  # pass 2: place them, after those of the sources before
        for gterm, new_rows, tf in _live_postings(source):
            if not len(gterm):
                continue
            first = np.flatnonzero(np.concatenate([[True], gterm[1:] != gterm[:-1]]))
            sizes = np.diff(np.append(first, len(gterm)))
            at = cursor[gterm] + (np.arange(len(gterm)) - np.repeat(first, sizes))
            out_rows[at], out_tf[at] = new_rows, tf
            cursor[gterm[first]] += sizes
    save_array(tmp / "post_rows.npy", out_rows)
    save_array(tmp / "post_tf.npy", out_tf)
    return counts, starts, vocab


def _live_postings(source: _Source):
    """(merged term id, new row, tf) of one source's live postings, in its order, a block at a time."""
    post_rows, post_tf = source.segment.post_rows, source.segment.post_tf
    for start in range(0, len(post_rows), _BLOCK):
        rows = np.asarray(post_rows[start : start + _BLOCK])
        local = np.searchsorted(source.term_starts, np.arange(start, start + len(rows)), side="right") - 1
        new_rows = source.row_map[rows]
        keep = new_rows >= 0
        yield source.gids[local[keep]], new_rows[keep].astype(np.int32), np.asarray(post_tf[start : start + len(rows)])[keep]


def _sentence_stats(sources: list[_Source]) -> tuple[Counter, dict[str, int]]:
    """Sentence document frequencies and totals of the merged segment: the sources' sums minus the deleted chunks'."""
    sterms: Counter = Counter()
    stats = {"sentences": 0, "sentence_len": 0}
    for source in sources:
        seg = source.segment
        sterms.update(dict(seg.db.execute("SELECT term, df FROM sterms")))
        stats["sentences"] += int(seg.sentences)
        stats["sentence_len"] += int(seg.sentence_len)
        for start in range(0, len(source.dead_docs), 500):
            ords = source.dead_docs[start : start + 500]
            marks = ",".join("?" * len(ords))
            for (text,) in seg.db.execute(f"SELECT sentence_terms FROM chunks WHERE doc IN ({marks})", ords):
                sentences = tuple(tuple(s.split()) for s in text.split("\t")) if text else ()
                for terms in sentences or ((),):
                    sterms.subtract(set(terms))
                    stats["sentence_len"] -= max(len(terms), 1)
                stats["sentences"] -= len(sentences or ((),))
    return sterms, stats
