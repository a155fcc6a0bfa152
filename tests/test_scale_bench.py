"""bench/scale.py's own parts: corpus subsets, questions, bytes-written accounting, child-process peak memory,
and the PASS/MISS verdicts of its report (no model needed)."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import scale_data  # noqa: E402
import scale_measure  # noqa: E402
import scale_report  # noqa: E402


@pytest.fixture
def norec(tmp_path: Path) -> Path:
    path = tmp_path / "norec.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for i in range(30):
            fh.write(json.dumps({"id": f"r{i:03d}", "title": f"Tittel {i}", "text": f"Anmeldelse nummer {i}."}) + "\n")
    return path


def test_write_corpus_is_a_prefix_with_the_next_reviews_held_back(norec: Path, tmp_path: Path):
    extra = scale_data.write_corpus(tmp_path / "c", 5, norec)
    files = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert files == [f"r{i:03d}.txt" for i in range(5)]
    assert (tmp_path / "c" / "r002.txt").read_text() == "Tittel 2\n\nAnmeldelse nummer 2."
    assert [r["id"] for r in extra] == [f"r{i:03d}" for i in range(5, 15)]
    before = scale_measure.snapshot(tmp_path / "c")
    scale_data.write_corpus(tmp_path / "c", 5, norec)  # rewritten: same size and mtime, so the builder skips it
    assert {Path(p).name: m[:2] for p, m in scale_measure.snapshot(tmp_path / "c").items()} == {
        Path(p).name: m[:2] for p, m in before.items()
    }


def test_questions_are_distinct_and_name_reviews_of_the_pool(norec: Path):
    qs = scale_data.questions(8, pool=10, path=norec)
    assert len(set(qs)) == 8
    assert all(any(f"Tittel {i}" in q for i in range(10)) for q in qs)


def test_written_bytes_counts_new_and_rewritten_files_only(tmp_path: Path):
    (tmp_path / "old").write_bytes(b"x" * 100)
    (tmp_path / "kept").write_bytes(b"y" * 1000)
    before = scale_measure.snapshot(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "new").write_bytes(b"z" * 7)
    (tmp_path / "old").unlink()
    (tmp_path / "old2").write_bytes(b"w" * 30)
    assert scale_measure.written_bytes(before, scale_measure.snapshot(tmp_path)) == 37
    assert scale_measure.folder_bytes(tmp_path) == 1037


def test_child_peak_memory_is_its_own(tmp_path: Path):
    big = scale_measure.run_child([sys.executable, "-c", "import numpy as np; a = np.ones(40_000_000); print(a.sum())"])
    small = scale_measure.run_child([sys.executable, "-c", "print(1)"])
    assert big.returncode == 0 and big.stdout.strip() == "40000000.0"
    assert big.peak_rss_mb > 300 > small.peak_rss_mb


def _row(update_s: float, update_bytes: int, p50: float, p99: float, busy: float, cold: float, rss: float) -> dict:
    return {
        "index_bytes": 10**9,
        "build": {"peak_rss_mb": rss},
        "updates": {"change1": {"system_s": update_s, "bytes": update_bytes, "wall_s": update_s},
                    "change1_named": {"system_s": update_s / 2, "bytes": update_bytes, "wall_s": update_s}},
        "queries": {"warm": {"hybrid": {"p50_ms": p50, "p99_ms": p99}}, "busy_hybrid": {"p50_ms": busy},
                    "cold": {"hybrid": {"median_s": cold}}},
    }  # fmt: skip


def test_targets_pass_and_miss_on_the_right_side_of_each_limit():
    good = {"1k": _row(1.0, 10, 10, 20, 15, 0.5, 900), "20k": _row(1.4, 10, 14, 30, 20, 0.6, 2000),
            "1m": _row(1.9, 9 * 10**6, 49, 149, 90, 0.99, 3000)}  # fmt: skip
    verdicts = [ok for ok, _ in scale_report._targets(good)]
    assert verdicts and all(verdicts)
    assert any("file named by --changed" in line for _, line in scale_report._targets(good))
    bad = {"1k": _row(1.0, 10, 10, 20, 15, 0.5, 900), "20k": _row(1.6, 10, 16, 30, 20, 0.6, 5000),
           "1m": _row(2.1, 11 * 10**6, 51, 151, 103, 1.01, 4100)}  # fmt: skip
    lines = dict((line.split(":")[0], ok) for ok, line in scale_report._targets(bad))
    assert not any(lines.values()), lines
