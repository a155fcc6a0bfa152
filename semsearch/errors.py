"""The one exception type for mistakes a user can fix."""

from __future__ import annotations


def one_line(text: str) -> str:
    """`text` with line breaks, control characters and lone surrogates escaped (\\n, \\x1e, \\udcff): one printable line."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


class SemsearchError(Exception):
    """A problem with the user's input or environment, with a message saying what to do.

    The message is always one line: whatever it quotes from the input (a query, a date, a file name) has its
    line breaks and control characters escaped. The CLI prints it and exits non-zero, without a traceback.
    """

    def __str__(self) -> str:
        return one_line(super().__str__())
