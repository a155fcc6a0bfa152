"""One-line messages about input, naming the file and the line or record, safe to print whatever the names hold.

Readers report each problem through `warn`. While a `Diagnostics` collector is current (`collecting`: a build
reading a file) the problem goes to it as a `Diagnostic`; else it is a Python `ReadWarning`, so the reading
functions used on their own warn as before. The collector is held in a context variable, so each thread (and
each build) has its own: the process-wide warnings filters are never touched.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NamedTuple


class ReadWarning(UserWarning):
    """A file, record or line was skipped or read with a change; the message says which and what to do."""


class DuplicateId(ReadWarning):
    """A document's id was read before, in this file or another: this one is skipped (the first one read wins)."""


class ReadStopped(ReadWarning):
    """Reading a file stopped part way (an I/O error): what came before was read, the rest of the file was not."""


class Diagnostic(NamedTuple):
    """One problem with the input: its one-line message and its kind (`ReadWarning` or a subclass; a build's
    own notes, which are no reading problem, are plain `UserWarning`s)."""

    message: str
    category: type[UserWarning] = ReadWarning

    @property
    def reading(self) -> bool:
        """Whether it is a problem of reading the input (counted as skipped by a build)."""
        return issubclass(self.category, ReadWarning)


class Diagnostics:
    """The diagnostics reported while this collector is current (`collecting`), in order; each is also passed to
    `sink` as it comes, so a command line shows it at once. Safe to report to from several threads."""

    def __init__(self, sink: Callable[[Diagnostic], None] | None = None):
        self.found: list[Diagnostic] = []
        self._sink = sink
        self._lock = threading.Lock()

    def report(self, diagnostic: Diagnostic) -> None:
        """Collect one diagnostic and pass it on."""
        with self._lock:
            self.found.append(diagnostic)
        if self._sink is not None:
            self._sink(diagnostic)

    @property
    def messages(self) -> list[str]:
        """The messages of the reading problems found."""
        return [d.message for d in self.found if d.reading]

    def any(self, category: type[ReadWarning]) -> bool:
        """Whether a diagnostic of this kind was found."""
        return any(issubclass(d.category, category) for d in self.found)


_current: ContextVar[Diagnostics | None] = ContextVar("semsearch_diagnostics", default=None)


@contextmanager
def collecting(diagnostics: Diagnostics) -> Iterator[Diagnostics]:
    """Make `diagnostics` receive what `warn` reports in this thread (and context) until the block ends."""
    token = _current.set(diagnostics)
    try:
        yield diagnostics
    finally:
        _current.reset(token)


def shown(text: str, limit: int = 80) -> str:
    """`text` on one line: control characters, surrogates and other unprintables escaped, long text cut."""
    out = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return out if len(out) <= limit else out[: limit - 1] + "…"


def shown_path(path: str | os.PathLike) -> str:
    """A path as the user can type it back: undecodable bytes as \\xNN escapes, control characters escaped."""
    raw = os.fsencode(path).decode("utf-8", "backslashreplace")
    return shown(raw, limit=400)


def place(path: str | os.PathLike, line: int | None = None) -> str:
    """Where something was read, for messages: the escaped path, plus `:N` for a line or record."""
    return shown_path(path) + (f":{line}" if line is not None else "")


def diagnostic(where: str, problem: str, category: type[ReadWarning] = ReadWarning) -> Diagnostic:
    """The diagnostic "'<where>': <problem>" (`where` from `place`), on one line."""
    return Diagnostic(f"'{shown(where, limit=400)}': {shown(problem, limit=600)}", category)


def warn(where: str, problem: str, category: type[ReadWarning] = ReadWarning) -> None:
    """Report one problem (see `diagnostic`) to the current collector, or warn it as a `ReadWarning` (or `category`)."""
    found = diagnostic(where, problem, category)
    collector = _current.get()
    if collector is not None:
        collector.report(found)
    else:
        warnings.warn(found.message, category, stacklevel=3)


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def as_warning(found: Diagnostic) -> None:
    """The library's edge: a diagnostic as a Python warning of its category, attributed to the caller's line
    outside semsearch, and never folded into an earlier identical one (each build says what it found)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
    filename, lineno = (frame.f_code.co_filename, frame.f_lineno) if frame is not None else ("semsearch", 0)
    warnings.warn_explicit(found.message, found.category, filename, lineno)
