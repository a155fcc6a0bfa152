"""The part of a corpus folder that a build is told changed: files and folders named relative to the corpus.

`semsearch index CORPUS --changed PATH` looks only at what is named: the files, the folders (read
recursively) and names that no longer exist (their documents are deleted). Everything else in the corpus is
taken as unchanged, unwalked and unread, so the update costs what changed, not the size of the archive: the
way a CMS export or a file watcher, which knows what it wrote, keeps an index current.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from semsearch.errors import SemsearchError
from semsearch.reading.base import SourceFile
from semsearch.reading.messages import place, shown_path
from semsearch.reading.sources import source_file, walk


@dataclass(frozen=True)
class Scope:
    """Names relative to the corpus folder `root` (POSIX): files as they are, folders ending in "/"; a name
    that does not exist stands for a file or a folder of that name (either may have been deleted)."""

    root: Path
    files: frozenset[str]
    folders: tuple[str, ...]

    @classmethod
    def of(cls, corpus: str | os.PathLike, paths: list[str | os.PathLike]) -> Scope:
        """The scope of `paths` (as given on the command line, relative to the working folder) in `corpus`.

        Raises SemsearchError when `corpus` is not a folder or a path lies outside it.
        """
        root = Path(corpus)
        if not root.is_dir():
            raise SemsearchError(f"--changed needs a corpus folder, and '{shown_path(root)}' is not one: pass the folder")
        top = os.path.abspath(root)
        files, folders = set(), set()
        for path in paths:
            absolute = os.path.abspath(path)
            rel = os.path.relpath(absolute, top)
            if rel == ".":
                folders.add("")
                continue
            if rel == ".." or rel.startswith(".." + os.sep):
                raise SemsearchError(
                    f"--changed '{shown_path(Path(path))}' is not inside the corpus folder '{shown_path(root)}': "
                    "name files or folders under it"
                )
            name = Path(rel).as_posix()
            if os.path.isdir(absolute):
                folders.add(name + "/")
            elif os.path.lexists(absolute):
                files.add(name)
            else:  # gone: whatever it was, its documents go
                files.add(name)
                folders.add(name + "/")
        return cls(root, frozenset(files), tuple(sorted(folders)))

    def including(self, files: Iterable[str]) -> Scope:
        """This scope with the corpus files `files` (relative names, as `covers` takes them) added."""
        return replace(self, files=self.files | frozenset(files))

    @property
    def whole(self) -> bool:
        """Whether the scope is the whole corpus (the corpus folder itself was named)."""
        return "" in self.folders

    def covers(self, source: str) -> bool:
        """Whether the corpus file `source` (a stored document's relative name) is in the scope."""
        return source in self.files or any(source.startswith(folder) for folder in self.folders)

    def sources(self) -> list[SourceFile]:
        """The supported files in the scope that exist, sorted by name (hidden ones left out, as a walk leaves
        them)."""
        found: dict[str, SourceFile] = {}
        for name in self.files:
            path = self.root / name
            if not any(part.startswith(".") for part in Path(name).parts) and os.path.isfile(path):
                source = source_file(str(path), name, partial(os.stat, path))
                if source is not None:
                    found[name] = source
        for folder in self.folders:
            if os.path.isdir(self.root / folder) and not any(p.startswith(".") for p in Path(folder).parts):
                found.update((s.name, s) for s in walk(self.root / folder, folder))
        return sorted(found.values(), key=lambda s: s.name)

    def where(self, source: str) -> str:
        """The escaped path of the corpus file `source`, for messages."""
        return place(self.root / source)
