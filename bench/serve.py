"""Load on `semsearch serve`: N concurrent clients on loopback for a bounded time, then the same during a re-index.

    .venv/bin/python bench/serve.py [--seconds 10] [--clients 1,4,16] [--modes hybrid,dense,lexical] [--workers 1]

Over the NorQuAD news index (403 articles, real e5 via `semsearch index`; the corpus is copied into
index/bench-serve-corpus so the swap phase can change an article). Each client is a thread with its own
keep-alive connection asking NorQuAD questions round-robin with GET /search (k=5) until its time is up.
Prints QPS, p50, p99, errors and the server's RSS per mode and client count, with QPS as a ratio to the
baseline: warm in-process `semsearch.query()` in one thread. The swap phase runs 4 hybrid clients while one
article changes and `semsearch index` commits; it reports errors in that window and how long after the commit
the server answered from the new snapshot. Skips with a message when ../shared/data is absent.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NORQUAD = ROOT.parent / "shared" / "data" / "norquad-news"
INDEX = ROOT / "index" / "bench-serve"
CORPUS_COPY = ROOT / "index" / "bench-serve-corpus"


@dataclass
class Load:
    """What the clients of one run saw."""

    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def row(self) -> dict:
        """QPS, p50/p99 in ms and the error count."""
        ms = sorted(x * 1000 for x in self.latencies)
        p99 = ms[min(len(ms) - 1, int(round(0.99 * (len(ms) - 1))))] if ms else float("nan")
        return {
            "qps": len(ms) / self.seconds,
            "p50": statistics.median(ms) if ms else float("nan"),
            "p99": p99,
            "errors": len(self.errors),
        }


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(port: int, path: str, timeout: float = 10.0) -> dict:
    """GET a JSON answer from the server (raises on anything but 200)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path} -> {response.status} {body[:200]!r}")
        return json.loads(body)
    finally:
        conn.close()


def client(port: int, paths: list[str], offset: int, deadline: float, load: Load, lock: threading.Lock) -> None:
    """One client: ask round-robin over `paths` on a keep-alive connection until `deadline`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    i = offset
    mine, errors = [], []
    while time.perf_counter() < deadline:
        path = paths[i % len(paths)]
        i += 1
        t0 = time.perf_counter()
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200 or b'"results"' not in body:
                errors.append(f"{response.status} {body[:120]!r}")
                continue
            mine.append(time.perf_counter() - t0)
        except (OSError, http.client.HTTPException) as e:
            errors.append(f"{type(e).__name__}: {e}")
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.close()
    with lock:
        load.latencies += mine
        load.errors += errors


def run_load(port: int, paths: list[str], clients: int, seconds: float) -> Load:
    """`clients` concurrent clients for `seconds`; they stop by themselves."""
    load, lock = Load(seconds), threading.Lock()
    deadline = time.perf_counter() + seconds
    threads = [
        threading.Thread(target=client, args=(port, paths, n * 7, deadline, load, lock), daemon=True) for n in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    return load


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (uvicorn workers), in MB."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def questions() -> list[str]:
    """The NorQuAD dev questions about the news articles."""
    lines = (NORQUAD / "queries-dev.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["query"] for line in lines if line.strip()]


def search_paths(qs: list[str], mode: str) -> list[str]:
    """GET /search paths for every question in one mode."""
    return [f"/search?{urllib.parse.urlencode({'q': q, 'k': 5, 'mode': mode})}" for q in qs]


def prepare_index() -> None:
    """Copy the corpus (once) and bring the index up to date with `semsearch index` (the real e5)."""
    if not CORPUS_COPY.is_dir():
        shutil.copytree(NORQUAD / "docs", CORPUS_COPY)
    subprocess.run([str(BIN / "semsearch"), "index", str(CORPUS_COPY), "--index", str(INDEX)], check=True)


def baseline(qs: list[str], mode: str, seconds: float) -> Load:
    """Warm in-process `semsearch.query()`, one thread, for `seconds`."""
    import semsearch

    semsearch.query(qs[0], 5, INDEX, mode=mode)
    load = Load(seconds)
    deadline = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        semsearch.query(qs[i % len(qs)], 5, INDEX, mode=mode)
        load.latencies.append(time.perf_counter() - t0)
        i += 1
    return load


def start_server(port: int, workers: int) -> subprocess.Popen:
    """`semsearch serve` on loopback, waited for until /health answers."""
    cmd = [str(BIN / "semsearch"), "serve", "--index", str(INDEX), "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"the server exited: {proc.stderr.read()}")
        try:
            get_json(port, "/health", timeout=2)
            return proc
        except (OSError, RuntimeError):
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("the server did not answer /health within 120 s")


def print_row(label: str, clients: int, load: Load, rss: float | None, base_qps: float) -> None:
    """One line of the table, QPS also as a ratio to the in-process baseline."""
    r = load.row()
    rss_text = f"{rss:8.0f}" if rss is not None else " " * 8
    print(
        f"  {label:<26} {clients:>7} {r['qps']:8.1f} {r['qps'] / base_qps:6.2f}x {r['p50']:8.1f} {r['p99']:8.1f} "
        f"{r['errors']:>6} {rss_text}"
    )
    for e in sorted(set(load.errors))[:3]:
        print(f"      error: {e}")


def swap_phase(port: int, proc: subprocess.Popen, qs: list[str], seconds: float, base_qps: float) -> None:
    """4 hybrid clients while one article changes and `semsearch index` commits; errors, p99, time to see it."""
    before = get_json(port, "/health")
    target = sorted(CORPUS_COPY.glob("*.txt"))[0]
    original = target.read_bytes()
    target.write_bytes(original + f"\n\nOppdatert {time.time():.0f}: en ny setning om benchmarken.\n".encode())
    box: dict = {}

    def reindex() -> None:
        time.sleep(1.0)
        cmd = [str(BIN / "semsearch"), "index", str(CORPUS_COPY), "--index", str(INDEX)]
        subprocess.run(cmd, check=True, capture_output=True)
        box["committed"] = time.perf_counter()
        key = "generation" if "generation" in before else "snapshot"
        while time.perf_counter() - box["committed"] < 30:
            if get_json(port, "/health").get(key) != before.get(key):
                box["seen"] = time.perf_counter()
                return
            time.sleep(0.05)

    writer = threading.Thread(target=reindex)
    t0 = time.perf_counter()
    writer.start()
    load = run_load(port, search_paths(qs, "hybrid"), 4, seconds)
    writer.join(120)
    target.write_bytes(original)
    load.seconds = time.perf_counter() - t0
    print_row("hybrid during re-index", 4, load, rss_mb(proc.pid), base_qps)
    if "committed" in box:
        seen = box.get("seen")
        lag = f"{seen - box['committed']:.2f} s after the commit" if seen else "NOT within 30 s"
        print(f"  re-index committed {box['committed'] - t0:.1f} s into the run; the server answered from it {lag}")
    subprocess.run([str(BIN / "semsearch"), "index", str(CORPUS_COPY), "--index", str(INDEX)], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--modes", default="hybrid,dense,lexical")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if not (NORQUAD / "docs").is_dir():
        print(f"skipped: NorQuAD data not found at {NORQUAD} (see README: data is not in the repository)")
        return
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # as `semsearch query` and `serve` do
        os.environ.setdefault(var, "1")
    prepare_index()
    qs = questions()
    modes = args.modes.split(",")
    base = {m: baseline(qs, m, min(args.seconds, 5.0)) for m in modes}
    port = free_port()
    proc = start_server(port, args.workers)
    try:
        print(f"\n## semsearch serve --workers {args.workers}: {len(qs)} NorQuAD questions, k=5, {args.seconds:.0f} s per run")
        print("  (2 shared cores, clients and server on one machine: figures are noisy)")
        print(f"  {'run':<26} {'clients':>7} {'QPS':>8} {'ratio':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'RSS MB':>8}")
        for mode in modes:
            print_row(f"{mode}: in-process query()", 1, base[mode], None, base[mode].row()["qps"])
            for n in (int(c) for c in args.clients.split(",")):
                load = run_load(port, search_paths(qs, mode), n, args.seconds)
                print_row(f"{mode}: server", n, load, rss_mb(proc.pid), base[mode].row()["qps"])
        swap_phase(port, proc, qs, max(args.seconds, 15.0), base["hybrid"].row()["qps"] if "hybrid" in base else 1.0)
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
