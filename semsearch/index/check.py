"""Verifying an index: every part of the newest commit, down to file checksums and posting bounds.

`check_index` never changes anything, and refuses an index in a format this semsearch does not read in one
line; `semsearch index` repairs what it reports by re-reading the documents of damaged segments from the corpus.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from semsearch.index import migrations, store
from semsearch.index.commit import META, generations, latest_commit
from semsearch.index.deletes import DELETES, DeletesDamaged, read_dead
from semsearch.index.segment import DB, SEGMENTS, Segment, SegmentDamaged, file_digest


@dataclass
class CheckReport:
    """What a check found: `problems` (damage) and `notes` (harmless leftovers)."""

    index: str
    generation: int | None = None
    segments: int = 0
    chunks: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is damaged."""
        return not self.problems


def check_index(root: Path) -> CheckReport:
    """Check every part of the index at `root` (commit, segments, delete marks, postings, checksums)."""
    root = Path(root)
    report = CheckReport(str(root))
    if not root.is_dir():
        report.problems.append(f"index folder '{root}' does not exist")
        return report
    commit, damaged = latest_commit(root)
    report.problems.extend(damaged)
    if commit is None:
        if not damaged:
            migrations.refuse_snapshot(root)  # an index of formats 1-3: refused in one line, as readers do
            report.problems.append(f"index folder '{root}' holds no commit (never built)")
        return report
    report.generation, report.segments, report.chunks = commit.generation, len(commit.segments), commit.chunks
    for ref in commit.segments:
        report.problems.extend(_check_segment(root, ref))
    report.notes.extend(_leftovers(root, commit))
    return report


def _check_segment(root: Path, ref) -> list[str]:
    folder = root / SEGMENTS / ref.name
    problems = []
    for fname, recorded in ref.files.items():
        path = folder / fname
        if not path.is_file():
            problems.append(f"segment {ref.name}: {fname} is missing")
        elif (size := path.stat().st_size) != recorded["size"]:
            problems.append(f"segment {ref.name}: {fname} has {size} bytes, the commit recorded {recorded['size']}")
        elif file_digest(path) != recorded["blake2b"]:
            problems.append(f"segment {ref.name}: {fname} does not match its checksum (changed after it was written)")
    if problems:
        return problems
    try:
        segment = Segment(root, ref.name, ref.rows, ref.files)
        read_dead(root, ref)
    except (SegmentDamaged, DeletesDamaged, FileNotFoundError) as e:
        return [str(e)]
    return _check_contents(segment)


def _check_contents(segment: Segment) -> list[str]:
    name = f"segment {segment.name}"
    try:
        integrity = segment.db.execute("PRAGMA quick_check").fetchone()[0]
        total_df = segment.db.execute("SELECT COALESCE(SUM(df), 0), COALESCE(MAX(start + df), 0) FROM terms").fetchone()
    except sqlite3.Error as e:
        return [f"{name}: {DB} is damaged ({e})"]
    problems = [] if integrity == "ok" else [f"{name}: {DB} fails its integrity check ({integrity})"]
    if total_df[0] != len(segment.post_rows) or total_df[1] > len(segment.post_rows):
        problems.append(f"{name}: the term dictionary does not match the postings ({total_df[0]} vs {len(segment.post_rows)})")
    if len(segment.post_rows) and (int(segment.post_rows.max()) >= segment.rows or int(segment.post_rows.min()) < 0):
        problems.append(f"{name}: postings point outside the segment")
    if segment.rows and (int(segment.row_doc.max()) >= segment.docs or int(segment.chunk_lens.min()) < 1):
        problems.append(f"{name}: row tables are out of range")
    if segment.rows and not np.isfinite(np.asarray(segment.vectors[: min(segment.rows, 4096)])).all():
        problems.append(f"{name}: vectors hold non-numbers")
    return problems


def _leftovers(root: Path, commit) -> list[str]:
    notes = []
    named = {s.name for s in commit.segments}
    for entry in sorted((root / SEGMENTS).iterdir()) if (root / SEGMENTS).is_dir() else ():
        if entry.name.startswith(".tmp-"):
            notes.append(f"unfinished segment {entry.name} (removed by the next `semsearch index`)")
        elif entry.name not in named:
            notes.append(f"segment {entry.name} is kept for readers of an older commit")
    older = len(generations(root)) - 1
    if older > store.KEEP_GENERATIONS:
        notes.append(f"{older} older commits in {META}/")
    if (root / DELETES).is_dir() and not any(s.dead for s in commit.segments) and any((root / DELETES).iterdir()):
        notes.append("delete marks of older commits are kept for their readers")
    return notes
