"""Stress bench for races: many fresh builds per embedding path, and many `semsearch watch` updates.

Each build is a fresh `semsearch index` process on a fresh index folder (the model's export stays cached, as on
a user's machine), run under $SEMSEARCH_CPU so that every path runs on any machine:

    onnx           ONNX Runtime fp32, as on an AVX2-only CPU (most laptops, many VMs, ARM)
    onnx-int8      ONNX Runtime int8 (--backend onnx-int8), as on an AVX2-only CPU
    openvino-bf16  OpenVINO bf16 (only where this CPU has AMX or AVX512-BF16)
    torch          sentence-transformers on the CPU (--backend torch)

A build fails when it exits non-zero, prints a traceback, or names another path in its first line; it hangs when it
runs past --deadline (it is killed). Then one watch process takes --updates file changes, one at a time: an update
is missed when no line reports it within --deadline, and the index must end equal to a fresh build's. Everything
is bounded: each process by --deadline, the whole run by --budget (what is left is reported as not run).

    python bench/races.py                       # 200 builds per path, 100 watch updates, tiny e5-tokenizer model
    python bench/races.py --builds 20 --updates 10 --paths onnx
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT.parent / "shared" / "data" / "norquad-news" / "docs"
PATHS = {  # name: ($SEMSEARCH_CPU, --backend)
    "onnx": ("avx2", "auto"),
    "onnx-int8": ("avx2", "onnx-int8"),
    "openvino-bf16": ("native", "auto"),
    "torch": ("avx2", "torch"),
}
CLI = [sys.executable, "-c", "import sys; from semsearch.cli import main; sys.argv[0] = 'semsearch'; main()"]


@dataclass
class Tally:
    """What one path's builds, or the watch run, gave."""

    runs: int = 0
    failed: int = 0
    hung: int = 0
    wrong_path: int = 0
    missed: int = 0
    seconds: list[float] = field(default_factory=list)
    first_problem: str = ""

    def problem(self, kind: str, text: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        self.first_problem = self.first_problem or text[-600:]

    @property
    def clean(self) -> bool:
        return not (self.failed or self.hung or self.wrong_path or self.missed)


def corpus_of(n: int, where: Path) -> Path:
    """The first `n` NorQuAD articles, copied into `where`."""
    where.mkdir(parents=True, exist_ok=True)
    for path in sorted(DOCS.glob("*.txt"))[:n]:
        shutil.copyfile(path, where / path.name)
    return where


def tiny_e5(cache: Path) -> Path:
    """bench/tiny_e5.py's model (e5's tokenizer, two cheap layers): the race lives in tokenizer set-up, not the model."""
    sys.path.insert(0, str(ROOT / "bench"))
    from tiny_e5 import build_tiny_e5

    return build_tiny_e5(cache / "tiny-e5")


def env_for(cpu: str) -> dict:
    return {**os.environ, "SEMSEARCH_CPU": cpu, "PYTHONPATH": str(ROOT)}


def one_build(corpus: Path, index: Path, model: str, path: str, deadline: float, tally: Tally) -> None:
    """One fresh `semsearch index`, tallied."""
    cpu, backend = PATHS[path]
    args = [*CLI, "index", str(corpus), "--index", str(index), "--model", model, "--backend", backend]
    t0 = time.perf_counter()
    tally.runs += 1
    try:
        proc = subprocess.run(args, env=env_for(cpu), capture_output=True, text=True, timeout=deadline)
    except subprocess.TimeoutExpired as e:
        tally.problem("hung", f"no end within {deadline} s: {e.stderr or ''}")
        return
    tally.seconds.append(time.perf_counter() - t0)
    said = proc.stdout + proc.stderr
    if proc.returncode != 0 or "Traceback" in said:
        tally.problem("failed", said)
    elif f"embedding path: {path} " not in said:
        tally.problem("wrong_path", said)


def builds(corpus: Path, model: str, path: str, n: int, deadline: float, stop_at: float, work: Path) -> Tally:
    """`n` fresh builds on `path`, or as many as the budget leaves time for."""
    tally = Tally()
    for i in range(n):
        if time.monotonic() > stop_at:
            break
        index = work / f"{path}-{i}"
        one_build(corpus, index, model, path, deadline, tally)
        shutil.rmtree(index, ignore_errors=True)
    return tally


def _reader(stream, out: queue.Queue) -> None:
    for line in stream:
        out.put(line.rstrip("\n"))


def _next_report(lines: queue.Queue, deadline: float) -> str | None:
    """The next line that reports an update ("N added, ...") or its failure ("error: ..."), or None in time."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        if " added, " in line or line.startswith("error"):
            return line
    return None


def _change(corpus: Path, i: int, rng_docs: list[str]) -> None:
    """The i-th change: add a file, rewrite one, or remove one, in turn."""
    kind = i % 3
    if kind == 0 or len(rng_docs) < 2:
        name = f"watch-{i}.txt"
        (corpus / name).write_text(f"Oppdatering {i}. Strømprisen steg i Bergen for {i}. gang denne vinteren.\n")
        rng_docs.append(name)
    elif kind == 1:
        (corpus / rng_docs[-1]).write_text(f"Endret {i}. Regjeringen la fram avtalen om valget, versjon {i}.\n")
    else:
        (corpus / rng_docs.pop(0)).unlink()


def watch_updates(corpus: Path, index: Path, model: str, n: int, deadline: float, stop_at: float) -> Tally:
    """One `semsearch watch` process taking `n` changes one at a time, tallied; then a full build must find the
    index current."""
    tally, lines = Tally(), queue.Queue()
    proc = subprocess.Popen([*CLI, "watch", str(corpus), "--index", str(index), "--model", model], env=env_for("avx2"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    try:
        if _next_report(lines, deadline) is None:
            tally.problem("hung", "the first build of watch did not report")
            return tally
        docs: list[str] = []
        for i in range(n):
            if time.monotonic() > stop_at:
                break
            tally.runs += 1
            t0 = time.perf_counter()
            _change(corpus, i, docs)
            report = _next_report(lines, deadline)
            if report is None:
                tally.problem("missed", f"change {i}: nothing reported within {deadline} s")
            elif report.startswith("error"):
                tally.problem("failed", report)
            tally.seconds.append(time.perf_counter() - t0)
    finally:
        _stop(proc, tally)
    _check_current(corpus, index, model, deadline, tally)
    return tally


def _stop(proc: subprocess.Popen, tally: Tally) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        tally.problem("hung", "watch did not stop on Ctrl-C")


def _check_current(corpus: Path, index: Path, model: str, deadline: float, tally: Tally) -> None:
    """A full build after the watch must find nothing to do: no update was lost."""
    args = [*CLI, "index", str(corpus), "--index", str(index), "--model", model]
    proc = subprocess.run(args, env=env_for("avx2"), capture_output=True, text=True, timeout=deadline)
    if proc.returncode != 0 or "is up to date" not in proc.stdout + proc.stderr:
        tally.problem("missed", f"the index was not current after watching: {proc.stdout}{proc.stderr}")


def bf16_here() -> bool:
    from semsearch.embedding import devices

    return devices._native_flags() & {"amx_bf16", "avx512_bf16"} != set()


def _row(name: str, t: Tally) -> str:
    p50 = sorted(t.seconds)[len(t.seconds) // 2] if t.seconds else float("nan")
    return (f"{name:<14} {t.runs:>5} {t.failed:>7} {t.hung:>5} {t.wrong_path:>6} {t.missed:>7} {p50:>7.2f}"
            f"  {'ok' if t.clean else 'PROBLEM'}")  # fmt: skip


def run(args: argparse.Namespace) -> dict[str, Tally]:
    """Every asked-for path's builds, then the watch updates; the tallies by name."""
    stop_at = time.monotonic() + args.budget
    work = Path(tempfile.mkdtemp(prefix="semsearch-races-"))
    try:
        model = args.model or str(tiny_e5(Path(tempfile.gettempdir()) / "semsearch-bench"))
        corpus = corpus_of(args.docs, work / "corpus")
        tallies = {}
        for path in args.paths:
            if path == "openvino-bf16" and not bf16_here():
                print(f"{path}: skipped, this CPU has no native bf16 (AMX or AVX512-BF16)")
                continue
            tallies[path] = builds(corpus, model, path, args.builds, args.deadline, stop_at, work)
        if args.updates:
            tallies["watch"] = watch_updates(corpus, work / "watched", model, args.updates, args.deadline, stop_at)
        return tallies
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=200, help="fresh builds per path")
    parser.add_argument("--updates", type=int, default=100, help="watch updates (0: none)")
    parser.add_argument("--paths", type=lambda s: s.split(","), default=list(PATHS), help="comma-separated paths")
    parser.add_argument("--docs", type=int, default=60, help="NorQuAD articles per build")
    parser.add_argument("--model", help="model folder (default: the tiny e5-tokenizer model)")
    parser.add_argument("--deadline", type=float, default=120.0, help="seconds one process may take")
    parser.add_argument("--budget", type=float, default=3 * 3600.0, help="seconds the whole run may take")
    args = parser.parse_args()
    if not DOCS.is_dir():
        print(f"skipped: {DOCS} is absent (the NorQuAD news articles)")
        return 0
    unknown = [p for p in args.paths if p not in PATHS]
    if unknown:
        parser.error(f"unknown path(s) {', '.join(unknown)}: use {', '.join(PATHS)}")
    tallies = run(args)
    print(f"{'path':<14} {'runs':>5} {'failed':>7} {'hung':>5} {'wrong':>6} {'missed':>7} {'p50 s':>7}")
    for name, tally in tallies.items():
        print(_row(name, tally))
    for name, tally in tallies.items():
        if tally.first_problem:
            print(f"\nfirst problem on {name}:\n{tally.first_problem}")
    return 0 if all(t.clean for t in tallies.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
