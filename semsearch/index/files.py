"""Durable file writes: fsync what a commit names before the commit names it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def fsync_file(path: Path) -> None:
    """Flush one file's data to disk."""
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (new names, renames) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder, fsynced, then renamed."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def save_array(path: Path, array: np.ndarray) -> None:
    """Save a numpy array as .npy (no pickles) and fsync it."""
    with open(path, "wb") as fh:
        np.save(fh, np.ascontiguousarray(array), allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())


def load_array(path: Path, rows: int | None = None, mmap: bool = True) -> np.ndarray:
    """Load an .npy array (memory-mapped by default), checking its length when `rows` is given.

    Raises ValueError for a damaged file, so callers can name the part that is broken.
    """
    array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    if rows is not None and array.shape[0] != rows:
        raise ValueError(f"{path.name} holds {array.shape[0]} rows, expected {rows}")
    return array
