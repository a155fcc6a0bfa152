"""Measuring one step of bench/scale.py from outside: a child process's wall time, peak RSS and output,
the bytes a step wrote into an index folder, cold CLI queries, and busy-loop processes that load the cores.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass
class Child:
    """What a finished child process did."""

    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str
    result: dict = field(default_factory=dict)  # the JSON a worker printed last, if any


GNU_TIME = Path("/usr/bin/time")


def run_child(cmd: list[str], env: dict | None = None, timeout: float | None = None) -> Child:
    """Run `cmd` to the end; wall seconds and peak RSS.

    Linux carries a process's peak RSS across exec, so a child forked from this (large) process would
    report at least our size: the peak comes from GNU time, a small process, when it is there.
    """
    full_env = {**os.environ, **(env or {})}
    out_path, err_path = Path(f"/tmp/.scale-{os.getpid()}.out"), Path(f"/tmp/.scale-{os.getpid()}.err")
    rss_path = Path(f"/tmp/.scale-{os.getpid()}.rss")
    if GNU_TIME.is_file():
        cmd = [str(GNU_TIME), "-f", "%M", "-o", str(rss_path), *cmd]
    with open(out_path, "w") as out, open(err_path, "w") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=full_env, cwd=ROOT)
        deadline = None if timeout is None else t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline and time.perf_counter() > deadline:
                proc.kill()
            time.sleep(0.01)
        seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    stdout, stderr = out_path.read_text(errors="replace"), err_path.read_text(errors="replace")
    peak_kb = usage.ru_maxrss
    if rss_path.is_file():
        lines = rss_path.read_text().split()
        peak_kb = int(lines[-1]) if lines and lines[-1].isdigit() else peak_kb
    for path in (out_path, err_path, rss_path):
        path.unlink(missing_ok=True)
    result = {}
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            result = json.loads(line)
            break
    return Child(seconds, peak_kb / 1024, proc.returncode, stdout, stderr, result)


def worker(command: str, args: dict, env: dict | None = None, timeout: float | None = None) -> Child:
    """Run one `bench/scale_worker.py` command in a fresh process; fails loudly when it fails."""
    cmd = [sys.executable, str(ROOT / "bench" / "scale_worker.py"), command, json.dumps(args)]
    child = run_child(cmd, env, timeout)
    if child.returncode != 0:
        raise RuntimeError(f"worker {command} failed ({child.returncode}):\n{child.stderr[-3000:]}")
    return child


def snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    """(size, mtime_ns, inode) of every file under `folder`."""
    out = {}
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(dirpath, name)
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            out[path] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return out


def written_bytes(before: dict, after: dict) -> int:
    """Bytes of the files that are new or rewritten in `after` (a file written and removed meanwhile is missed)."""
    return sum(meta[0] for path, meta in after.items() if before.get(path) != meta)


def folder_bytes(folder: Path) -> int:
    """Total size of the files under `folder`."""
    return sum(meta[0] for meta in snapshot(folder).values())


def cold_queries(index: Path, questions: list[str], mode: str, runs: int = 5) -> dict:
    """Median and max wall seconds of fresh `semsearch query` processes (one question each)."""
    times = []
    for q in questions[:runs]:
        child = run_child([str(BIN / "semsearch"), "query", q, "--index", str(index), "--mode", mode, "-k", "10"])
        if child.returncode != 0:
            raise RuntimeError(f"semsearch query failed: {child.stderr[-2000:]}")
        times.append(child.seconds)
    return {"median_s": statistics.median(times), "max_s": max(times), "runs": len(times)}


class BusyLoops:
    """`n` processes spinning on the CPU for at most `limit` seconds; stopped on leaving the block."""

    def __init__(self, n: int = 2, limit: float = 900):
        self.n, self.limit, self.procs = n, limit, []

    def __enter__(self) -> BusyLoops:
        code = f"import time\nend = time.time() + {self.limit}\nwhile time.time() < end:\n    pass\n"
        self.procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(self.n)]
        time.sleep(0.5)
        return self

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()
