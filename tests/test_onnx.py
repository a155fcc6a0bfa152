"""The ONNX Runtime backend with the tiny real model: export, cache, damage, fallback, agreement with torch."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import CORPUS, ROOT
from typer.testing import CliRunner

import semsearch
from semsearch.cli import app
from semsearch.embedding import Embedder, devices, onnx_export
from semsearch.embedding.embedder import SMALL_BATCH, _bf16_runs
from semsearch.embedding.models import resolve_model
from semsearch.errors import SemsearchError

BF16 = {"backend": "onnx", "quantisation": "bf16"}
needs_bf16 = pytest.mark.skipif(not _bf16_runs(), reason="no native bf16 here (AMX or AVX512-BF16), or no OpenVINO")

TEXTS = [
    "Lavrov uttalte at samtalene var åpne og viktige.",
    "Været blir kaldt i helgen.",
    "Regjeringen vil bruke mer penger på skole, sykehus og veier i hele landet, sa statsministeren i Stortinget i går.",
    "ÆØÅ æøå 😀 https://example.com/x?y=z",
    "Fotballaget vant.",
]


@pytest.fixture
def spec(tiny_model):
    return resolve_model(str(tiny_model))


def test_export_writes_a_verified_folder_in_the_user_cache(spec, tmp_path):
    lines = []
    folder = onnx_export.ensure_exported(spec.path, "fp-a", log=lines.append)
    assert folder == onnx_export.export_dir("fp-a") and folder.is_relative_to(onnx_export.cache_root())
    marker = onnx_export.read_marker(folder)
    isa = onnx_export.cpu_isa()
    assert marker["isa"] == isa and marker["quantisation"] == onnx_export.quantisation_for(isa)
    assert marker["verify"]["fp32"] >= 0.9999
    assert {onnx_export.WORDS, onnx_export.FILES["fp32"], onnx_export.MARKER} <= {p.name for p in folder.iterdir()}
    assert any("exporting" in line for line in lines) and any("ready" in line for line in lines)
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".fp-a")]  # no staging folder left behind


def test_a_new_export_removes_the_exports_of_earlier_versions_only(spec):
    root = onnx_export.cache_root() / "onnx"
    older = root / f"v{onnx_export.VERSION - 1}" / "fp-old"
    kept = [root / f"v{onnx_export.VERSION + 1}" / "fp-new", root / "notes"]  # a later install's, and not ours
    for folder in [older, *kept]:
        folder.mkdir(parents=True)
        (folder / "encoder.onnx").write_bytes(b"x" * 1000)
    lines = []
    onnx_export.ensure_exported(spec.path, "fp-c", log=lines.append)
    assert not older.parent.exists() and all(folder.is_dir() for folder in kept)
    assert any(f"v{onnx_export.VERSION - 1}" in line and "removed" in line for line in lines)


def test_an_export_is_reused_and_a_damaged_one_rebuilt(spec):
    folder = onnx_export.ensure_exported(spec.path, "fp-b")
    stamp = (folder / onnx_export.MARKER).stat().st_mtime_ns
    assert onnx_export.ensure_exported(spec.path, "fp-b") == folder
    assert (folder / onnx_export.MARKER).stat().st_mtime_ns == stamp  # reused, not rewritten

    onnx = folder / onnx_export.FILES["fp32"]
    onnx.write_bytes(onnx.read_bytes()[:1000])  # truncated: sizes no longer match the marker
    assert onnx_export.read_marker(folder) is None
    lines = []
    onnx_export.ensure_exported(spec.path, "fp-b", log=lines.append)
    assert onnx_export.read_marker(folder) is not None and any("damaged" in line for line in lines)


def test_an_export_onnxruntime_cannot_load_is_rebuilt(spec, monkeypatch):
    embedder = Embedder(spec, backend="onnx-int8", log=lambda _m: None)
    folder, marker = embedder.export
    onnx = folder / onnx_export.FILES[marker["quantisation"]]
    onnx.write_bytes(b"\0" * onnx.stat().st_size)  # same size, garbage: only loading finds it
    vectors = embedder.embed_queries(["Hva sa Lavrov?"])
    assert vectors.shape == (1, 32) and abs(float(np.linalg.norm(vectors[0])) - 1) < 1e-5
    assert onnx.read_bytes()[:4] != b"\0\0\0\0"


@pytest.mark.parametrize("backend", ["onnx", "torch", pytest.param(BF16, marks=needs_bf16, id="bf16")])
def test_onnx_and_torch_agree_and_vectors_come_back_in_input_order(spec, backend):
    torch_vectors = Embedder(spec, backend="torch").model.encode(
        ["passage: " + t for t in TEXTS], normalize_embeddings=True, convert_to_numpy=True
    )
    embedder = Embedder(spec, backend=backend, batch_size=2)  # length-sorted batches of 2
    vectors = embedder.embed_passages(TEXTS, progress=False, bulk=True)  # bulk: never the small-update twin
    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), 32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    cosines = np.sum(vectors * torch_vectors, axis=1)
    floor = {"fp32": 0.9999, "bf16": 0.999}.get(embedder.quantisation, 0.98)
    assert cosines.min() >= floor, (embedder.backend_info, cosines)
    assert embedder.last_backend == f"{embedder.backend}-{embedder.quantisation}"
    one_by_one = np.stack([embedder.embed_passages([t], progress=False)[0] for t in TEXTS])
    assert np.sum(one_by_one * vectors, axis=1).min() >= 0.9999


def test_backend_info_is_recorded_and_queries_use_it(spec, tmp_path, monkeypatch):
    monkeypatch.setattr(devices, "bf16_isa", lambda: "none")  # a CPU without native bf16: auto is ONNX fp32
    index = tmp_path / "index"
    semsearch.build_index(CORPUS, index, model=str(spec.path))
    from semsearch.index import store

    gen = store.open_generation(index)
    info = gen.commit.model["backend_info"]
    gen.close() if hasattr(gen, "close") else None
    isa = onnx_export.cpu_isa()
    assert info == {"backend": "onnx", "quantisation": "fp32", "isa": isa, "device": "cpu"}  # auto: torch's vectors
    queried = Embedder(spec, backend=info)
    assert queried.requested_backend == "onnx" and queried._onnx_quantisation() == info["quantisation"]
    assert semsearch.query("Hva sa Lavrov?", index=index)
    int8 = Embedder(spec, backend="onnx-int8")
    assert int8.backend_info["quantisation"] == onnx_export.quantisation_for(isa)


@needs_bf16
def test_auto_embeds_in_bf16_on_openvino_and_queries_and_small_updates_stay_on_onnx_runtime(spec, tmp_path):
    index = tmp_path / "index"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for f in CORPUS.glob("*.txt"):
        (corpus / f.name).write_bytes(f.read_bytes())
    stats = semsearch.build_index(corpus, index, model=str(spec.path))
    from semsearch.index import store

    gen = store.open_generation(index)
    info = gen.commit.model["backend_info"]
    assert info == {"backend": "onnx", "quantisation": "bf16", "isa": devices.bf16_isa(), "device": "cpu"}
    assert gen.commit.settings["embedding"] == BF16
    assert gen.commit.model["backend"] == ["onnx-fp32" if stats.embedded_chunks <= SMALL_BATCH else "onnx-bf16"]
    queried = Embedder(spec, backend=info)
    bulk = queried.embed_passages(TEXTS, progress=False, bulk=True)
    assert queried.last_backend == "onnx-bf16"
    assert np.sum(bulk * queried.embed_passages(TEXTS, progress=False), axis=1).min() >= 0.999  # small: fp32
    assert queried.last_backend == "onnx-fp32"
    queried.embed_queries(["Hva sa Lavrov?"])
    assert sorted(queried._encoders) == [("onnx", True), ("openvino-bf16", False)]  # the query ran on ONNX Runtime fp32
    from semsearch.embedding.encoders.openvino import CACHE_DIR

    blobs = list((queried.export[0] / CACHE_DIR).iterdir())
    assert blobs  # the compiled graph is kept beside the export; the next bulk encoder loads it
    cached = Embedder(spec, backend=info)
    np.testing.assert_allclose(cached.embed_passages(TEXTS, progress=False, bulk=True), bulk, atol=1e-6)
    assert sorted(p.name for p in (queried.export[0] / CACHE_DIR).iterdir()) == sorted(p.name for p in blobs)
    (corpus / "new.txt").write_text(" date 2023-05 Strømprisene steg kraftig i Sør-Norge. Regjeringen lover tiltak.\n")
    again = semsearch.build_index(corpus, index)
    assert again.added == ["new"] and 1 <= again.embedded_chunks < stats.chunks  # the settings held: nothing re-embedded
    assert "onnx-fp32" in store.open_generation(index).commit.model["backend"]  # a small update: no graph compiled


def test_a_bf16_index_on_a_cpu_without_bf16_embeds_in_fp32_saying_so(spec, monkeypatch):
    monkeypatch.setattr(devices, "bf16_isa", lambda: "none")
    lines = []
    embedder = Embedder(spec, backend=BF16, log=lines.append)
    vectors = embedder.embed_passages(TEXTS, progress=False, bulk=True)
    assert embedder.last_backend == "onnx-fp32" and embedder.backend_info["quantisation"] == "bf16"  # recorded stays
    reference = Embedder(spec, backend="torch").model.encode(["passage: " + t for t in TEXTS], normalize_embeddings=True)
    assert np.sum(vectors * reference, axis=1).min() >= 0.9999
    embedder.embed_passages(TEXTS, progress=False, bulk=True)
    assert len([line for line in lines if "cannot run natively" in line]) == 1


def test_cpu_flags_name_the_bf16_instructions(monkeypatch, tmp_path):
    info = tmp_path / "cpuinfo"
    monkeypatch.delenv(devices.CPU_ENV, raising=False)
    cases = (("fpu avx2 avx512_bf16 amx_bf16", "amx_bf16"), ("avx512f avx512_bf16", "avx512_bf16"), ("avx2", "none"))
    for flags, expected in cases:
        info.write_text(f"processor : 0\nflags\t\t: {flags}\n")
        monkeypatch.setattr(devices, "CPUINFO", info)
        devices._native_flags.cache_clear()
        assert devices.bf16_isa() == expected
    devices._native_flags.cache_clear()


def test_a_cpu_profile_hides_what_that_cpu_lacks_and_never_adds(monkeypatch, tmp_path):
    from semsearch.embedding.onnx_export import cpu_isa

    info = tmp_path / "cpuinfo"
    info.write_text("processor : 0\nflags\t\t: fpu avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile\n")
    monkeypatch.setattr(devices, "CPUINFO", info)
    devices._native_flags.cache_clear()
    try:
        expected = {
            "native": ("amx_bf16", "avx512_vnni"), "avx512-bf16": ("avx512_bf16", "avx512_vnni"),
            "avx512": ("none", "avx512_vnni"), "avx2": ("none", "avx2"),
        }  # fmt: skip
        for profile, (bf16, isa) in expected.items():
            monkeypatch.setenv(devices.CPU_ENV, profile)
            assert (devices.bf16_isa(), cpu_isa()) == (bf16, isa), profile
        assert "SEMSEARCH_CPU=avx2" in devices.cpu_summary() or devices.cpu_profile() != "avx2"
        info.write_text("processor : 0\nflags\t\t: fpu avx2\n")
        devices._native_flags.cache_clear()
        monkeypatch.setenv(devices.CPU_ENV, "avx512-bf16")  # a profile never claims what the CPU lacks
        assert devices.bf16_isa() == "none" and cpu_isa() == "avx2"
        monkeypatch.setenv(devices.CPU_ENV, "sse9")
        with pytest.raises(SemsearchError, match="SEMSEARCH_CPU=sse9 is not a CPU profile: use one of native"):
            devices.cpu_flags()
    finally:
        devices._native_flags.cache_clear()


def test_an_export_failure_falls_back_to_torch_saying_so(spec, monkeypatch):
    import torch

    def broken_exporter(*args, **kwargs):
        raise RuntimeError("Exporting the operator 'aten::frobnicate' to ONNX opset 17 is not supported")

    monkeypatch.setattr(torch.onnx, "export", broken_exporter)
    lines = []
    embedder = Embedder(spec, backend="auto", log=lines.append)
    monkeypatch.setattr(onnx_export, "export_dir", lambda fp: onnx_export.cache_root() / "onnx" / "never-exported")
    vectors = embedder.embed_passages(TEXTS, progress=False)
    assert embedder.backend == "torch" and embedder.last_backend == "torch-fp32" and vectors.shape == (5, 32)
    fallback = [line for line in lines if "falling back to torch" in line]
    assert len(fallback) == 1 and "aten::frobnicate" in fallback[0]


def test_cuda_without_a_gpu_is_one_clear_error(tiny_model, tmp_path):
    if devices.cuda_available():
        pytest.skip("a CUDA GPU is visible: the error cannot happen here")
    with pytest.raises(SemsearchError, match="--device cuda: torch sees no CUDA GPU"):
        Embedder(resolve_model(str(tiny_model)), device="cuda").backend  # noqa: B018
    out = CliRunner().invoke(app, ["index", str(CORPUS), "-i", str(tmp_path / "i"), "-m", str(tiny_model), "--device", "cuda"])
    assert out.exit_code == 1 and "Traceback" not in out.output
    assert out.output.strip().splitlines()[-1].startswith("error: --device cuda")


def test_unknown_backend_is_a_user_error(spec):
    with pytest.raises(SemsearchError, match="unknown backend 'tensorflow'"):
        Embedder(spec, backend="tensorflow")


def test_a_torch_built_index_is_queried_without_torch(spec, tmp_path):
    index = tmp_path / "index"
    semsearch.build_index(CORPUS, index, model=str(spec.path), backend="torch")
    code = (
        "import sys, semsearch; from semsearch import api; "
        f"r = semsearch.query('Hva sa Lavrov?', index={str(index)!r}); assert r; "
        "e = next(iter(api._models)); "
        "print(sorted(k[0] for k in e._encoders)); "
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout.strip().replace("'", '"')) == ["onnx"]  # torch's vectors, through ONNX fp32


def test_ray_without_ray_names_the_extra_and_a_dead_address_is_one_line(monkeypatch):
    from semsearch.embedding import ray_backend

    with pytest.raises(SemsearchError, match=r"cannot reach the Ray cluster at 'ray://127.0.0.1:9'"):
        ray_backend.check_reachable("ray://127.0.0.1:9", timeout=2)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    with pytest.raises(SemsearchError, match=r"pip install 'semsearch\[ray\]'"):
        ray_backend.connect(None)


def test_a_bulk_load_lets_waiters_go_when_it_starts_compiling_and_never_leaves_one_waiting(spec, monkeypatch):
    """A build chunks only once the bulk encoder's load has imported its runtime and compiles (the import holds the
    GIL): `wait_for_load_start` returns right before the graph compiles, or when the load fails."""
    import threading

    order = []
    embedder = Embedder(spec, backend="onnx")
    real_start = Embedder.start_bulk_vocabulary
    monkeypatch.setattr(Embedder, "start_bulk_vocabulary", lambda self: order.append("compiles") or real_start(self))
    waiting = threading.Thread(target=lambda: embedder.wait_for_load_start() or order.append("waiter goes on"))
    waiting.start()
    waiting.join(0.5)
    assert waiting.is_alive() and not order  # no load has started
    embedder.load_bulk(large=True)
    waiting.join(30)
    assert order == ["compiles", "waiter goes on"]

    failing = Embedder(spec, backend="onnx")
    monkeypatch.setattr(Embedder, "encoder", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("broken export")))
    with pytest.raises(RuntimeError, match="broken export"):
        failing.load_bulk(large=True)
    done = threading.Thread(target=failing.wait_for_load_start)
    done.start()
    done.join(5)
    assert not done.is_alive()  # the failed load let the waiter go


def test_a_build_past_a_small_update_opens_only_the_bulk_encoder(spec, tmp_path, monkeypatch):
    """On a fast-starting path (ONNX Runtime fp32), a build of more than SMALL_BATCH passages embeds with the bulk
    encoder, so it loads that one up front, and not the small-update form besides (a second session)."""
    from semsearch.embedding import embedder

    opened = []
    real_open = Embedder._open
    monkeypatch.setattr(Embedder, "_open", lambda self, name, q: opened.append((name, q)) or real_open(self, name, q))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(SMALL_BATCH + 16):
        (corpus / f"a{i}.txt").write_text(f"Sak {i}\n\n{TEXTS[2]} {TEXTS[i % 5]} Nummer {i}.\n" * 3, encoding="utf-8")
    size = sum(p.stat().st_size for p in corpus.iterdir())
    assert embedder.SMALL_BYTES < size < embedder.SLOW_BULK_BYTES
    stats = semsearch.build_index(corpus, tmp_path / "index", model=str(spec.path), backend="onnx")
    assert stats.chunks > SMALL_BATCH and opened == [("onnx", False)]


def test_a_build_chunks_only_once_its_encoder_compiles(spec, tmp_path, monkeypatch):
    """`build_index` starts the bulk encoder's load first and hands documents to the chunker only once the load
    has imported its runtime: the first chunk is cut after the graph started compiling."""
    import time

    from semsearch.embedding import embedder
    from semsearch.ingest import builder, pipeline

    order = []
    real_start, real_chunk, real_open = Embedder.start_bulk_vocabulary, pipeline.chunk_entries, Embedder.encoder
    monkeypatch.setattr(Embedder, "start_bulk_vocabulary", lambda self: order.append("compiles") or real_start(self))
    monkeypatch.setattr(Embedder, "encoder", lambda *a, **k: time.sleep(0.5) or real_open(*a, **k))  # a slow import
    monkeypatch.setattr(pipeline, "chunk_entries", lambda *a: order.append("chunks") or real_chunk(*a))
    monkeypatch.setattr(embedder, "SMALL_BYTES", 0)  # a bulk build: its encoder loads up front
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, text in enumerate(TEXTS[:3]):
        (corpus / f"a{i}.txt").write_text(f"Tittel {i}\n\n{text}\n", encoding="utf-8")
    stats = builder.build_index(corpus, tmp_path / "index", model=str(spec.path), backend="onnx", log=lambda _: None)
    assert stats.chunks >= 3 and order[0] == "compiles" and order.count("chunks") == 3


def test_batches_padded_to_a_multiple_of_tokens_give_the_same_vectors(spec):
    """OpenVINO's bf16 encoder pads each batch to a multiple of 16 tokens (AMX tiles, fewer shapes to prepare)."""
    from semsearch.embedding.encoders.openvino import OpenVinoEncoder

    assert OpenVinoEncoder.PAD_TO == 16
    encoder = Embedder(spec, backend="onnx").encoder("onnx")
    texts = ["passage: " + t for t in TEXTS] + ["passage: kort", "passage: " + " ".join(TEXTS) * 3]
    plain = encoder.encode(texts, batch_size=2)
    encoder.PAD_TO = 16
    widths = {ids.shape[1] for _, ids, _ in encoder.batches(texts, 2)}
    longest = int(encoder.tokenize(texts)[1].sum(axis=1).max())
    assert all(w % 16 == 0 or w == longest for w in widths) and len(widths) > 1
    padded = encoder.encode(texts, batch_size=2)
    assert np.sum(plain * padded, axis=1).min() >= 0.99999
