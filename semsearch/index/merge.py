"""Merging segments: a log-structured policy that keeps the segment count logarithmic in the archive,
and the merge itself, which copies live rows (vectors, chunks, terms) without re-embedding anything.

Policy (after Tantivy's LogMergePolicy): a segment's level is 0 below `floor_rows` live rows, else
1 + log_factor(live / floor_rows). When a level holds `factor` segments, they merge into one, so each
row is rewritten about once per level. A segment with more than `max_dead_share` of its rows deleted is
rewritten alone, so deletes do not pile up.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from semsearch.index.commit import SegmentRef
from semsearch.index.records import ChunkEntry, DocEntry
from semsearch.index.segment import Segment, SegmentWriter


@dataclass(frozen=True)
class MergePolicy:
    """When segments merge: `factor` alike segments per level, levels growing by `factor` from `floor_rows`."""

    factor: int = 8
    floor_rows: int = 10_000
    max_dead_share: float = 0.2

    def level(self, ref: SegmentRef) -> int:
        """The size level of a segment."""
        live = ref.live_rows
        if live < self.floor_rows:
            return 0
        return 1 + int(math.log(live / self.floor_rows, self.factor))

    def plan(self, refs: tuple[SegmentRef, ...], force: bool = False) -> list[list[str]]:
        """Groups of segment names to merge now. `force` merges every segment into one (compact)."""
        if force:
            return [[r.name for r in refs]] if len(refs) > 1 or any(r.dead_rows for r in refs) else []
        levels: dict[int, list[SegmentRef]] = {}
        for ref in refs:
            levels.setdefault(self.level(ref), []).append(ref)
        groups = []
        for members in levels.values():
            members.sort(key=lambda r: r.live_rows)
            while len(members) >= self.factor:
                groups.append([r.name for r in members[: self.factor]])
                members = members[self.factor :]
            groups.extend([r.name] for r in members if r.dead_rows > self.max_dead_share * r.rows)
        return groups


def merge_segments(root, segments: list[Segment], alive: list[np.ndarray | None]) -> tuple[str, int, int, dict, dict | None]:
    """Copy the live documents of `segments` into one new segment; returns (name, rows, docs, files, ann)."""
    rows = sum(int(s.rows if a is None else a.sum()) for s, a in zip(segments, alive))
    if rows == 0:
        return "", 0, 0, {}, None
    writer = SegmentWriter(root, segments[0].dim, rows)
    try:
        for segment, mask in zip(segments, alive):
            for doc, chunks, first in _live_docs(segment, mask):
                writer.add(doc, chunks, np.asarray(segment.vectors[first : first + len(chunks)]))
        name, files = writer.finish()
    except BaseException:
        writer.abort()
        raise
    return name, writer.rows, writer.docs, files, writer.ann_info


def _live_docs(segment: Segment, alive: np.ndarray | None):
    """(DocEntry, chunks, first_row) of each live document of a segment, in row order."""
    docs = segment.db.execute(
        "SELECT ord, doc_id, source, size, mtime_ns, fingerprint, text, title, date, url, metadata, first_row, n_chunks "
        "FROM docs ORDER BY ord"
    )
    chunks = segment.db.execute(
        'SELECT row, id, position, start, "end", text, heading, tokens, terms, sentence_terms, sentence_spans '
        "FROM chunks ORDER BY row"
    )
    for d in docs:
        first, n = d[11], d[12]
        entries = [_chunk_entry(d[1], c) for c in chunks.fetchmany(n)]
        if alive is not None and not alive[first]:
            continue
        doc = DocEntry(d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], json.loads(d[10] or "{}"))
        yield doc, entries, first


def _chunk_entry(doc_id: str, c: tuple) -> ChunkEntry:
    sentences = tuple(tuple(s.split()) for s in c[9].split("\t")) if c[9] else ()
    spans = tuple(tuple(s) for s in json.loads(c[10] or "[]"))
    return ChunkEntry(c[1], doc_id, c[2], c[3], c[4], c[5], c[6], c[7], tuple(c[8].split()), sentences, spans)
