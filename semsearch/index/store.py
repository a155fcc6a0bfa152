"""The index store: open the newest generation for reading, or change it under a writer lock.

The folder's layout is specified in docs/format.md. An update writes new segments and delete marks, then one
new commit file; readers keep the generation they opened. Garbage collection keeps what the last
`KEEP_GENERATIONS` commits name, and a reader that finds its files gone retries on the newer commit.
Nothing here changes or deletes an index written in a format newer than this semsearch writes.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np

from semsearch.errors import SemsearchError
from semsearch.index.commit import (
    META,
    Commit,
    FormatTooOld,
    SegmentRef,
    commit_key,
    generations,
    latest_commit,
    meta_path,
    read_commit,
    refuse_changes,
    write_commit,
)
from semsearch.index.deletes import DELETES, DeletesDamaged, read_dead, write_dead
from semsearch.index.generation import Generation, StoredDoc
from semsearch.index.segment import SEGMENTS, SegmentDamaged, file_digest

KEEP_GENERATIONS = 3
_OPEN_TRIES = 5


class IndexDamaged(SemsearchError):
    """A part of the index is damaged; `semsearch index` rebuilds it from the corpus."""


def lock(root: Path, timeout: float = 600):
    """The writer lock of an index folder."""
    from filelock import FileLock

    Path(root).mkdir(parents=True, exist_ok=True)
    return FileLock(str(Path(root) / ".lock"), timeout=timeout)


def latest_generation_number(root: Path) -> int | None:
    """The newest commit's number on disk (cheap: lists one small folder), or None."""
    found = generations(root)
    return found[0] if found else None


def latest_commit_key(root: Path) -> tuple | None:
    """The newest commit's identity on disk (`commit.commit_key`; cheap: one listing and one stat), or None.
    A reader whose generation has another key is out of date."""
    newest = latest_generation_number(root)
    return None if newest is None else commit_key(root, newest)


def open_generation(root: Path) -> Generation:
    """Open the newest valid generation of the index at `root`, with a clear error when there is none."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise SemsearchError(f"'{root}' is a file, not an index folder: check --index")
    if not root.is_dir():
        raise SemsearchError(f"index folder '{root}' does not exist: build it with `semsearch index CORPUS --index {root}`")
    last_error: Exception | None = None
    for _ in range(_OPEN_TRIES):
        commit, problems = latest_commit(root)
        if commit is None:
            if problems:
                raise IndexDamaged(f"index '{root}': {problems[0]}; rebuild it with `semsearch index`")
            _migrations().refuse_snapshot(root)
            raise SemsearchError(f"index folder '{root}' holds no index: build it with `semsearch index CORPUS --index {root}`")
        try:
            return Generation(root, commit)
        except FileNotFoundError as e:  # a writer committed and cleaned up meanwhile: open the newer commit
            last_error = e
            if latest_generation_number(root) == commit.generation:
                break
        except (SegmentDamaged, DeletesDamaged) as e:
            if getattr(latest_commit(root)[0], "generation", None) != commit.generation:
                last_error = e  # a file vanished mid-open (sqlite reports it as unreadable): open the newer commit
                continue
            raise IndexDamaged(f"index '{root}': {e}; repair it with `semsearch index`") from None
    raise IndexDamaged(f"index '{root}': a file of the newest commit is missing ({last_error}); repair it with `semsearch index`")


def _migrations():
    """The migrations module, imported where an index is missing or old: opening a current one never needs it."""
    from semsearch.index import migrations

    return migrations


def writable_commit(root: Path, rebuild: bool = True) -> tuple[Commit | None, list[str]]:
    """The commit a writer (holding `lock(root)`) builds on, and a line for each newer commit skipped as damaged.

    FormatTooNew for an index in a newer format than this semsearch writes: nothing is changed. An older format
    is upgraded in place when `migrations` allows; one that must be rebuilt is FormatTooOld, unless `rebuild`
    (a build from the corpus): then there is no base, and the line says why everything is read again.
    """
    try:
        commit, problems = latest_commit(root)
    except FormatTooOld as e:
        migrations = _migrations()
        if e.generation is not None and migrations.in_place(e.version):
            return migrations.upgrade(root, e.generation), []
        if not rebuild:
            raise
        old = f"commit {meta_path(root, e.generation or 0).name} has format {e.version}"
        return None, [f"{old}, which this semsearch no longer reads: rebuilding it from the corpus"]
    if commit is not None:
        refuse_changes(root, commit)
    elif _migrations().snapshot_format(root) is not None:
        if not rebuild:
            _migrations().refuse_snapshot(root)
        problems.append(f"index '{root}' is a snapshot index of an older semsearch: rebuilding it from the corpus")
    return commit, problems


class Writer:
    """Changes to an index, made visible all at once by `commit()`. Hold `lock(root)` while using it.

    `base` is the commit the changes apply to; segments that cannot be opened are dropped from it
    (their documents then look new to the builder, which re-reads them), and each is reported in `repairs`.
    """

    def __init__(self, root: Path, base: Commit, generation: Generation | None = None):
        self.root = Path(root)
        refuse_changes(self.root, base)
        self.base = base
        self.repairs: list[str] = []
        self.generation = generation if generation is not None else self._open_repairing(base)
        self.base = self.generation.commit
        self._dead: dict[int, np.ndarray] = {}
        self._new: list[SegmentRef] = []
        self._dropped: set[str] = set()

    def _open_repairing(self, base: Commit) -> Generation:
        refs = [r for r in base.segments if not self._changed_since_commit(r, base)]
        while True:
            try:
                return Generation(self.root, replace(base, segments=tuple(refs)), dense_index=False)
            except (SegmentDamaged, DeletesDamaged, FileNotFoundError) as e:
                bad = _segment_named_in(e, refs)
                self.repairs.append(f"{e}: dropped with its documents")
                refs = [r for r in refs if r is not bad]

    def _changed_since_commit(self, ref: SegmentRef, base: Commit) -> bool:
        """True (and reported) when a file of the segment was modified after the commit was written and
        no longer matches its checksum: cheap, since only files newer than the commit are hashed."""
        meta = meta_path(self.root, base.generation)
        if not meta.is_file():
            return False
        written = meta.stat().st_mtime_ns
        for fname, recorded in ref.files.items():
            path = self.root / SEGMENTS / ref.name / fname
            try:
                newer = path.stat().st_mtime_ns > written
            except OSError:
                continue  # a missing file is found when the segment is opened
            if newer and file_digest(path) != recorded.get("blake2b"):
                self.repairs.append(f"segment {ref.name}: {fname} changed after it was written: dropped with its documents")
                return True
        return False

    def delete_rows(self, segment: int, first: int, count: int) -> None:
        """Mark rows [first, first + count) of a segment of the base generation as deleted."""
        if segment not in self._dead:
            alive = self.generation.alive[segment]
            self._dead[segment] = np.zeros(self.generation.segments[segment].rows, bool) if alive is None else ~alive
        self._dead[segment][first : first + count] = True

    def delete_doc(self, doc: StoredDoc) -> None:
        """Mark a live document deleted, found where it is now: a commit since `doc` was listed may have merged
        its segment away or dropped an emptied segment before it, so its listed position can be stale."""
        gen = self.generation
        order = [doc.segment] if doc.segment < len(gen.segments) else []
        for i in order + [i for i in range(len(gen.segments)) if i != doc.segment]:
            row = gen.segments[i].db.execute("SELECT first_row, n_chunks FROM docs WHERE doc_id = ?", (doc.doc_id,)).fetchone()
            if row is not None and (gen.alive[i] is None or gen.alive[i][row[0]]):
                self.delete_rows(i, row[0], row[1])
                return

    def add_segment(self, name: str, rows: int, docs: int, files: dict[str, int], ann: dict | None = None) -> None:
        """Include a finished segment in the next commit."""
        self._new.append(SegmentRef(name, rows, docs, files=files, ann=ann))

    def drop_segments(self, names: set[str]) -> None:
        """Leave these segments out of the next commit (after a merge copied their live rows)."""
        self._dropped |= names

    @property
    def pending(self) -> bool:
        """Whether there is anything to commit."""
        return bool(self._dead or self._new or self._dropped or self.repairs)

    def commit(self, **changes) -> Commit:
        """Write delete marks and the next commit file; clean up what no recent commit names."""
        gen = self.base.generation + 1
        dropped = self._dropped
        refs = []
        for i, ref in enumerate(self.base.segments):
            if ref.name in dropped:
                continue
            if i in self._dead:
                ref = self._with_dead(ref, i, gen)
            if ref.live_rows > 0:
                refs.append(ref)
        # Numbered after every commit on disk, damaged ones and those of an older format included (a build that
        # replaces them starts from none): the newest number is always the newest commit.
        number = max(self.base.generation, latest_generation_number(self.root) or 0) + 1
        commit = self.base.next(tuple(refs) + tuple(self._new), number, **changes)
        write_commit(self.root, commit)
        self.base, self._dead, self._new, self._dropped, self.repairs = commit, {}, [], set(), []
        self.generation = Generation(self.root, commit, dense_index=False)
        collect_garbage(self.root)
        return commit

    def _with_dead(self, ref: SegmentRef, i: int, gen: int) -> SegmentRef:
        dead = self._dead[i]
        row_doc = self.generation.segments[i].row_doc
        docs = np.sort(row_doc[dead])  # distinct by hand: np.unique imports numpy.ma (~20 ms of a small update)
        dead_docs = int(np.count_nonzero(docs[1:] != docs[:-1])) + 1 if docs.size else 0
        name = write_dead(self.root, ref, dead, gen)
        return replace(ref, dead=name, dead_rows=int(dead.sum()), dead_docs=dead_docs)


def _segment_named_in(error: Exception, refs: list[SegmentRef]) -> SegmentRef:
    text = str(error)
    for ref in refs:
        if ref.name in text:
            return ref
    raise error


def collect_garbage(root: Path, superseded: Iterable[int] = ()) -> list[str]:
    """Remove commits older than the last KEEP_GENERATIONS, and every segment, delete-mark file or
    temporary folder that none of the kept commits names. Call it holding the writer lock.

    FormatTooNew, before anything is removed, when any commit is in a format newer than this semsearch writes:
    which files such a commit needs is not for this semsearch to judge.

    `superseded`: commits to remove although recent: a build's batch commits once its closing merge has
    committed their rows in one segment. Readers that opened them keep their files open; one that is opening
    one retries on the newest; what is lost is the fallback to a batch commit should the newest be damaged
    (then `semsearch index` rebuilds from the corpus, since a build of three or more commits has already let
    the one before it go). Without this, a fresh build would hold its rows twice on disk until two more commits.
    """
    root = Path(root)
    found = _commits_on_disk(root)
    newest = found[0][0] if found else None
    superseded = {gen for gen in superseded if gen != newest}
    kept, removed = [], []
    for gen, commit in found:
        if commit is not None and gen not in superseded and len(kept) < KEEP_GENERATIONS:
            kept.append(commit)
            continue
        meta_path(root, gen).unlink(missing_ok=True)  # superseded, old, damaged, or of a format no longer read
        removed.append(f"{META}/{gen}")
    live_segments = {s.name for c in kept for s in c.segments}
    live_deletes = {s.dead for c in kept for s in c.segments if s.dead}
    for folder, live in ((root / SEGMENTS, live_segments), (root / DELETES, live_deletes)):
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.name not in live:
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
                removed.append(f"{folder.name}/{entry.name}")
    for tmp in (root / META).glob(".*.tmp-*") if (root / META).is_dir() else ():
        tmp.unlink(missing_ok=True)
    if kept:
        removed.extend(_remove_legacy(root))
    return removed


def _commits_on_disk(root: Path) -> list[tuple[int, Commit | None]]:
    """Every commit file, newest first, with its commit (None when damaged or of a format no longer read);
    FormatTooNew when one is newer than this semsearch reads or writes."""
    found = []
    for gen in generations(root):
        try:
            commit = read_commit(root, gen)
        except FileNotFoundError:
            continue
        except (FormatTooOld, OSError, ValueError, KeyError, TypeError):
            commit = None  # a damaged commit is never the index again; an old one is replaced by its rebuild
        if commit is not None:
            refuse_changes(root, commit)
        found.append((gen, commit))
    return found


def _remove_legacy(root: Path) -> list[str]:
    """Remove a format-3 snapshot index (CURRENT + snapshots/) once a segmented commit exists."""
    gone = []
    for name in ("CURRENT", "snapshots"):
        path = root / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink(missing_ok=True)
        else:
            continue
        gone.append(name)
    for pointer in root.glob(".CURRENT.*"):
        pointer.unlink(missing_ok=True)
    return gone


__all__ = [
    "Generation",
    "IndexDamaged",
    "Writer",
    "collect_garbage",
    "latest_commit",
    "latest_commit_key",
    "latest_generation_number",
    "lock",
    "open_generation",
    "read_dead",
    "writable_commit",
]
