"""Migrations: what becomes of an index written in a format this semsearch no longer reads.

Every format older than `commit.OLDEST_READABLE` has one entry in `MIGRATIONS`, in order. An entry either
upgrades the index in place (`upgrade`: a function from the commit body of its format to that of the next,
writing any new files under new names) or is a rebuild (`upgrade` is None): the index is read again from
its corpus by `semsearch index`. A chain of in-place steps ends in one new commit, so an upgrade is atomic
like any other change; readers refuse the old format in one line, writers (index, add, delete, compact)
upgrade it first. The formats and what changed in each are in docs/format.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from semsearch import __version__
from semsearch.index.commit import (
    FORMAT_VERSION,
    OLDEST_READABLE,
    Commit,
    FormatTooOld,
    body_checksum,
    generations,
    read_body,
    write_commit,
)

SNAPSHOT_POINTER = "CURRENT"  # formats 1-3: the name of the live snapshot under snapshots/
SNAPSHOTS = "snapshots"


@dataclass(frozen=True)
class Migration:
    """The way from format `source` to format `target`: in place (`upgrade`) or by a rebuild from the corpus."""

    source: int
    target: int
    change: str  # what the newer format changed, for the one-line messages
    upgrade: Callable[[Path, dict], dict] | None = None  # (index folder, body of `source`) -> body of `target`


_SNAPSHOT_STORE = "a snapshot index (CURRENT and snapshots/), replaced by segments and commits"
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, 4, _SNAPSHOT_STORE),
    Migration(2, 4, _SNAPSHOT_STORE),  # 2: per-sentence terms stored
    Migration(3, 4, _SNAPSHOT_STORE),  # 3: chunk token counts stored
)


def path_from(version: int, migrations: tuple[Migration, ...] | None = None) -> list[Migration]:
    """The migrations that take `version` to a format this semsearch reads, in order ([] for a readable version);
    the last one is a rebuild when any step is. ValueError for a version no entry starts from (damaged or unknown)."""
    found = MIGRATIONS if migrations is None else migrations
    steps, at = [], version
    while at < OLDEST_READABLE:
        step = next((m for m in found if m.source == at), None)
        if step is None or step.target <= at:
            raise ValueError(f"no migration from format {at}")
        steps.append(step)
        if step.upgrade is None:
            return steps
        at = step.target
    return steps


def in_place(version: int) -> bool:
    """Whether an index of `version` is upgraded in place (nothing read again from the corpus)."""
    try:
        steps = path_from(version)
    except ValueError:
        return False
    return bool(steps) and steps[-1].upgrade is not None


def refusal(root: Path, version: int, written_by: str = "", where: str = "") -> str:
    """The one line a reader gives for an index of an older `version`: both versions and what to do."""
    what = f"its commit {where} has format {version}" if where else f"it has format {version}"
    by = f" (written by semsearch {written_by})" if written_by else ""
    try:
        steps = path_from(version)
    except ValueError:
        steps = []
    if steps and steps[-1].upgrade is not None:
        action = f"upgrade it in place with `semsearch compact --index {root}` (nothing is embedded again)"
    else:
        change = f" ({steps[-1].change})" if steps else ""
        action = f"rebuild it with `semsearch index CORPUS --index {root}`{change}"
    reads = f"formats {OLDEST_READABLE}-{FORMAT_VERSION}"
    return f"index '{root}': {what}{by}, which semsearch {__version__} no longer reads ({reads}): {action}"


def snapshot_format(root: Path) -> int | None:
    """The format of a snapshot index (formats 1-3: a CURRENT pointer) at `root`, or None when it is not one.
    An unreadable manifest counts as the last snapshot format."""
    pointer = Path(root) / SNAPSHOT_POINTER
    if not pointer.exists():
        return None
    try:
        name = pointer.read_text(encoding="utf-8").strip()
        manifest = json.loads((Path(root) / SNAPSHOTS / name / "manifest.json").read_text(encoding="utf-8"))
        version = manifest["format_version"]
        return version if type(version) is int and version < OLDEST_READABLE else OLDEST_READABLE - 1
    except (OSError, ValueError, KeyError, TypeError):
        return OLDEST_READABLE - 1


def refuse_snapshot(root: Path) -> None:
    """FormatTooOld when `root` holds a snapshot index and no commit: it is rebuilt by `semsearch index`."""
    version = snapshot_format(root)
    if version is not None:
        raise FormatTooOld(refusal(root, version), version)


def upgrade(root: Path, generation: int, migrations: tuple[Migration, ...] | None = None) -> Commit:
    """Upgrade the commit `generation` (of an older format with in-place steps) to this format: run each step
    on its body, then write the result as the next commit, the one atomic step; the old commit stays for
    readers that hold it. Call it holding the writer lock. FormatTooOld when a step is a rebuild."""
    body = read_body(root, generation)
    version = body["format_version"]
    steps = path_from(version, migrations)
    if not steps or steps[-1].upgrade is None:
        raise FormatTooOld(refusal(root, version, body.get("written_by") or ""), version, generation)
    for step in steps:
        body = step.upgrade(Path(root), body)
        body["format_version"] = step.target
        if isinstance(body.get("settings"), dict) and "format_version" in body["settings"]:
            body["settings"] = {**body["settings"], "format_version": step.target}  # else a build re-embeds all
    newest = max(generations(root), default=generation)
    body.update(generation=newest + 1, min_reader_version=body["format_version"], written_by=__version__)
    body["checksum"] = body_checksum(body)
    commit = Commit.from_json(body)
    write_commit(root, commit)
    return commit
