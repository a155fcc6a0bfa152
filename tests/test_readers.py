"""Readers during updates: library queries, a Searcher held from before, and CLI queries run in a loop while
another process commits batched builds, API updates, merges and compactions. No reader query fails, and
every answer is made of chunks that were all live in one committed generation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from reliability_helpers import DRIVER, ROOT, write_corpus, write_update

import semsearch
from semsearch import api
from semsearch.index import store

QUESTIONS = ["Hva sa Lavrov om USA?", "strømprisene i Sør-Norge", "budsjettet på Stortinget", "snø i fjellet", "sak 7 utgave 2"]
MODES = ("hybrid", "dense", "lexical")


@dataclass
class ReaderRun:
    """What the readers saw: answers (reader, chunk ids), failures, and each commit's live chunk ids."""

    answers: list[tuple[str, list[int]]] = field(default_factory=list)
    held: list[list[int]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    commits: dict[int, set[int]] = field(default_factory=dict)
    held_generation: int = 0

    @property
    def queries(self) -> int:
        """Reader queries made."""
        return len(self.answers) + len(self.held) + len(self.failures)

    def inconsistent(self) -> list[str]:
        """Answers not made of one committed generation's live chunks (held ones: of the held generation)."""
        bad = [f"{who}: answer {ids} matches no single committed generation" for who, ids in self.answers
               if not any(set(ids) <= live for live in self.commits.values())]  # fmt: skip
        held = self.commits[self.held_generation]
        bad += [f"held searcher: answer {ids} is not from its generation" for ids in self.held if not set(ids) <= held]
        return bad


def _live_ids(index: Path) -> tuple[int, set[int]]:
    gen = store.open_generation(index)
    ids = {int(i) for s, alive in zip(gen.segments, gen.alive) for i in (s.ids if alive is None else s.ids[alive])}
    return gen.generation, ids


def _writer_steps(base: Path, rounds: int) -> list[list[str]]:
    steps = []
    for r in range(1, rounds + 1):
        versions = {d: (r if d % 2 == r % 2 else r - 1) for d in range(r, 16 + r)}  # some changed, one gone, one new
        steps.append(["build", str(write_corpus(base / f"corpus{r}", versions))])
        spec = write_update(base / f"update{r}.json", {f"rec{r}": f" date 2020-0{r % 9 + 1} Nyhet {r} om strømprisene."},
                            [f"doc{r + 3:03d}", f"rec{r - 1}"])  # fmt: skip
        steps.append(["update", str(spec)])
        if r % 2 == 0:
            steps.append(["compact", "-"])
    return steps


def _library_reader(run: ReaderRun, index: Path, done: threading.Event, offset: int) -> None:
    i = offset
    while not done.is_set():
        mode, question = MODES[i % 3], QUESTIONS[i % len(QUESTIONS)]
        try:
            found = semsearch.query(question, k=4, index=index, mode=mode)
            assert len(found) == 4, f"{len(found)} answers"
            run.answers.append((f"library {mode}", [r.chunk_id for r in found]))
        except Exception as e:  # noqa: BLE001 - any failure is what this test counts
            run.failures.append(f"library {mode} '{question}': {e!r}")
        i += 1
        time.sleep(0.02)


def _held_reader(run: ReaderRun, held, done: threading.Event) -> None:
    i = 0
    while not done.is_set():
        try:
            found = held.search(QUESTIONS[i % len(QUESTIONS)], 4, MODES[i % 3])
            run.held.append([r.chunk_id for r in found])
        except Exception as e:  # noqa: BLE001
            run.failures.append(f"held searcher {MODES[i % 3]}: {e!r}")
        i += 1
        time.sleep(0.05)


def _cli_reader(run: ReaderRun, index: Path, done: threading.Event) -> None:
    i = 0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    while not done.is_set():
        mode = MODES[i % 3]
        cmd = [sys.executable, "-m", "semsearch.cli", "query", QUESTIONS[i % len(QUESTIONS)], "-k", "4", "--mode", mode,
               "--index", str(index), "--json"]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
        if out.returncode != 0 or out.stderr.strip():
            run.failures.append(f"cli {mode}: exit {out.returncode}: {out.stderr.strip()[-400:]}")
        else:
            run.answers.append((f"cli {mode}", [r["chunk_id"] for r in json.loads(out.stdout)]))
        i += 1


def readers_during_updates(base: Path, model: str, rounds: int, min_queries: int = 0) -> ReaderRun:
    """Build an index, then read it from 4 threads (2 library, 1 held Searcher, 1 CLI) while a writer process
    runs `rounds` rounds of build + API update (+ compact every second round); the writer runs its rounds
    again (up to 4 times) until the readers have asked `min_queries`, so a slow machine still gets them all."""
    index, log = base / "index", base / "commits.jsonl"
    semsearch.build_index(write_corpus(base / "corpus0", {d: 0 for d in range(16)}), index, model=model, batch_chunks=8)
    run = ReaderRun()
    run.held_generation, ids = _live_ids(index)
    run.commits[run.held_generation] = ids
    held = api.searcher(index)
    steps = base / "steps.json"
    steps.write_text(json.dumps(_writer_steps(base, rounds)), encoding="utf-8")
    done = threading.Event()
    readers = [threading.Thread(target=_library_reader, args=(run, index, done, n)) for n in (0, 1)]
    readers.append(threading.Thread(target=_held_reader, args=(run, held, done)))
    readers.append(threading.Thread(target=_cli_reader, args=(run, index, done)))
    for t in readers:
        t.start()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    for _ in range(4):
        writer = subprocess.run([sys.executable, str(DRIVER), "cycle", str(index), str(steps), "", "0", str(log)],
                                capture_output=True, text=True, env=env, timeout=600)  # fmt: skip
        if writer.returncode != 0 or run.queries >= min_queries:
            break
    done.set()
    for t in readers:
        t.join()
    if writer.returncode != 0:
        run.failures.append(f"the writer failed: {writer.stderr[-1000:]}")
    for line in log.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        run.commits[entry["generation"]] = set(entry["ids"])
    return run


def test_readers_never_fail_during_updates(tiny_model, tmp_path):
    run = readers_during_updates(tmp_path, str(tiny_model), rounds=2, min_queries=60)
    assert not run.failures, "\n".join(run.failures[:20])
    assert len(run.commits) >= 6 and run.queries >= 60
    assert not run.inconsistent()


@pytest.mark.slow
def test_three_hundred_reader_queries_during_updates(tiny_model, tmp_path):
    run = readers_during_updates(tmp_path, str(tiny_model), rounds=6, min_queries=300)
    assert not run.failures, "\n".join(run.failures[:20])
    assert run.queries >= 300, f"only {run.queries} reader queries"
    assert not run.inconsistent()
