"""Reliability table for issue 10: case, tries, passed; tracebacks, unrepaired indexes, failed reader queries.

    .venv/bin/python bench/reliability.py [--kills 28] [--rounds 6] [--examples 200] [--seed 20261123]

Runs the reliability tier's own workloads (tests/test_crash.py, tests/test_readers.py, tests/test_damage.py,
tests/test_properties.py) once, with the tiny test model, in a temporary folder, and counts:
1. kill -9 at a seeded fsync/rename step of first builds, update builds (with merges), API updates, compactions;
2. damage (truncate, garbage, delete) to every file found by walking a built index, then `semsearch index`;
3. library, held-Searcher and CLI reader queries while another process commits builds, updates and compactions;
4. hypothesis-generated `semsearch query` command lines and `semsearch.query()` calls.
A traceback is any exception other than a user error (SemsearchError, or the CLI's exit). Timings are noisy
(2 shared cores); the counts are what matters.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


class Table:
    """Rows of (case, tries, passed) plus the three totals the issue asks for."""

    def __init__(self):
        self.rows: list[tuple[str, int, int, float]] = []
        self.tracebacks = self.unrepaired = self.reader_queries = self.failed_reader_queries = 0
        self.details: list[str] = []

    def add(self, case: str, tries: int, passed: int, seconds: float, details: list[str] = ()) -> None:
        """One case's counts."""
        self.rows.append((case, tries, passed, seconds))
        self.details.extend(details)

    def print(self) -> None:
        """The table, then the totals and the first failures."""
        print(f"{'case':<52} {'tries':>6} {'passed':>7} {'seconds':>8}")
        for case, tries, passed, seconds in self.rows:
            print(f"{case:<52} {tries:>6} {passed:>7} {seconds:>8.1f}")
        print(f"\ntracebacks: {self.tracebacks}   unrepaired indexes: {self.unrepaired}   "
              f"failed reader queries: {self.failed_reader_queries} of {self.reader_queries}")  # fmt: skip
        for line in self.details[:20]:
            print("  " + line)


def kills(table: Table, base: Path, model: Path, count: int, seed: int) -> None:
    """Case 1: seeded kills, round-robin over the four kinds of operation."""
    import test_crash

    (base / "crash").mkdir()
    scenarios = test_crash.make_scenarios(model, base / "crash")
    per_kind: dict[str, list[int]] = {}
    t0 = time.perf_counter()
    for i, (s, at) in enumerate(test_crash._tries(scenarios, count, seed)):
        try:
            problems = test_crash.kill_and_verify(s, base / f"kill{i}", at)
        except Exception:  # noqa: BLE001 - counted, and shown
            table.tracebacks += 1
            problems = [traceback.format_exc(limit=3)]
        table.unrepaired += any("after" in p for p in problems)
        table.details.extend(problems)
        per_kind.setdefault(s.kind, []).append(not problems)
    seconds = (time.perf_counter() - t0) / max(len(per_kind), 1)
    for kind, outcomes in per_kind.items():
        table.add(f"kill -9 during {kind}", len(outcomes), sum(outcomes), seconds)


def damage(table: Table, base: Path, model: Path) -> None:
    """Case 2: every file of an index damaged three ways, then `semsearch index` repairs it."""
    from test_damage import DAMAGE, _cases
    from typer.testing import CliRunner

    import semsearch
    from semsearch.cli import app
    from semsearch.index.check import check_index

    t0 = time.perf_counter()
    runner, corpus, pristine = CliRunner(), base / "damage-corpus", base / "damage-index"
    shutil.copytree(ROOT / "corpus", corpus)
    semsearch.build_index(corpus, pristine, model=str(model))
    path = sorted(corpus.glob("*.txt"))[0]
    path.write_text(path.read_text(encoding="utf-8") + "\nEt nytt avsnitt om Lavrov.\n", encoding="utf-8")
    semsearch.build_index(corpus, pristine)
    cases, passed = _cases(pristine), 0
    for n, (relative, kind) in enumerate(cases):
        index = base / f"damaged{n}"
        shutil.copytree(pristine, index)
        DAMAGE[kind](index / relative)
        where, ok = ["--index", str(index)], True
        for args in (["info", *where], ["query", "Lavrov", *where], ["check", *where], ["index", str(corpus), *where]):
            result = runner.invoke(app, args)
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                table.tracebacks, ok = table.tracebacks + 1, False
                table.details.append(f"{kind} {relative}: {args[0]} raised {result.exception!r}")
        report = check_index(index)
        if not report.ok or report.chunks == 0 or runner.invoke(app, ["query", "Lavrov", *where]).exit_code != 0:
            table.unrepaired, ok = table.unrepaired + 1, False
            table.details.append(f"{kind} {relative}: not repaired: {report.problems}")
        passed += ok
        shutil.rmtree(index)
    table.add("damage to every index file (truncate/garbage/delete)", len(cases), passed, time.perf_counter() - t0)


def readers(table: Table, base: Path, model: Path, rounds: int) -> None:
    """Case 3: readers during updates."""
    from test_readers import readers_during_updates

    t0 = time.perf_counter()
    run = readers_during_updates(base / "readers", str(model), rounds, min_queries=300)
    bad = run.inconsistent()
    table.reader_queries += run.queries
    table.failed_reader_queries += len(run.failures) + len(bad)
    table.tracebacks += sum("Error" in f and "SemsearchError" not in f for f in run.failures)
    seconds = time.perf_counter() - t0
    for who in ("library", "cli"):
        mine = [a for a in run.answers if a[0].startswith(who)]
        failed = [f for f in run.failures if f.startswith(who)]
        table.add(f"{who} reader queries during {len(run.commits) - 1} commits", len(mine) + len(failed),
                  len(mine) - sum(b.startswith(who) for b in bad), seconds)  # fmt: skip
    held_failed = [f for f in run.failures if f.startswith("held")]
    table.add("queries on a Searcher held through them", len(run.held) + len(held_failed),
              len(run.held) - sum(b.startswith("held") for b in bad), seconds)  # fmt: skip
    table.details.extend(run.failures + bad)


def properties(table: Table, index: Path, examples: int) -> None:
    """Case 4: hypothesis over CLI arguments and library calls, counting examples."""
    from hypothesis import given, settings
    from test_properties import _one_line_error, library_calls, library_problem, query_args, runner

    from semsearch.cli import app

    outcomes: list[str | None] = []

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None)
    @given(args=query_args())
    def cli_case(args):
        result = runner.invoke(app, [*args, "--index", str(index)])
        outcomes.append(_one_line_error(result) and f"{args!r}: {_one_line_error(result)}")

    t0 = time.perf_counter()
    cli_case()
    failed = [o for o in outcomes if o]
    table.tracebacks += sum("traceback" in o for o in failed)
    table.add("hypothesis: `semsearch query` command lines", len(outcomes), len(outcomes) - len(failed), time.perf_counter() - t0)
    table.details.extend(failed)
    calls: list[str | None] = []

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None)
    @given(call=library_calls)
    def library_case(call):
        try:
            problem = library_problem(index, call)
        except Exception as e:  # noqa: BLE001 - a traceback, counted
            table.tracebacks += 1
            problem = f"traceback: {e!r}"
        calls.append(problem and f"{call!r}: {problem}")

    t0 = time.perf_counter()
    library_case()
    failed = [c for c in calls if c]
    table.details.extend(failed)
    table.add("hypothesis: semsearch.query() arguments", len(calls), len(calls) - len(failed), time.perf_counter() - t0)


def main() -> None:
    """Run every case once and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=28)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=20261123)
    opts = parser.parse_args()
    from tiny_model import build_tiny_model

    import semsearch

    table = Table()
    with tempfile.TemporaryDirectory(prefix="semsearch-reliability-") as tmp:
        base = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(base / "cache")
        model = build_tiny_model(base / "model")
        kills(table, base, model, opts.kills, opts.seed)
        damage(table, base, model)
        readers(table, base, model, opts.rounds)
        index = base / "query-index"
        semsearch.build_index(ROOT / "corpus", index, model=str(model))
        properties(table, index, opts.examples)
    table.print()


if __name__ == "__main__":
    main()
