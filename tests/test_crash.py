"""kill -9 at seeded points of builds, updates, merges and compactions: the index is always an old or a new
state per document, checks sound, answers every mode, and the next `semsearch index` repairs it.

The writer runs in a subprocess (tests/crash_driver.py) that SIGKILLs itself just before its Nth
durable-write step (fsync or rename), N drawn with a fixed seed from the steps an uninterrupted run takes.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from reliability_helpers import api_docs, fault_points, live_state, run_driver, write_corpus, write_update
from typer.testing import CliRunner

import semsearch
from semsearch.cli import app
from semsearch.errors import SemsearchError
from semsearch.index.check import check_index
from semsearch.ingest.builder import update_index

runner = CliRunner()
SEED = 20261123
OLD = {d: 0 for d in range(20)}
NEW = {d: (1 if d % 3 == 0 else 0) for d in range(4, 24)}  # 4 removed, 4 added, 6 changed
RECORDS = {f"rec{i}": f" date 2021-0{i + 1} Nyhet {i}: Stortinget vedtok budsjettet (post {i}). Strøm steg." for i in range(5)}
DELETED = ["doc000", "doc001", "doc005"]


@dataclass
class Scenario:
    """One kind of interrupted operation: its starting index, its states before and after, how to repair."""

    kind: str
    driver: str
    arg: str
    start: Path | None
    old: dict
    new: dict
    repair_corpus: Path
    repaired: dict
    steps: int = 0
    model: str = ""


@pytest.fixture(scope="module")
def scenarios(tiny_model, tmp_path_factory) -> dict[str, Scenario]:
    """The four kinds of interrupted operation, prepared once."""
    return make_scenarios(tiny_model, tmp_path_factory.mktemp("crash"))


def make_scenarios(tiny_model: Path, base: Path) -> dict[str, Scenario]:
    """Templates: an index of the old corpus, one updated to the new corpus, reference states from fresh builds."""
    model = str(tiny_model)
    old_corpus = write_corpus(base / "old", OLD)
    new_corpus = write_corpus(base / "new", NEW)
    ref_old = _fresh(old_corpus, base / "ref-old", model)
    ref_new = _fresh(new_corpus, base / "ref-new", model)
    old_index = base / "old-index"
    semsearch.build_index(old_corpus, old_index, model=model, batch_chunks=8)
    both = base / "updated-index"  # the new corpus in two segments, one with delete marks: work for `compact`
    mid = write_corpus(base / "mid", {d: 0 if d == 6 else v for d, v in NEW.items() if d < 21})
    semsearch.build_index(mid, both, model=model)
    semsearch.build_index(new_corpus, both, batch_chunks=8)  # changes one document, adds three
    spec = write_update(base / "update.json", RECORDS, DELETED)
    after_update = base / "after-update"
    shutil.copytree(old_index, after_update)
    update_index(after_update, api_docs(_records()), DELETED, batch_chunks=8)
    ref_update = live_state(after_update)
    repaired_update = {**ref_update, **{d: ref_old[d] for d in DELETED}}  # the corpus build brings the files back
    found = {
        "first build": Scenario("first build", "build", str(new_corpus), None, {}, ref_new, new_corpus, ref_new, model=model),
        "update build": Scenario("update build", "build", str(new_corpus), old_index, ref_old, ref_new, new_corpus, ref_new),
        "api update": Scenario("api update", "update", str(spec), old_index, ref_old, ref_update, old_corpus, repaired_update),
        "compact": Scenario("compact", "compact", "-", both, ref_new, ref_new, new_corpus, ref_new),
    }
    for s in found.values():
        trial = base / f"count-{s.driver}-{len(s.old)}"
        if s.start is not None:
            shutil.copytree(s.start, trial)
        s.steps = fault_points(run_driver(s.driver, trial, s.arg, s.model))
        assert live_state(trial) == s.new, f"{s.kind}: an uninterrupted run does not reach the reference state"
    return found


def _records() -> list[dict]:
    return [{"id": k, "text": v} for k, v in RECORDS.items()]


def _fresh(corpus: Path, index: Path, model: str) -> dict:
    semsearch.build_index(corpus, index, model=model)
    return live_state(index)


def kill_and_verify(s: Scenario, index: Path, fault_at: int) -> list[str]:
    """Kill the operation at its `fault_at`-th step; return what went wrong (nothing, when all is well)."""
    if s.start is not None:
        shutil.copytree(s.start, index)
    result = run_driver(s.driver, index, s.arg, s.model, fault_at)
    where = f"{s.kind} killed at step {fault_at}/{s.steps}"
    if result.returncode != -9:
        return [f"{where}: the writer exited {result.returncode}, not by SIGKILL: {result.stderr[-500:]}"]
    problems = _verify_interrupted(s, index, where)
    if s.driver == "update":  # an API update is repeated by its caller, then the corpus build runs
        update_index(index, api_docs(_records()), DELETED, batch_chunks=8)
    args = ["index", str(s.repair_corpus), "--index", str(index)] + (["--model", s.model] if s.model else [])
    repair = runner.invoke(app, args)
    if repair.exit_code != 0 or (repair.exception and not isinstance(repair.exception, SystemExit)):
        return problems + [f"{where}: `semsearch index` after the kill exited {repair.exit_code}: {repair.output[-500:]}"]
    if live_state(index) != s.repaired:
        problems.append(f"{where}: after `semsearch index` the index differs from a fresh build")
    report = check_index(index)
    if not report.ok or any(".tmp-" in n for n in report.notes):
        problems.append(f"{where}: after repair: problems {report.problems}, notes {report.notes}")
    return problems


def _verify_interrupted(s: Scenario, index: Path, where: str) -> list[str]:
    report = check_index(index)
    if not report.ok:
        if s.start is None and report.generation is None and any("never built" in p for p in report.problems):
            return []  # killed before the first commit: the old state, an index not yet built
        return [f"{where}: check found {report.problems}"]
    problems = []
    state = live_state(index)
    for doc_id in set(state) | set(s.old) | set(s.new):
        if state.get(doc_id) not in (s.old.get(doc_id), s.new.get(doc_id)):
            problems.append(f"{where}: document {doc_id} is neither its old nor its new state")
    for mode in ("hybrid", "dense", "lexical"):
        try:
            hits = semsearch.query("Lavrov og strømprisene", k=5, index=index, mode=mode)
        except SemsearchError as e:
            problems.append(f"{where}: a {mode} query failed: {e}")
            continue
        if len(hits) != min(5, report.chunks) or any(h.doc_id not in state for h in hits):
            problems.append(f"{where}: a {mode} query gave {len(hits)} answers or a document not live")
    return problems


def _tries(scenarios: dict[str, Scenario], count: int, seed: int) -> list[tuple[Scenario, int]]:
    rng = random.Random(seed)
    kinds = list(scenarios.values())
    return [(kinds[i % len(kinds)], rng.randint(1, kinds[i % len(kinds)].steps)) for i in range(count)]


def test_a_few_kills_leave_an_old_or_new_state(scenarios, tmp_path):
    """The fast tier: one kill in each kind of operation."""
    problems = []
    for i, (s, at) in enumerate(_tries(scenarios, 4, SEED)):
        problems += kill_and_verify(s, tmp_path / f"try{i}", at)
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_twenty_four_seeded_kills(scenarios, tmp_path):
    """24 more kills at seeded steps of first builds, update builds (with merges), API updates and compactions."""
    problems = []
    for i, (s, at) in enumerate(_tries(scenarios, 24, SEED + 1)):
        problems += kill_and_verify(s, tmp_path / f"try{i}", at)
    assert not problems, "\n".join(problems)


def test_batched_update_with_merges_between_batches_equals_a_fresh_build(tiny_model, tmp_path):
    """Merges committed between a build's batches move documents: later deletions must still find them
    (they were marked by stale positions, leaving old versions alive and a duplicate id that broke the next merge)."""
    old, new = write_corpus(tmp_path / "old", OLD), write_corpus(tmp_path / "new", NEW)
    index = tmp_path / "index"
    semsearch.build_index(old, index, model=str(tiny_model), batch_chunks=8)
    write_corpus(old, NEW)
    stats = semsearch.build_index(old, index, batch_chunks=8)
    assert stats.merged >= 1 and stats.removed and stats.changed
    assert live_state(index) == _fresh(new, tmp_path / "fresh", str(tiny_model))
    assert check_index(index).ok
