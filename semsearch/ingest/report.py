"""What a build did: the tally it keeps while it runs (`Report`), the `IndexStats` it returns, and the events it
emits on the way (`FilesPlanned`, `FileRead`, `BatchEmbedded`, `Committed`) to a build's `on_event` callback.

The events are typed named tuples: immutable, and cheap to define in the fresh process of a one-file update."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from semsearch.index.commit import Commit
from semsearch.ingest.file_states import FileState
from semsearch.reading.messages import Diagnostic


@dataclass(frozen=True)
class IndexStats:
    """What a build did: counts, which documents changed, and what was skipped."""

    index: str
    model: str
    variant: str
    documents: int
    chunks: int
    embedded_chunks: int
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    segments: int = 0
    merged: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def unchanged(self) -> bool:
        """True when the build found nothing to do."""
        return not (self.added or self.changed or self.removed or self.repaired)


class FilesPlanned(NamedTuple):
    """A folder build compared the corpus with the index: how many files it looks at and will read."""

    files: int  # corpus files compared (all of them, or those a build told what changed names)
    to_read: int  # changed or new files, read now
    remembered: int  # files skipped whole before and unchanged since: their messages repeated, unread
    bulk: bool  # much to embed: the bulk encoder loads at once
    whole: bool  # every document is re-embedded (a new index, or new settings or model)


class FileRead(NamedTuple):
    """A corpus file was read."""

    source: str  # its name relative to the corpus
    state: FileState
    queued: int  # new or changed documents handed to the pipeline
    equal: int  # documents found as stored
    problems: int  # reading problems (each also a diagnostic)


class BatchEmbedded(NamedTuple):
    """A batch was chunked and embedded; it is written as one segment next."""

    documents: int
    chunks: int
    seconds: float  # the model's time on it


class Committed(NamedTuple):
    """A commit was made: a batch's segment with the pending delete marks, or the last marks alone."""

    generation: int
    documents: int
    chunks: int
    segments: int


BuildEvent = FilesPlanned | FileRead | BatchEmbedded | Committed
EventSink = Callable[[BuildEvent], None]


def _timings() -> dict[str, float]:
    return {"read_and_chunk": 0.0, "embed": 0.0, "write": 0.0}


@dataclass
class Report:
    """The tally of one build: documents added, changed, removed and skipped, chunks embedded, merges, time.

    Every problem with the input goes through `problem`: counted in `skipped` (a reading problem) and passed to
    `sink`, the caller's edge (a Python warning, or a line on the command line)."""

    sink: Callable[[Diagnostic], None]
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    embedded: int = 0
    merged: int = 0
    timings: dict[str, float] = field(default_factory=_timings)

    def problem(self, found: Diagnostic) -> None:
        """Count one problem with the input and pass it on."""
        if found.reading:
            self.skipped.append(found.message)
        self.sink(found)

    def stats(self, root: Path, commit: Commit, seconds: float) -> IndexStats:
        """The `IndexStats` of the build, which left `commit` the newest."""
        model = commit.model
        return IndexStats(
            str(root), model.get("name", ""), model.get("variant", ""), commit.documents, commit.chunks, self.embedded,
            self.added, self.changed, self.removed, self.skipped, self.repaired, len(commit.segments), self.merged,
            seconds, self.timings,
        )  # fmt: skip
