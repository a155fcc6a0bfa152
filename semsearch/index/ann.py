"""Approximate dense search for large segments (placeholder until measured; see `build_ann`)."""

from __future__ import annotations


def open_ann(segment, info: dict):
    """Open the approximate index a commit records for a segment."""
    raise NotImplementedError
