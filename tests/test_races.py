"""bench/races.py, short: fresh builds on the path of an AVX2-only CPU, and watch updates, without a failure."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT

DOCS = ROOT.parent / "shared" / "data" / "norquad-news" / "docs"


@pytest.mark.slow
def test_fresh_builds_and_watch_updates_never_fail_hang_or_miss():
    if not DOCS.is_dir():
        pytest.skip(f"{DOCS} is absent: the race bench builds NorQuAD articles")
    pytest.importorskip("watchfiles", reason="the watch extra is not installed: pip install 'semsearch[watch]'")
    args = ["--builds", "20", "--updates", "10", "--paths", "onnx", "--deadline", "120", "--budget", "900"]
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "races.py"), *args], capture_output=True, text=True,
                          timeout=1200)  # fmt: skip
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines() if line.split()}
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert rows["onnx"][1:6] == ["20", "0", "0", "0", "0"], proc.stdout
    assert rows["watch"][1:6] == ["10", "0", "0", "0", "0"], proc.stdout
