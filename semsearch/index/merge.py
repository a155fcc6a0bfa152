"""When segments merge: a log-structured policy that keeps the segment count logarithmic in the archive.
(The merge itself, which copies live rows without re-embedding anything, is `segment_merge`.)

Policy (after Tantivy's LogMergePolicy): a segment's level is 0 below `floor_rows` live rows, else
1 + log_factor(live / floor_rows). When a level holds `factor` segments, they merge into one, so each
row is rewritten about once per level. A segment with more than `max_dead_share` of its rows deleted is
rewritten alone, so deletes do not pile up.

A build's closing merge (`plan_closing`): the segments one build wrote (its batches, and what the policy
merged them into) become one, as a bulk load ends with a merge in Lucene's practice. A query pays per
segment searched (each has its own quantised scan, posting lookups and SQLite reads), so a fresh 20k-document
build ends as one segment instead of ten; the cost is one more copy of the build's own rows, never of rows
it did not write beyond those the policy had merged them with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from semsearch.index.commit import SegmentRef


@dataclass(frozen=True)
class MergePolicy:
    """When segments merge: `factor` alike segments per level, levels growing by `factor` from `floor_rows`."""

    factor: int = 8
    floor_rows: int = 10_000
    max_dead_share: float = 0.2

    def level(self, ref: SegmentRef) -> int:
        """The size level of a segment."""
        live = ref.live_rows
        if live < self.floor_rows:
            return 0
        return 1 + int(math.log(live / self.floor_rows, self.factor))

    def plan_closing(self, refs: tuple[SegmentRef, ...], before: set[str]) -> list[list[str]]:
        """The closing merge of a build: every segment not named in `before` (so written since), into one."""
        written = [r.name for r in refs if r.name not in before]
        return [written] if len(written) > 1 else []

    def plan(self, refs: tuple[SegmentRef, ...], force: bool = False) -> list[list[str]]:
        """Groups of segment names to merge now. `force` merges every segment into one (compact)."""
        if force:
            return [[r.name for r in refs]] if len(refs) > 1 or any(r.dead_rows for r in refs) else []
        levels: dict[int, list[SegmentRef]] = {}
        for ref in refs:
            levels.setdefault(self.level(ref), []).append(ref)
        groups = []
        for members in levels.values():
            members.sort(key=lambda r: r.live_rows)
            while len(members) >= self.factor:
                groups.append([r.name for r in members[: self.factor]])
                members = members[self.factor :]
            groups.extend([r.name] for r in members if r.dead_rows > self.max_dead_share * r.rows)
        return groups
