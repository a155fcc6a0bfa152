"""The one exception type for mistakes a user can fix."""

from __future__ import annotations


class SemsearchError(Exception):
    """A problem with the user's input or environment, with a message saying what to do.

    The CLI prints the message on one line and exits non-zero, without a traceback.
    """
