"""One-line warnings about input, naming the file and the line or record, safe to print whatever the names hold."""

from __future__ import annotations

import os
import warnings


class ReadWarning(UserWarning):
    """A file, record or line was skipped or read with a change; the message says which and what to do."""


class DuplicateId(ReadWarning):
    """A document's id was read before, in this file or another: this one is skipped (the first one read wins)."""


class ReadStopped(ReadWarning):
    """Reading a file stopped part way (an I/O error): what came before was read, the rest of the file was not."""


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


def warn(where: str, problem: str, category: type[ReadWarning] = ReadWarning) -> None:
    """Emit one `ReadWarning` (or `category`): "'<where>': <problem>" (`where` from `place`), on one line."""
    warnings.warn(f"'{shown(where, limit=400)}': {shown(problem, limit=600)}", category, stacklevel=3)
