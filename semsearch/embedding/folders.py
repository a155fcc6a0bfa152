"""Swapping a freshly written folder into place, for caches that readers open without a lock."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def replace_dir(new: Path, target: Path) -> None:
    """Move `new` to `target`, replacing a previous `target`: the old folder is moved aside first and
    deleted after, so `target` is missing only between two renames, never half-written."""
    if not target.exists():
        os.replace(new, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    os.replace(target, old / target.name)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)
