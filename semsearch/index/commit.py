"""Commit points: `meta/<generation>.json` names the live segments, their delete marks and the format.

The layout and every field are specified in docs/format.md. A commit is written to a temporary name,
fsynced and renamed: a crash leaves the previous commit or the new one, never a mix.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from semsearch import __version__
from semsearch.errors import SemsearchError
from semsearch.index.files import fsync_dir, write_atomic

FORMAT_VERSION = 5  # the format this semsearch writes; it reads commits whose min_reader_version is at most this
MIN_READER_VERSION = 4  # the oldest format reader that can read what this semsearch writes
OLDEST_READABLE = 4  # older formats are upgraded or rebuilt as `migrations.MIGRATIONS` says
META = "meta"
UPGRADE = "upgrade semsearch (pip install -U semsearch)"


class FormatError(SemsearchError):
    """An index in a format this semsearch must not read or change: nothing of it is changed or deleted."""

    def __init__(self, message: str, version: int, generation: int | None = None):
        super().__init__(message)
        self.version, self.generation = version, generation


class FormatTooNew(FormatError):
    """The index was written by a newer semsearch than this one can read (or, for a writer, change)."""


class FormatTooOld(FormatError):
    """The index is in a format this semsearch no longer reads: `migrations` upgrades it or asks for a rebuild."""


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
    """One generation of the index: settings, live segments, counts, and the format it is written in."""

    generation: int
    settings: dict
    segments: tuple[SegmentRef, ...]
    created: str = ""
    model: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    skipped: dict = field(default_factory=dict)  # corpus files read and skipped whole (see changes.SkippedFiles)
    min_reader_version: int = MIN_READER_VERSION
    written_by: str = __version__  # the semsearch that wrote it ("" in commits written before it was recorded)

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
        body["checksum"] = body_checksum(body)
        return body

    @classmethod
    def from_json(cls, body: dict) -> Commit:
        """Parse and verify a commit body; ValueError when it is damaged or in a format this semsearch cannot read.

        Fields this semsearch does not know (written by a newer one that older readers may read) are ignored."""
        if not isinstance(body, dict) or body.get("checksum") != body_checksum(body):
            raise ValueError("checksum mismatch")
        version, reader = versions_of(body)
        if version < OLDEST_READABLE or reader > FORMAT_VERSION:
            raise ValueError(f"format {version} (readers from {reader}), this semsearch reads {OLDEST_READABLE}-{FORMAT_VERSION}")
        segments = tuple(SegmentRef(**_known(SegmentRef, s)) for s in body["segments"])
        for ref in segments:
            if not all(isinstance(f, dict) and isinstance(f.get("size"), int) for f in ref.files.values()):
                raise ValueError(f"segment {ref.name} lists its files in an unknown form")
        parsed = _known(cls, body)
        parsed["segments"] = segments
        parsed.setdefault("skipped", {})  # absent from commits written before files were remembered
        parsed.setdefault("min_reader_version", version)  # absent from commits written before it was recorded
        parsed.setdefault("written_by", "")
        return cls(**parsed)

    def next(self, segments: tuple[SegmentRef, ...], generation: int | None = None, **changes) -> Commit:
        """The following generation (or number `generation`) with these segments, written by this semsearch."""
        number = self.generation + 1 if generation is None else generation
        mine = {"format_version": FORMAT_VERSION, "min_reader_version": MIN_READER_VERSION, "written_by": __version__}
        return replace(self, generation=number, segments=segments, created=_now(), **{**mine, **changes})


def _known(cls, body: dict) -> dict:
    """The entries of `body` that are fields of dataclass `cls` (a missing required one fails in `cls(**...)`)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in body.items() if k in names}


def versions_of(body: dict) -> tuple[int, int]:
    """(format_version, min_reader_version) as a commit body states them; ValueError when it states none.
    A commit written before min_reader_version was recorded needs a reader of its own format."""
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    version = body.get("format_version")
    reader = body.get("min_reader_version", version)
    if type(version) is not int or type(reader) is not int:
        raise ValueError("no format version")
    return version, reader


def check_format(root: Path, generation: int, body: dict) -> None:
    """Refuse a commit body this semsearch cannot read: FormatTooNew when it needs a newer reader, FormatTooOld
    when its format is older than `OLDEST_READABLE` (the message says how to upgrade or rebuild it). Checked
    before the checksum, so a commit of a newer format is never taken for a damaged one."""
    try:
        version, reader = versions_of(body)
    except ValueError:
        return  # damaged: the checksum says so
    name = meta_path(root, generation).name
    if reader > FORMAT_VERSION:
        by = body.get("written_by") or "unknown"
        raise FormatTooNew(
            f"index '{root}' needs a newer semsearch: its commit {name} has format {version} (written by semsearch {by}) "
            f"and needs a reader of format {reader} or later, but semsearch {__version__} reads formats "
            f"{OLDEST_READABLE}-{FORMAT_VERSION}: {UPGRADE}",
            version,
            generation,
        )
    if version < OLDEST_READABLE:
        from semsearch.index.migrations import refusal

        raise FormatTooOld(refusal(root, version, body.get("written_by") or "", name), version, generation)


def refuse_changes(root: Path, commit: Commit) -> None:
    """FormatTooNew when `commit` is in a newer format than this semsearch writes: it may read it, but a change
    (or a clean-up) could drop what that format added."""
    if commit.format_version > FORMAT_VERSION:
        raise FormatTooNew(
            f"index '{root}' has format {commit.format_version} (written by semsearch {commit.written_by or 'unknown'}), "
            f"newer than semsearch {__version__} writes ({FORMAT_VERSION}): it can be searched but not changed; {UPGRADE}",
            commit.format_version,
            commit.generation,
        )


def body_checksum(body: dict) -> str:
    """SHA-256 of the body less its checksum, as sorted, non-ASCII-escaped JSON."""
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


def read_body(root: Path, generation: int) -> dict:
    """The JSON body of one generation's file, unverified; ValueError/OSError when unreadable."""
    return json.loads(meta_path(root, generation).read_bytes().decode("utf-8"))


def read_commit(root: Path, generation: int) -> Commit:
    """Read and verify one generation: FormatError when this semsearch cannot read its format (see
    `check_format`), ValueError/OSError/KeyError/TypeError when damaged or missing."""
    body = read_body(root, generation)
    check_format(root, generation, body)
    return Commit.from_json(body)


def latest_commit(root: Path) -> tuple[Commit | None, list[str]]:
    """The newest valid commit, and a line for each newer one that is damaged (skipped).

    FormatError at the first commit, newest first past damaged ones, whose format this semsearch cannot read: an
    older commit is never taken instead, since what a newer semsearch wrote is not damage."""
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
    """Generation 0: no segments yet (never written; the first update writes the generation after any on disk)."""
    return Commit(0, settings, (), _now(), model)
