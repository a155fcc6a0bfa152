"""Delete marks: a packed bitmap of a segment's dead rows, one small file per (segment, generation)
(`deletes/<segment>.<generation>.npy`, see docs/format.md).

A segment is never edited; deleting rows writes a new bitmap (old marks included) that the next
commit names. Dead rows disappear from disk when their segment is merged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from semsearch.index.commit import SegmentRef
from semsearch.index.files import load_array, save_array

DELETES = "deletes"


class DeletesDamaged(Exception):
    """A delete-mark file is missing or unreadable; the message names it."""


def read_dead(root: Path, ref: SegmentRef) -> np.ndarray | None:
    """The dead-row mask of a segment in a commit (None when none of its rows is dead)."""
    if ref.dead is None:
        return None
    path = Path(root) / DELETES / ref.dead
    try:
        packed = load_array(path, mmap=False)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as e:
        raise DeletesDamaged(f"delete marks {ref.dead} of segment {ref.name} are damaged ({e})") from e
    dead = np.unpackbits(packed, count=ref.rows).astype(bool)
    if len(dead) != ref.rows or int(dead.sum()) != ref.dead_rows:
        raise DeletesDamaged(f"delete marks {ref.dead} of segment {ref.name} do not match the commit")
    return dead


def write_dead(root: Path, ref: SegmentRef, dead: np.ndarray, generation: int) -> str:
    """Write a segment's full dead-row mask for `generation`; returns the file name for the commit."""
    folder = Path(root) / DELETES
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{ref.name}.{generation}.npy"
    save_array(folder / name, np.packbits(dead.astype(bool)))
    return name
