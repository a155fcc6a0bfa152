"""Walking a folder (or one file) into source files, and source files into documents."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Protocol

from semsearch.errors import SemsearchError
from semsearch.reading.base import DEFAULT_MAX_FILE_SIZE, DEFAULT_MAX_LINE_CHARS, ReadOptions, SourceFile
from semsearch.reading.document import Document
from semsearch.reading.fields import FieldMap
from semsearch.reading.messages import DuplicateId, ReadStopped, place, shown, shown_path, warn
from semsearch.reading.registry import reader_for, supported_suffixes


def _good_name(path: str | Path, name: str) -> bool:
    """False (with a warning) when a file or folder name is not valid UTF-8."""
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:
        warn(place(path), "its name is not valid UTF-8, so it is skipped: rename it")
        return False


def source_file(path: str, name: str, status: Callable[[], os.stat_result]) -> SourceFile | None:
    """A SourceFile for a supported regular file (links followed), or None; `status()` gives its status (a
    scandir entry's own `stat` saves building the path again)."""
    if reader_for(name) is None or not (name.isascii() or _good_name(path, name)):
        return None
    try:
        info = status()
    except OSError as e:
        warn(place(path), f"cannot be read ({e.strerror or e}), so it is skipped: check the file or link")
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return SourceFile(path, name, info.st_size, info.st_mtime_ns)


def walk(root: Path, rel: str = "") -> Iterator[SourceFile]:
    """Supported files below `root`, which the corpus names `rel` ("" for the corpus folder itself, else a name
    ending in "/"); hidden files and folders (".name") are left out, and so are links to folders (as os.walk
    leaves them); links to files are followed."""
    # One scandir per folder and strings, not Paths: a folder build walks every file, and at 20k files the walk
    # costs ~70 ms, ~45 of them the stat calls themselves.
    folders = [(str(root), rel)]
    while folders:
        folder, rel = folders.pop()
        try:
            with os.scandir(folder) as entries:
                listed = [e for e in entries if e.name[0] != "."]
        except OSError:
            continue  # an unreadable folder is left out, as os.walk leaves it
        for entry in listed:
            name = entry.name
            if entry.is_dir(follow_symlinks=False):
                if _good_name(entry.path, name):
                    folders.append((entry.path, f"{rel}{name}/"))
            elif (source := source_file(entry.path, rel + name, entry.stat)) is not None:
                yield source


def list_sources(path: str | os.PathLike) -> list[SourceFile]:
    """Every supported file under the folder `path` (recursive, sorted by relative name), or `path` itself.

    Raises SemsearchError when `path` does not exist, is an unsupported file, or holds no supported file.
    """
    root = Path(path)
    if not root.exists():
        kinds = supported_suffixes()
        raise SemsearchError(f"'{shown_path(root)}' does not exist: pass a folder of documents or one file ({kinds})")
    if root.is_dir():
        sources = sorted(walk(root), key=lambda s: s.name)
        if not sources:
            raise SemsearchError(f"folder '{shown_path(root)}' holds no file to read: add files named {supported_suffixes()}")
        return sources
    source = source_file(str(root), root.name, partial(os.stat, root))
    if source is None:
        raise SemsearchError(f"cannot read '{shown_path(root)}': give a folder or a file named {supported_suffixes()}")
    return [source]


def checked(doc: Document, options: ReadOptions) -> bool:
    """False (with a warning) for a document with no text to index; warns about over-long lines."""
    if not doc.has_text:
        problem = "holds no text to index (only a title or headings), so it is not counted: add text"
        warn(doc.source, f"'{shown(doc.doc_id)}' {problem}")
        return False
    lengths = [end - start for _, start, end in doc.blocks]
    if (most := max(lengths)) > options.max_line_chars:
        longest = doc.blocks[lengths.index(most)]
        line = doc.text.count("\n", 0, longest.start) + 1
        warn(
            doc.source,
            f"'{shown(doc.doc_id)}' has a line of {most} characters (line {line} of its text, over "
            f"{options.max_line_chars}): it is indexed, but slowly; break it into paragraphs",
        )
    return True


def read_source(source: SourceFile, options: ReadOptions | None = None) -> Iterator[Document]:
    """The documents of one file with text to index; every problem is one `ReadWarning`, never an exception."""
    options = options or ReadOptions()
    reader = reader_for(source.name)
    if reader is None:
        return
    try:
        for doc in reader.read(source, options):
            if checked(doc, options):
                yield doc
    except (OSError, MemoryError) as e:
        stopped(source, e)


def stopped(source: SourceFile, error: BaseException) -> None:
    """Warn that reading `source` stopped part way (what came before was read)."""
    warn(source.where, f"stopped reading ({type(error).__name__}: {error}): check the file", ReadStopped)


class Seen(Protocol):
    """Where each document id was met first: a dict, or a view that also knows ids stored from unread files."""

    def get(self, doc_id: str) -> str | None: ...

    def __setitem__(self, doc_id: str, where: str) -> None: ...


def dedupe(docs: Iterator[Document], seen: Seen) -> Iterator[Document]:
    """Documents whose id is not yet in `seen` (id -> source); a repeated id is warned about, naming both
    places, and skipped (the first one read wins). `seen` is updated."""
    for doc in docs:
        first = seen.get(doc.doc_id)
        if first is not None:
            problem = f"first read at '{first}', so this one is skipped: give each document its own id"
            warn(doc.source, f"duplicate id '{shown(doc.doc_id)}', {problem}", DuplicateId)
            continue
        seen[doc.doc_id] = doc.source
        yield doc


def iter_documents(
    path: str | os.PathLike,
    fields: FieldMap | None = None,
    *,
    max_file_size: int | None = DEFAULT_MAX_FILE_SIZE,
    max_line_chars: int = DEFAULT_MAX_LINE_CHARS,
) -> Iterator[Document]:
    """Every document under `path` (a folder, read recursively in sorted order, or one file).

    Bad files, lines and records are each one `ReadWarning` naming the file and line; the rest is read.
    Raises SemsearchError only when `path` itself cannot be read (see `list_sources`).
    """
    options = ReadOptions(fields or FieldMap(), max_file_size, max_line_chars)
    seen: dict[str, str] = {}
    for source in list_sources(path):
        yield from dedupe(read_source(source, options), seen)
