"""bench/speed.py's sections 7 and 8: a build killed half way and resumed, and a build on a local Ray cluster.

Each build runs in a fresh process, as `semsearch index` does; the figures come back as JSON on its last line.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from semsearch.ingest.builder import BATCH_CHUNKS  # noqa: E402

_BUILD = """
import json, sys, time
sys.path.insert(0, {root!r})
t0 = time.perf_counter()
import semsearch
stats = semsearch.build_index({corpus!r}, {index!r}, backend={backend!r}, batch_chunks={batch}, ray={ray!r},
                              log=lambda m: print(m, flush=True))
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so it would report the bench's own peak
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({{"build_s": time.perf_counter() - t0, "chunks": stats.chunks, "embedded": stats.embedded_chunks,
                  "timings": stats.timings, "rss_mb": hwm / 1024}}))
"""
_EMBEDDED = re.compile(r"^embedded (\d+) chunks")


def _build_code(corpus: Path, index: Path, batch: int, ray: bool = False, backend: str = "auto") -> str:
    return _BUILD.format(root=str(ROOT), corpus=str(corpus), index=str(index), batch=batch, ray=ray, backend=backend)


def build(corpus: Path, index: Path, batch: int = BATCH_CHUNKS, ray: bool = False, backend: str = "auto") -> dict:
    """One `semsearch.build_index` in a fresh process: its figures (build_s, chunks, embedded, timings and
    rss_mb, the process's peak), with the whole process's wall time (interpreter start and exit too)."""
    t0 = time.perf_counter()
    code = _build_code(corpus, index, batch, ray, backend)
    proc = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "wall_s": time.perf_counter() - t0}


def _killed_half_way(corpus: Path, index: Path, batch: int, total: int) -> tuple[int, int, float]:
    """Run a build and SIGKILL it as soon as it reports half of `total` chunks embedded (that batch is then
    embedded but not yet committed: the worst moment for lost work). The chunks it had embedded, those of its
    last batch (a batch closes at the first document end past `batch` chunks), and when."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _build_code(corpus, index, batch)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    embedded = last = 0
    try:
        for line in proc.stdout:
            if m := _EMBEDDED.match(line):
                last = int(m.group(1))
                embedded += last
                if embedded >= total / 2:
                    proc.kill()
                    break
    finally:
        proc.kill()
        proc.wait()
    if embedded < total / 2:
        raise RuntimeError(f"the build ended before half of its {total} chunks were embedded: nothing to resume")
    return embedded, last, time.perf_counter() - t0


def resume(corpus: Path, total: int) -> dict:
    """Kill a build of `corpus` (`total` chunks) at ~50%, then run it again; also one uninterrupted build."""
    from semsearch.index.store import latest_generation_number, open_generation

    batch = max(64, total // 8)  # several batches, as an archive build has (it commits every 2,048 chunks)
    with tempfile.TemporaryDirectory() as tmp:
        full = build(corpus, Path(tmp) / "full", batch)
        index = Path(tmp) / "killed"
        embedded, last, killed_s = _killed_half_way(corpus, index, batch, total)
        committed = 0 if latest_generation_number(index) is None else open_generation(index).commit.chunks
        resumed = build(corpus, index, batch)
    return {"batch": batch, "total": total, "full": full, "killed_embedded": embedded, "last_batch": last,
            "killed_s": killed_s, "committed": committed, "resumed": resumed}  # fmt: skip


def ray_vs_local(corpus: Path) -> dict | None:
    """The same build embedded locally and on a local Ray cluster (`build_index(ray=True)`); None without ray."""
    if importlib.util.find_spec("ray") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        local = build(corpus, Path(tmp) / "local")
        on_ray = build(corpus, Path(tmp) / "ray", ray=True)
    return {"local": local, "ray": on_ray}


def print_resume(r: dict, row) -> None:
    """Section 7: what a resumed build re-embedded and how long it took, against an uninterrupted build."""
    print(f"\n## 7. A build killed at ~50% and run again ({r['total']} chunks, batches of {r['batch']}; killed as soon as")
    print("##    a batch that reached half was embedded, before its commit: the worst moment for lost work)")
    full, resumed = r["full"], r["resumed"]
    row("uninterrupted build, whole process", full["wall_s"], "s", full["wall_s"], f"{full['embedded']} chunks embedded")
    row("killed build, until the kill", r["killed_s"], "s", full["wall_s"],
        f"{r['killed_embedded']} chunks embedded, {r['committed']} committed")  # fmt: skip
    redone = r["killed_embedded"] + resumed["embedded"] - r["total"]
    reused, batch = resumed["chunks"] - resumed["embedded"], r["last_batch"]
    note = (f"{resumed['embedded']} chunks embedded, {reused} reused; re-embedded "
            f"{redone} = {redone / batch:.2f} x the batch in flight ({batch} chunks, target <= 1)")  # fmt: skip
    row("resumed build, whole process", resumed["wall_s"], "s", full["wall_s"], note)


def print_ray(r: dict | None, row) -> None:
    """Section 8: a build embedded on a local Ray cluster against the same build embedded locally."""
    print("\n## 8. semsearch index --ray (local cluster started by the build) against a local build, whole process")
    if r is None:
        print("  (skipped: ray is not installed; pip install 'semsearch[ray]')")
        return
    local, on_ray = r["local"], r["ray"]
    base = local["chunks"] / local["wall_s"]
    row("local build", base, "chunks/s", base, f"{local['chunks']} chunks in {local['wall_s']:.1f} s")
    row("Ray Data build", on_ray["chunks"] / on_ray["wall_s"], "chunks/s", base,
        f"{on_ray['chunks']} chunks in {on_ray['wall_s']:.1f} s (embed {on_ray['timings']['embed']:.1f} s)")  # fmt: skip
