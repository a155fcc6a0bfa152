"""Keeping an index current with its corpus folder: file events become updates told what changed.

`semsearch watch CORPUS` indexes the folder once (catching up with what changed while nobody watched), then
waits for file events (watchfiles: the operating system's own notifications, inotify on Linux, grouped
until the folder is quiet for a moment) and hands the paths to `build_index(changed=...)`, which walks and
reads only them. So each update costs what changed, not the size of the archive.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from semsearch.errors import SemsearchError
from semsearch.reading import reader_for

DEBOUNCE_MS = 800  # events are grouped until the folder has been quiet this long (a copy of many files: one update)
IDLE_MS = 250  # the watcher hands back an empty set after this long without events (the first time: it is on)


def watch_index(
    corpus: str | os.PathLike,
    index: str | os.PathLike,
    model: str | None = None,
    *,
    on_update: Callable[[object], None] = lambda stats: None,
    on_error: Callable[[str], None] = lambda message: None,
    stop: threading.Event | None = None,
    debounce_ms: int = DEBOUNCE_MS,
    **build_options,
) -> None:
    """Index `corpus` into `index`, then update it whenever files under `corpus` change, until `stop` is set
    (or Ctrl-C). `on_update` gets each build's `IndexStats`; an update that fails, for any reason, is passed
    to `on_error` as one line naming the files, watching goes on, and the next update looks at those files again.
    `build_options`: the keywords of `build_index` (fields, backend, ...).

    Raises SemsearchError when the watch extra is missing or the first build fails.
    """
    try:
        import watchfiles
    except ImportError:
        raise SemsearchError("semsearch watch needs the watch extra: pip install 'semsearch[watch]'") from None
    from semsearch.ingest.builder import build_index

    root = Path(corpus)
    if not root.is_dir():
        raise SemsearchError(f"semsearch watch needs a corpus folder, and '{root}' is not one: pass the folder")
    keep = _filter(root, Path(index))
    events = watchfiles.watch(
        root, watch_filter=lambda _change, path: keep(path), debounce=debounce_ms, stop_event=stop,
        raise_interrupt=False, yield_on_timeout=True, rust_timeout=IDLE_MS,
    )  # fmt: skip
    if next(events, None) is None:  # the OS watcher is on before the first build: a change meanwhile is not missed
        return
    on_update(build_index(root, index, model, **build_options))
    failed: set[str] = set()  # paths of updates that failed: looked at again with the next change
    for changes in events:
        if not changes:  # quiet for IDLE_MS
            continue
        paths = sorted(failed | {path for _, path in changes})
        try:
            stats = build_index(root, index, model, changed=paths, **build_options)
        except Exception as e:  # any failure, a bug included: a daemon that stops saying so is worse than one line
            failed.update(paths)
            on_error(_failure(e, root, paths))
            continue
        failed.clear()
        on_update(stats)


def _failure(error: Exception, root: Path, paths: list[str]) -> str:
    """One line for an update that failed: what failed, the files it was for, and that watching goes on."""
    names = [os.path.relpath(p, root) for p in paths]
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    what = str(error) if isinstance(error, SemsearchError) else f"{type(error).__name__}: {error}"
    return f"update of {shown} failed: {what}; still watching, and the next change retries these files"


def _filter(root: Path, index: Path) -> Callable[[str], bool]:
    """Which event paths an update looks at: not the index folder's own files (it may lie inside the corpus),
    nor hidden files or folders (editors' swap files, temporary copies); a path that is not a supported file
    now counts only when it is a folder or gone (its documents, if any, go)."""
    top, inside = os.path.abspath(root), os.path.abspath(index) + os.sep

    def keep(path: str) -> bool:
        absolute = os.path.abspath(path)
        if absolute.startswith(inside) or absolute + os.sep == inside:
            return False
        rel = os.path.relpath(absolute, top)
        if any(part.startswith(".") for part in Path(rel).parts):
            return False
        return reader_for(os.path.basename(absolute)) is not None or not os.path.isfile(absolute)

    return keep
