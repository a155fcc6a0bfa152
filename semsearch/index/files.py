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
    if mmap:  # a plain array over the same map: np.memmap's indexing costs ~10 µs a call in Python
        array = array.view(np.ndarray)
    if rows is not None and array.shape[0] != rows:
        raise ValueError(f"{path.name} holds {array.shape[0]} rows, expected {rows}")
    return array


class RowFile:
    """The rows of a 2-D .npy file, read with `pread` (nothing is mapped, so reading does not grow the RSS).

    Merges and index builds read whole vector files through this: a memory map would keep every page it
    touched resident in the process (1.5 GB per million 384-dim rows), while the page cache is shared and
    the kernel drops it under pressure.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        with open(self.path, "rb") as fh:
            try:
                version = np.lib.format.read_magic(fh)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, fortran, dtype = read(fh)
            except ValueError as e:
                raise ValueError(f"{self.path.name} is not a .npy file ({e})") from e
            self.offset = fh.tell()
        if len(shape) != 2 or fortran:
            raise ValueError(f"{self.path.name} holds shape {shape}, expected rows x columns")
        self.shape, self.dtype = shape, np.dtype(dtype)
        self.width = shape[1] * self.dtype.itemsize
        self.fd = os.open(self.path, os.O_RDONLY)

    def __len__(self) -> int:
        return self.shape[0]

    def read(self, start: int, count: int) -> np.ndarray:
        """Rows start .. start + count (a read-only array)."""
        count = max(0, min(count, self.shape[0] - start))
        data = os.pread(self.fd, count * self.width, self.offset + start * self.width)
        if len(data) != count * self.width:
            raise ValueError(f"{self.path.name} is truncated: rows {start}..{start + count} are missing")
        return np.frombuffer(data, self.dtype).reshape(count, self.shape[1])

    def blocks(self, size: int = 32768):
        """(first row, rows) of consecutive blocks of `size` rows, in order."""
        for start in range(0, self.shape[0], size):
            yield start, self.read(start, size)

    def take(self, rows: np.ndarray, size: int = 32768) -> np.ndarray:
        """The given rows (ascending), gathered block by block."""
        out = np.empty((len(rows), self.shape[1]), self.dtype)
        at = 0
        for start, block in self.blocks(size):
            stop = np.searchsorted(rows, start + len(block), side="left")
            out[at:stop] = block[rows[at:stop] - start]
            at = stop
        return out

    def close(self) -> None:
        """Close the file."""
        os.close(self.fd)

    def __enter__(self) -> RowFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class RowWriter:
    """Appends rows to a 2-D .npy file whose row count is announced up front (streamed, never mapped)."""

    def __init__(self, path: Path, rows: int, columns: int, dtype=np.float32):
        self.path, self.rows, self.columns, self.dtype = Path(path), rows, columns, np.dtype(dtype)
        self.written = 0
        self.fh = open(self.path, "wb")
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (rows, columns)}
        np.lib.format.write_array_header_1_0(self.fh, header)

    def write(self, block: np.ndarray) -> None:
        """Append rows (their width must be the file's)."""
        block = np.ascontiguousarray(block, dtype=self.dtype)
        if block.ndim != 2 or block.shape[1] != self.columns:
            raise ValueError(f"rows of shape {block.shape} do not fit a file of {self.columns} columns")
        if self.written + len(block) > self.rows:
            raise ValueError(f"{self.path.name}: more than the {self.rows} announced rows")
        self.fh.write(block.data)
        self.written += len(block)

    def close(self) -> None:
        """Flush and fsync; raises when fewer rows than announced were written."""
        if self.fh.closed:
            return
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        if self.written != self.rows:
            raise ValueError(f"{self.path.name} holds {self.written} rows, {self.rows} were announced")

    def abort(self) -> None:
        """Close without checks (the caller throws the file away)."""
        self.fh.close()


class MappedRows:
    """A read-only memory map of a 2-D .npy file whose resident pages can be given back (`release`).

    For scans that must gather scattered rows (tuning an approximate index): releasing every so often
    keeps the process's RSS bounded by what was touched since.
    """

    def __init__(self, path: Path):
        import mmap

        with RowFile(path) as rows:
            self.shape, self.dtype, offset = rows.shape, rows.dtype, rows.offset
        with open(path, "rb") as fh:
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        self.array = np.frombuffer(self._map, self.dtype, self.shape[0] * self.shape[1], offset).reshape(self.shape)

    def release(self) -> None:
        """Drop the pages touched so far from this process (they stay in the page cache)."""
        import mmap

        if hasattr(self._map, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
            self._map.madvise(mmap.MADV_DONTNEED)

    def close(self) -> None:
        """Unmap (the array must not be used after)."""
        del self.array
        try:
            self._map.close()
        except BufferError:  # a view of the rows is still alive: the map closes when it goes
            pass
