"""Commit points: `meta/<generation>.json` names the live segments and their delete marks.

A commit is one small JSON file, written to a temporary name, fsynced and renamed; the highest valid
generation is the index. Everything it names was fsynced before it was written, so a crash leaves the
previous commit (and orphans that garbage collection removes) or the new one, never a mix.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from semsearch.index.files import fsync_dir, write_atomic

FORMAT_VERSION = 4
META = "meta"


@dataclass(frozen=True)
class SegmentRef:
    """One live segment in a commit: its folder name, row count, and its current delete marks."""

    name: str
    rows: int
    docs: int
    dead: str | None = None  # file under deletes/ (a packed bitmap of dead rows), or None
    dead_rows: int = 0
    dead_docs: int = 0
    files: dict[str, dict] = field(default_factory=dict)  # file name -> {"size": bytes, "blake2b": checksum}
    ann: dict | None = None  # approximate dense index of this segment, with its measured recall

    @property
    def live_rows(self) -> int:
        """Rows not deleted."""
        return self.rows - self.dead_rows

    @property
    def live_docs(self) -> int:
        """Documents not deleted."""
        return self.docs - self.dead_docs


@dataclass(frozen=True)
class Commit:
    """One generation of the index: settings, live segments, counts."""

    generation: int
    settings: dict
    segments: tuple[SegmentRef, ...]
    created: str = ""
    model: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    skipped: dict = field(default_factory=dict)  # corpus files read and skipped whole (see changes.SkippedFiles)

    @property
    def chunks(self) -> int:
        """Live chunks."""
        return sum(s.live_rows for s in self.segments)

    @property
    def documents(self) -> int:
        """Live documents."""
        return sum(s.live_docs for s in self.segments)

    def to_json(self) -> dict:
        """The JSON body, with a checksum over everything else."""
        body = asdict(self)
        body["counts"] = {"documents": self.documents, "chunks": self.chunks}
        body["checksum"] = _checksum(body)
        return body

    @classmethod
    def from_json(cls, body: dict) -> Commit:
        """Parse and verify a commit body; ValueError when it is damaged or from another format."""
        if not isinstance(body, dict) or body.get("checksum") != _checksum(body):
            raise ValueError("checksum mismatch")
        if body.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"format {body.get('format_version')}, this semsearch reads {FORMAT_VERSION}")
        segments = tuple(SegmentRef(**s) for s in body["segments"])
        for ref in segments:
            if not all(isinstance(f, dict) and isinstance(f.get("size"), int) for f in ref.files.values()):
                raise ValueError(f"segment {ref.name} lists its files in an unknown form")
        skipped = body.get("skipped") or {}  # absent from commits written before files were remembered
        fields = (body["generation"], body["settings"], segments, body["created"], body["model"], body["format_version"])
        return cls(*fields, skipped)

    def next(self, segments: tuple[SegmentRef, ...], **changes) -> Commit:
        """The following generation with these segments."""
        return replace(self, generation=self.generation + 1, segments=segments, created=_now(), **changes)


def _checksum(body: dict) -> str:
    rest = {k: v for k, v in body.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def meta_path(root: Path, generation: int) -> Path:
    """The file of one generation."""
    return Path(root) / META / f"{generation:010d}.json"


def commit_key(root: Path, generation: int) -> tuple[int, int, int, int] | None:
    """What tells this commit from another of the same number: (generation, inode, mtime_ns, size) of its file,
    or None when it is gone. An index rebuilt in place (or a folder swapped in) starts again at generation 1,
    so the number alone would let a reader keep answering from the index it replaced."""
    try:
        info = os.stat(meta_path(root, generation))
    except OSError:
        return None
    return generation, info.st_ino, info.st_mtime_ns, info.st_size


def generations(root: Path) -> list[int]:
    """Generations present on disk, newest first (valid or not)."""
    folder = Path(root) / META
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        if p.suffix == ".json" and p.stem.isdigit():
            found.append(int(p.stem))
    return sorted(found, reverse=True)


def read_commit(root: Path, generation: int) -> Commit:
    """Read and verify one generation; ValueError/OSError when damaged or missing."""
    raw = meta_path(root, generation).read_bytes()
    return Commit.from_json(json.loads(raw.decode("utf-8")))


def latest_commit(root: Path) -> tuple[Commit | None, list[str]]:
    """The newest valid commit, and a line for each newer one that is damaged (skipped)."""
    problems = []
    for gen in generations(root):
        try:
            return read_commit(root, gen), problems
        except FileNotFoundError:
            continue  # removed by a writer's clean-up between listing and reading
        except (OSError, ValueError, KeyError, TypeError) as e:
            problems.append(f"commit {meta_path(root, gen).name} is damaged ({e})")
    return None, problems


def write_commit(root: Path, commit: Commit) -> Path:
    """Make `commit` the index: write its file atomically (the last step of every update)."""
    folder = Path(root) / META
    folder.mkdir(parents=True, exist_ok=True)
    path = meta_path(root, commit.generation)
    write_atomic(path, json.dumps(commit.to_json(), ensure_ascii=False, indent=1).encode("utf-8"))
    fsync_dir(folder)
    return path


def new_commit(settings: dict, model: dict) -> Commit:
    """Generation 0: no segments yet (never written; the first update writes generation 1)."""
    return Commit(0, settings, (), _now(), model)
