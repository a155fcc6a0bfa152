"""Running the merge policy against a writer: merge what the policy picks, one commit per merge."""

from __future__ import annotations

from collections.abc import Callable

from semsearch.index.merge import MergePolicy
from semsearch.index.segment_merge import merge_segments
from semsearch.index.store import Writer


def maybe_merge(
    writer: Writer, policy: MergePolicy | None = None, force: bool = False, log: Callable[[str], None] | None = None
) -> int:
    """Merge the groups of segments the policy picks (all of them into one when `force`); returns how many merges ran.

    Each merge is committed on its own: a crash during a merge leaves the state before it.
    """
    policy = policy or MergePolicy()
    merges = 0
    while True:
        groups = policy.plan(writer.base.segments, force=force and merges == 0)
        if not groups:
            return merges
        for names in groups:
            _merge_one(writer, names, log)
            merges += 1
        if force:
            return merges


def merge_closing(writer: Writer, before: set[str], log: Callable[[str], None] | None = None) -> bool:
    """A build's closing merge: the segments written since the build started from `before` (the names of its base's
    segments) are merged into one and committed; False when there were fewer than two."""
    groups = MergePolicy().plan_closing(writer.base.segments, before)
    for names in groups:
        _merge_one(writer, names, log)
    return bool(groups)


def _merge_one(writer: Writer, names: list[str], log: Callable[[str], None] | None) -> None:
    gen = writer.generation
    picked = [i for i, ref in enumerate(writer.base.segments) if ref.name in set(names)]
    rows = sum(writer.base.segments[i].live_rows for i in picked)
    if log:
        log(f"merging {len(picked)} segments ({rows} live chunks)")
    segments = [gen.segments[i] for i in picked]
    name, rows, docs, files, ann = merge_segments(writer.root, segments, [gen.alive[i] for i in picked])
    writer.drop_segments(set(names))
    if rows:
        writer.add_segment(name, rows, docs, files, ann)
    writer.commit()
