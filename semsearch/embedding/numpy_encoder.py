"""A torch-free forward pass of BERT / XLM-R sentence-transformers models, in numpy.

Importing torch and sentence-transformers costs seconds; a query must be answered from a cold
process in well under one. So the query side encodes with this module instead: the same float32
math as the transformers model (embeddings, post-LayerNorm encoder layers, mean or CLS pooling,
optional L2 normalisation), with the tokenizer from HF ``tokenizers``.

Three steps:

- :func:`supports` says whether a sentence-transformers folder is a model this module can run
  (:func:`unsupported_reason` says why not).
- :func:`export` converts it once into a folder of ``.npy`` weights plus ``encoder.json`` and
  ``tokenizer.json`` (for Unigram tokenizers such as XLM-R's, also a "lazy" form of the tokenizer
  that loads in milliseconds instead of ~0.6 s; see :class:`_LazyUnigramTokenizer`).
- :meth:`NumpyEncoder.load` memory-maps that folder (only the embedding rows actually looked up are
  read from disk) and :meth:`NumpyEncoder.encode` turns texts into vectors.

For a single short query, one BLAS thread is best: with more, OpenBLAS threads that spin-wait for
each other turn a ~20 ms encode into seconds whenever other processes keep the CPUs busy. Set
``OPENBLAS_NUM_THREADS=1`` before numpy is imported (or use threadpoolctl) in the query process.

Nothing here imports torch, transformers or sentence_transformers; safetensors files are read
directly (the format is a JSON header followed by raw little-endian arrays).
"""

from __future__ import annotations

import json
import math
import mmap
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semsearch.embedding.folders import replace_dir

__all__ = [
    "ENCODER_JSON",
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "NumpyEncoder",
    "export",
    "is_export",
    "supports",
    "unsupported_reason",
]

EXPORT_FORMAT = "semsearch-numpy-encoder"
EXPORT_VERSION = 1
ENCODER_JSON = "encoder.json"
TOKENIZER_JSON = "tokenizer.json"

# model_type -> does the position embedding table start at padding_idx + 1 (RoBERTa family)?
_MODEL_TYPES = {"bert": False, "xlm-roberta": True, "roberta": True}
_ACTIVATIONS = {"gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast"}
_POOLING_MODES = {"mean", "cls"}
_LEGACY_POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
# sentence_bert_config.json keys that change what the model computes and that we do not implement.
_UNSUPPORTED_ST_KEYS = ("query_length", "document_length", "query_expansion", "processing_kwargs")
_WEIGHT_PREFIXES = ("bert.", "roberta.", "xlm_roberta.", "model.")
_MAX_SANE_LENGTH = 1_000_000  # tokenizer_config's "no limit" is 1e30

# Per encoder layer: our file stem -> (HF name under encoder.layer.N., is a linear weight)
_LAYER_TENSORS = {
    "q_w": ("attention.self.query.weight", True),
    "q_b": ("attention.self.query.bias", False),
    "k_w": ("attention.self.key.weight", True),
    "k_b": ("attention.self.key.bias", False),
    "v_w": ("attention.self.value.weight", True),
    "v_b": ("attention.self.value.bias", False),
    "ao_w": ("attention.output.dense.weight", True),
    "ao_b": ("attention.output.dense.bias", False),
    "ln1_w": ("attention.output.LayerNorm.weight", False),
    "ln1_b": ("attention.output.LayerNorm.bias", False),
    "i_w": ("intermediate.dense.weight", True),
    "i_b": ("intermediate.dense.bias", False),
    "o_w": ("output.dense.weight", True),
    "o_b": ("output.dense.bias", False),
    "ln2_w": ("output.LayerNorm.weight", False),
    "ln2_b": ("output.LayerNorm.bias", False),
}
_EMBEDDING_TENSORS = {
    "emb_word": "embeddings.word_embeddings.weight",
    "emb_pos": "embeddings.position_embeddings.weight",
    "emb_type": "embeddings.token_type_embeddings.weight",
    "emb_ln_w": "embeddings.LayerNorm.weight",
    "emb_ln_b": "embeddings.LayerNorm.bias",
}


class _Unsupported(Exception):
    pass


def _read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _optional_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = _read_json(path)
    return data if isinstance(data, dict) else {}


def _class_name(module_type: object) -> str:
    if not isinstance(module_type, str) or not module_type.startswith("sentence_transformers."):
        return ""
    return module_type.rsplit(".", 1)[-1]


def _pooling_mode(cfg: dict[str, Any]) -> str:
    mode: Any = cfg.get("pooling_mode")
    if mode is None:
        mode = [name for key, name in _LEGACY_POOLING_KEYS.items() if cfg.get(key)]
    if isinstance(mode, list | tuple):
        if len(mode) != 1:
            raise _Unsupported(f"pooling {mode!r}: only a single 'mean' or 'cls' pooling is supported")
        mode = mode[0]
    if mode not in _POOLING_MODES:
        raise _Unsupported(f"pooling {mode!r}: only 'mean' or 'cls' pooling is supported")
    if not cfg.get("include_prompt", True):
        raise _Unsupported("pooling excludes the prompt tokens (include_prompt false)")
    return str(mode)


def _weight_files(model_dir: Path) -> list[Path]:
    single = model_dir / "model.safetensors"
    if single.is_file():
        return [single]
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        weight_map = _read_json(index).get("weight_map", {})
        return sorted({model_dir / name for name in weight_map.values()})
    raise _Unsupported(f"no model.safetensors in {model_dir} (pytorch_model.bin is not supported)")


@dataclass(frozen=True)
class _Spec:
    transformer_dir: Path
    weight_files: list[Path]
    config: dict[str, Any]
    encoder: dict[str, Any]


def _inspect(model_dir: Path) -> _Spec:
    model_dir = Path(model_dir)
    modules_path = model_dir / "modules.json"
    if not modules_path.is_file():
        raise _Unsupported(f"no modules.json in {model_dir}")
    modules = _read_json(modules_path)
    if not isinstance(modules, list) or not modules:
        raise _Unsupported("modules.json is not a non-empty list")
    modules = sorted(modules, key=lambda m: m.get("idx", 0))
    names = [_class_name(m.get("type")) for m in modules]
    if names not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise _Unsupported(f"modules {[m.get('type') for m in modules]}: need Transformer, Pooling[, Normalize]")

    transformer_dir = model_dir / (modules[0].get("path") or "")
    pooling_dir = model_dir / (modules[1].get("path") or "")
    normalize = len(modules) == 3
    if normalize:
        norm_cfg = _optional_json(model_dir / (modules[2].get("path") or "") / "config.json")
        for key in ("module_input_name", "module_output_name"):
            if norm_cfg.get(key, "sentence_embedding") != "sentence_embedding":
                raise _Unsupported(f"Normalize with {key}={norm_cfg[key]!r}")

    st_cfg: dict[str, Any] = {}
    for name in ("sentence_bert_config.json", "sentence_xlm-roberta_config.json", "sentence_roberta_config.json"):
        st_cfg = _optional_json(transformer_dir / name)
        if st_cfg:
            break
    for key in _UNSUPPORTED_ST_KEYS:
        if st_cfg.get(key):
            raise _Unsupported(f"sentence_bert_config.json sets {key}")
    if st_cfg.get("transformer_task", "feature-extraction") != "feature-extraction":
        raise _Unsupported(f"transformer_task {st_cfg['transformer_task']!r}")
    if st_cfg.get("backend", "torch") != "torch":
        raise _Unsupported(f"backend {st_cfg['backend']!r}")

    config_path = transformer_dir / "config.json"
    if not config_path.is_file():
        raise _Unsupported(f"no config.json in {transformer_dir}")
    config = _read_json(config_path)
    model_type = config.get("model_type")
    if model_type not in _MODEL_TYPES:
        raise _Unsupported(f"model_type {model_type!r}: only {sorted(_MODEL_TYPES)}")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise _Unsupported(f"position_embedding_type {config['position_embedding_type']!r}")
    act = config.get("hidden_act", "gelu")
    if act not in _ACTIVATIONS:
        raise _Unsupported(f"hidden_act {act!r}")
    if config.get("is_decoder") or config.get("add_cross_attention"):
        raise _Unsupported("decoder models are not supported")
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    if hidden % heads:
        raise _Unsupported("hidden_size is not a multiple of num_attention_heads")
    if not (transformer_dir / TOKENIZER_JSON).is_file():
        raise _Unsupported(f"no tokenizer.json in {transformer_dir}")
    weight_files = _weight_files(transformer_dir)

    pooling = _pooling_mode(_optional_json(pooling_dir / "config.json"))

    max_positions = int(config.get("max_position_embeddings", 512))
    if _MODEL_TYPES[model_type]:
        padding_idx = int(config.get("pad_token_id", 1))
        position_offset = padding_idx + 1
    else:
        position_offset = 0
    tok_cfg = _optional_json(transformer_dir / "tokenizer_config.json")
    max_len = st_cfg.get("max_seq_length")
    if max_len is None:
        # What sentence-transformers does: the tokenizer's limit, capped by the position table.
        tok_max = tok_cfg.get("model_max_length")
        max_len = max_positions
        if isinstance(tok_max, int | float) and 0 < tok_max < _MAX_SANE_LENGTH:
            max_len = min(int(tok_max), max_positions)
    max_len = min(int(max_len), max_positions - position_offset)

    st_model_cfg = _optional_json(model_dir / "config_sentence_transformers.json")
    pad_token = tok_cfg.get("pad_token")
    if isinstance(pad_token, dict):  # older tokenizer_config: {"content": "<pad>", ...}
        pad_token = pad_token.get("content")

    encoder = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "model_type": model_type,
        "num_layers": int(config["num_hidden_layers"]),
        "num_heads": heads,
        "hidden_size": hidden,
        "intermediate_size": int(config["intermediate_size"]),
        "vocab_size": int(config["vocab_size"]),
        "layer_norm_eps": float(config.get("layer_norm_eps", 1e-12)),
        "hidden_act": act,
        "position_offset": position_offset,
        "max_seq_length": max_len,
        "pooling": pooling,
        "normalize": normalize,
        "do_lower_case": bool(st_cfg.get("do_lower_case", False)),
        "pad_token": pad_token if isinstance(pad_token, str) else None,
        "pad_token_id": config.get("pad_token_id"),
        "prompts": dict(st_model_cfg.get("prompts") or {}),
        "default_prompt_name": st_model_cfg.get("default_prompt_name"),
        "similarity_fn_name": st_model_cfg.get("similarity_fn_name"),
    }
    return _Spec(transformer_dir, weight_files, config, encoder)


def unsupported_reason(model_dir: Path) -> str | None:
    """Why :func:`export` cannot handle this sentence-transformers folder, or None if it can."""
    try:
        _inspect(Path(model_dir))
    except _Unsupported as exc:
        return str(exc)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return f"unreadable model folder: {exc}"
    return None


def supports(model_dir: Path) -> bool:
    """True when the folder is Transformer (BERT / XLM-R, safetensors, tokenizer.json) -> mean or CLS
    Pooling -> optional Normalize, which is exactly what :class:`NumpyEncoder` computes."""
    return unsupported_reason(model_dir) is None


# ----------------------------------------------------------------------------------------- export

_SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "BF16": np.uint16}


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Memory-mapped arrays of a .safetensors file (floats only; bf16 widened to float32)."""
    with open(path, "rb") as f:
        header_len = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(header_len))
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    base = 8 + header_len
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _SAFETENSORS_DTYPES.get(info["dtype"])
        if dtype is None:
            continue  # integer buffers (e.g. position_ids) are not weights we need
        start, end = info["data_offsets"]
        arr = raw[base + start : base + end].view(np.dtype(dtype).newbyteorder("<")).reshape(info["shape"])
        if info["dtype"] == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name] = arr
    return out


def _strip_prefix(name: str) -> str:
    for prefix in _WEIGHT_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _legacy_layernorm_name(name: str) -> str:
    return name.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")


def _save(out_dir: Path, stem: str, arr: np.ndarray, dtype: type = np.float32) -> None:
    np.save(out_dir / f"{stem}.npy", np.ascontiguousarray(arr, dtype=dtype))


def export(model_dir: Path, out_dir: Path) -> None:
    """Convert a supported sentence-transformers folder into a :class:`NumpyEncoder` folder.

    Writes one float32 ``.npy`` per weight (linear weights transposed to [in, out]; the word
    embedding table keeps float16 if it is stored so), ``encoder.json``, ``tokenizer.json`` and,
    for a Unigram tokenizer, its lazy form (checked to tokenize exactly like tokenizer.json).
    The folder is built beside ``out_dir`` and renamed into place, so a reader never sees a half
    export. Raises ValueError if the model is not supported.
    """
    import shutil
    import tempfile

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    try:
        spec = _inspect(model_dir)
    except _Unsupported as exc:
        raise ValueError(f"cannot export {model_dir} to numpy: {exc}") from exc

    tensors: dict[str, np.ndarray] = {}
    for path in spec.weight_files:
        for name, arr in _read_safetensors(path).items():
            tensors[_legacy_layernorm_name(_strip_prefix(name))] = arr

    def get(name: str) -> np.ndarray:
        try:
            return tensors[name]
        except KeyError:
            raise ValueError(f"cannot export {model_dir}: weight {name!r} missing") from None

    enc = spec.encoder
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    umask = os.umask(0o022)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; an export is an ordinary cache folder
    try:
        for stem, name in _EMBEDDING_TENSORS.items():
            arr = get(name)
            keep = np.float16 if stem == "emb_word" and arr.dtype == np.float16 else np.float32
            _save(tmp, stem, arr, keep)
        for i in range(enc["num_layers"]):
            for stem, (name, linear) in _LAYER_TENSORS.items():
                arr = get(f"encoder.layer.{i}.{name}")
                _save(tmp, f"layer{i}.{stem}", arr.T if linear else arr)
        shutil.copyfile(spec.transformer_dir / TOKENIZER_JSON, tmp / TOKENIZER_JSON)
        meta = dict(enc)
        meta["lazy_unigram"] = _write_lazy_unigram(tmp / TOKENIZER_JSON, tmp, meta)
        weights_stat = [p.stat() for p in spec.weight_files]
        meta["source"] = {
            "model_dir": str(model_dir.resolve()),
            "weights_bytes": sum(s.st_size for s in weights_stat),
            "weights_mtime": max(s.st_mtime for s in weights_stat),
        }
        with open(tmp / ENCODER_JSON, "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2, ensure_ascii=False)
            f.write("\n")
        replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _is_current(meta: Any) -> bool:
    """True if ``meta`` (an encoder.json) is of this export format and version."""
    return isinstance(meta, dict) and meta.get("format") == EXPORT_FORMAT and meta.get("version") == EXPORT_VERSION


def is_export(export_dir: Path) -> bool:
    """True if ``export_dir`` holds a finished export of this format version."""
    try:
        return _is_current(_read_json(Path(export_dir) / ENCODER_JSON))
    except (OSError, ValueError):
        return False


_NPY_HEADER = re.compile(
    r"\{'descr': '(?P<descr>[<>|][a-zA-Z]\d+)', 'fortran_order': False, 'shape': \((?P<shape>[\d, ]*)\), \}\s*$"
)


def _load_npy(path: Path) -> np.ndarray:
    """``np.load(path, mmap_mode="r")``, minus its ~0.2 ms of overhead per file (we open ~200)."""
    with open(path, "rb") as f:
        head = f.read(512)
        match = None
        if head[:6] == b"\x93NUMPY" and head[6] in (1, 2, 3):
            size = 2 if head[6] == 1 else 4
            start = 8 + size
            end = start + int.from_bytes(head[8:start], "little")
            match = _NPY_HEADER.match(head[start:end].decode("latin1")) if end <= len(head) else None
        if match is not None:
            shape = tuple(int(d) for d in match["shape"].replace(" ", "").split(",") if d)
            dtype = np.dtype(match["descr"])
            count = math.prod(shape)
            if count and dtype.itemsize:
                buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                return np.frombuffer(buf, dtype=dtype, count=count, offset=end).reshape(shape)
    return np.load(path, mmap_mode="r")


# ---------------------------------------------------------------------------------------- forward

# erf(x) ~ x * P(x^2) / Q(x^2) on [-4, 4] (the float32 rational approximation used by Eigen / XLA);
# |error| < 5e-7, i.e. float32 rounding noise.
_ERF_P = tuple(
    np.float32(c)
    for c in (
        -2.72614225801306e-10,
        2.77068142495902e-08,
        -2.10102402082508e-06,
        -5.69250639462346e-05,
        -7.34990630326855e-04,
        -2.95459980854025e-03,
        -1.60960333262415e-02,
    )
)
_ERF_Q = tuple(
    np.float32(c)
    for c in (
        -1.45660718464996e-05,
        -2.13374055278905e-04,
        -1.68282697438203e-03,
        -7.37332916720468e-03,
        -1.42647390514189e-02,
    )
)
_F32 = np.float32


def _gelu_erf(x: np.ndarray) -> np.ndarray:
    """In place: x * 0.5 * (1 + erf(x / sqrt(2)))."""
    z = x * _F32(1.0 / math.sqrt(2.0))
    np.clip(z, -4.0, 4.0, out=z)
    z2 = z * z
    p = np.full_like(z2, _ERF_P[0])
    for c in _ERF_P[1:]:
        p *= z2
        p += c
    q = np.full_like(z2, _ERF_Q[0])
    for c in _ERF_Q[1:]:
        q *= z2
        q += c
    p *= z
    p /= q  # erf(z)
    p += _F32(1.0)
    p *= _F32(0.5)
    x *= p
    return x


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    """In place: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))."""
    t = x * x
    t *= _F32(0.044715)
    t += _F32(1.0)
    t *= x
    t *= _F32(math.sqrt(2.0 / math.pi))
    np.tanh(t, out=t)
    t += _F32(1.0)
    t *= _F32(0.5)
    x *= t
    return x


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    x -= x.mean(axis=-1, keepdims=True)
    var = np.mean(np.square(x), axis=-1, keepdims=True)
    var += _F32(eps)
    x /= np.sqrt(var)
    x *= w
    x += b
    return x


@dataclass(frozen=True)
class _Layer:
    q_w: np.ndarray
    q_b: np.ndarray
    k_w: np.ndarray
    k_b: np.ndarray
    v_w: np.ndarray
    v_b: np.ndarray
    ao_w: np.ndarray
    ao_b: np.ndarray
    ln1_w: np.ndarray
    ln1_b: np.ndarray
    i_w: np.ndarray
    i_b: np.ndarray
    o_w: np.ndarray
    o_b: np.ndarray
    ln2_w: np.ndarray
    ln2_b: np.ndarray


class NumpyEncoder:
    """Sentence embeddings from an :func:`export` folder, computed with numpy."""

    def __init__(self, export_dir: Path, meta: dict[str, Any], tokenize: Any, weights: dict[str, np.ndarray]):
        self.export_dir = export_dir
        self.meta = meta
        self.max_seq_length: int = int(meta["max_seq_length"])
        self.prompts: dict[str, str] = dict(meta.get("prompts") or {})
        self.normalize: bool = bool(meta["normalize"])
        self.pooling: str = meta["pooling"]
        self._tokenize = tokenize
        self._hidden = int(meta["hidden_size"])
        self._heads = int(meta["num_heads"])
        self._eps = float(meta["layer_norm_eps"])
        self._offset = int(meta["position_offset"])
        self._act = _gelu_erf if meta["hidden_act"] == "gelu" else _gelu_tanh
        self._word = weights["emb_word"]
        self._pos = weights["emb_pos"]
        self._type0 = np.asarray(weights["emb_type"][0])
        self._emb_ln = (weights["emb_ln_w"], weights["emb_ln_b"])
        self._layers = [
            _Layer(**{stem: weights[f"layer{i}.{stem}"] for stem in _LAYER_TENSORS}) for i in range(int(meta["num_layers"]))
        ]
        self._full_tokenizer: Any = None

    @property
    def dim(self) -> int:
        """Length of the vectors :meth:`encode` returns."""
        return self._hidden

    @property
    def tokenizer(self) -> Any:
        """The model's ``tokenizers.Tokenizer`` (truncating, padding); loaded on first use.

        :meth:`encode` does not need it when the export has the lazy Unigram form, which loads in
        milliseconds instead of the ~0.6 s of XLM-R's full tokenizer.
        """
        if self._full_tokenizer is None:
            self._full_tokenizer = _load_tokenizer(self.export_dir / TOKENIZER_JSON, self.meta)
        return self._full_tokenizer

    @classmethod
    def load(cls, export_dir: Path, *, lazy_tokenizer: bool = True) -> NumpyEncoder:
        """Open an :func:`export` folder: memory-maps the weights and loads the tokenizer.

        ``lazy_tokenizer=False`` tokenizes with the full tokenizer.json even when the export has
        the (identical, faster to load) lazy Unigram form.
        """
        export_dir = Path(export_dir)
        meta = _read_json(export_dir / ENCODER_JSON)
        if not _is_current(meta):
            raise ValueError(f"{export_dir} is not a {EXPORT_FORMAT} v{EXPORT_VERSION} folder; export it again")
        stems = list(_EMBEDDING_TENSORS) + [f"layer{i}.{stem}" for i in range(int(meta["num_layers"])) for stem in _LAYER_TENSORS]
        weights = {stem: _load_npy(export_dir / f"{stem}.npy") for stem in stems}
        lazy = meta.get("lazy_unigram")
        if lazy and lazy_tokenizer:
            shell = _load_tokenizer(export_dir / SHELL_JSON, meta)
            return cls(export_dir, meta, _LazyUnigramTokenizer(shell, export_dir, lazy), weights)
        full = _load_tokenizer(export_dir / TOKENIZER_JSON, meta)
        encoder = cls(export_dir, meta, _FullTokenizer(full), weights)
        encoder._full_tokenizer = full
        return encoder

    def tokenize(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and attention mask (int64 and bool, [len(texts), longest]), truncated and right-padded."""
        return self._tokenize(list(texts))

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Embed ``texts`` (prompts such as "query: " already prepended): float32 [len(texts), dim]."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of strings, not a single string")
        texts = list(texts)
        out = np.empty((len(texts), self._hidden), dtype=np.float32)
        if not texts:
            return out
        # Like sentence-transformers: batch texts of similar length to keep padding small.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        step = max(1, batch_size)
        for start in range(0, len(texts), step):
            idx = order[start : start + step]
            ids, mask = self._tokenize([texts[i] for i in idx])
            out[idx] = self._forward(ids, None if mask.all() else mask)
        return out

    def _forward(self, ids: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        """Pooled (and normalised) embeddings of a right-padded batch of token ids [B, T]."""
        bsz, seq = ids.shape
        hidden, heads = self._hidden, self._heads
        head_dim = hidden // heads
        n = bsz * seq

        x = self._word[ids.reshape(-1)].astype(np.float32)  # [n, hidden]; reads only these rows
        x += self._type0
        x = x.reshape(bsz, seq, hidden)
        x += self._pos[self._offset : self._offset + seq]
        x = _layer_norm(x.reshape(n, hidden), *self._emb_ln, self._eps)

        bias = None
        if mask is not None:
            bias = np.where(mask, _F32(0.0), _F32(-1e30)).astype(np.float32)[:, None, None, :]
        scale = _F32(1.0 / math.sqrt(head_dim))

        def split_heads(t: np.ndarray) -> np.ndarray:  # [n, hidden] -> [B, H, T, D]
            return t.reshape(bsz, seq, heads, head_dim).transpose(0, 2, 1, 3)

        for layer in self._layers:
            q = x @ layer.q_w
            q += layer.q_b
            q *= scale
            k = x @ layer.k_w
            k += layer.k_b
            v = x @ layer.v_w
            v += layer.v_b
            scores = split_heads(q) @ split_heads(k).transpose(0, 1, 3, 2)  # [B, H, T, T]
            if bias is not None:
                scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            ctx = (scores @ split_heads(v)).transpose(0, 2, 1, 3).reshape(n, hidden)
            a = ctx @ layer.ao_w
            a += layer.ao_b
            a += x
            x = _layer_norm(a, layer.ln1_w, layer.ln1_b, self._eps)
            h = x @ layer.i_w
            h += layer.i_b
            h = self._act(h)
            o = h @ layer.o_w
            o += layer.o_b
            o += x
            x = _layer_norm(o, layer.ln2_w, layer.ln2_b, self._eps)

        x = x.reshape(bsz, seq, hidden)
        if self.pooling == "cls":
            pooled = x[:, 0, :].copy()
        elif mask is None:
            pooled = x.mean(axis=1, dtype=np.float32)
        else:
            m = mask.astype(np.float32)
            pooled = np.einsum("bth,bt->bh", x, m)
            pooled /= np.maximum(m.sum(axis=1, keepdims=True), _F32(1e-9))
        if self.normalize:
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), _F32(1e-12))
        return pooled


# ------------------------------------------------------------------------------------ tokenizers

SHELL_JSON = "tokenizer_shell.json"
_PIECES_NPY = "unigram_pieces.npy"  # the vocabulary pieces, sorted, fixed-width unicode
_PIECE_IDS_NPY = "unigram_piece_ids.npy"  # vocabulary id of each sorted piece
_SCORES_NPY = "unigram_scores.npy"  # score of each vocabulary id

# Texts the lazy Unigram tokenizer is checked against the real one on, at export time.
_SELF_CHECK_TEXTS = [
    "query: Hva sa Lavrov om angrepet i Syria?",
    "passage: Møtet fant sted på sidelinjen av G7-møtet i Lucca. ÆØÅ æøå",
    "What did Lavrov say about the attack in Syria?",
    "",
    "   ",
    "  to  mellomrom\tog\nlinjeskift  ",
    "emoji 😀😀 ☃ 🇳🇴 ﬁnn Ⅻ ｆｕｌｌｗｉｄｔｈ",
    "日本語のテキスト、中文文本, العربية, русский текст, ελληνικά",
    "a<s>b </s> <mask> <pad> <unk>x",
    "https://example.com/a_very_long_url_without_any_spaces_at_all_1234567890?q=x&y=z",
    "Supercalifragilisticexpialidocious" * 20,
]


def _load_tokenizer(path: Path, meta: dict[str, Any]) -> Any:
    """The tokenizer in ``path``, set up as the model needs: truncation to max_seq_length, right
    padding, and lower-casing if the model asks for it."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    if meta.get("do_lower_case"):
        from tokenizers import normalizers

        steps = [normalizers.Lowercase()]
        if tok.normalizer is not None:
            steps.append(tok.normalizer)
        tok.normalizer = normalizers.Sequence(steps)
    tok.no_truncation()
    tok.enable_truncation(max_length=int(meta["max_seq_length"]))
    pad_token = meta.get("pad_token")
    pad_id = tok.token_to_id(pad_token) if pad_token else None
    if pad_id is None:
        pad_id = meta.get("pad_token_id")
        pad_id = int(pad_id) if isinstance(pad_id, int) else 0
        pad_token = tok.id_to_token(pad_id) or "[PAD]"
    tok.enable_padding(direction="right", pad_id=pad_id, pad_token=pad_token)
    return tok


def _encode(tok: Any, texts: list[str]) -> list[Any]:
    """``tok.encode_batch(texts)``, with a single text encoded directly."""
    return [tok.encode(texts[0])] if len(texts) == 1 else tok.encode_batch(texts)


def _to_arrays(encodings: list[Any], ids: list[list[int]] | None = None) -> tuple[np.ndarray, np.ndarray]:
    if ids is None:
        ids = [e.ids for e in encodings]
    return np.asarray(ids, dtype=np.int64), np.asarray([e.attention_mask for e in encodings], dtype=bool)


class _FullTokenizer:
    """The tokenizer.json tokenizer as it is."""

    def __init__(self, tok: Any):
        self.tok = tok

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        return _to_arrays(_encode(self.tok, texts))


class _LazyUnigramTokenizer:
    """Exactly the tokenizer.json Unigram tokenizer, without building its whole vocabulary.

    ``tokenizers`` needs ~0.6 s to build XLM-R's 250k-piece Unigram model. But the segmentation of
    a word only involves vocabulary pieces that are substrings of it. So each call finds those pieces
    (binary search in a sorted, memory-mapped piece array), puts a Unigram model of just them into
    a tokenizer that is otherwise the original (normalizer, pre-tokenizer, special tokens,
    post-processor, truncation, padding), and maps the resulting token strings back to vocabulary
    ids. The lowest-scoring piece is always included, since the unknown-token penalty derives from
    it. ``export`` checks the result against the real tokenizer before enabling this.
    """

    def __init__(self, shell: Any, export_dir: Path, info: dict[str, Any]):
        import threading

        self._lock = threading.Lock()
        self.tok = shell
        self._pieces = _load_npy(export_dir / _PIECES_NPY)
        self._piece_ids = _load_npy(export_dir / _PIECE_IDS_NPY)
        self._scores = _load_npy(export_dir / _SCORES_NPY)
        self._max_chars = int(info["max_piece_chars"])
        self._unk_id = int(info["unk_id"])
        self._always = {int(k): v for k, v in info["always_pieces"].items()}  # id -> piece
        self._fixed = {str(k): int(v) for k, v in info["token_ids"].items()}  # special token -> id
        pad = shell.padding
        if pad and pad.get("pad_token") is not None and pad["pad_token"] not in self._fixed:
            self._fixed[pad["pad_token"]] = int(pad["pad_id"])
        contents = sorted({t.content for t in shell.get_added_tokens_decoder().values()}, key=len, reverse=True)
        self._split = re.compile("|".join(re.escape(c) for c in contents)) if contents else None

    def _segments(self, text: str) -> set[str]:
        """``text``, and its parts between added tokens with and without their surrounding spaces."""
        segments = {text}
        if self._split is not None:
            for part in self._split.split(text):
                segments.update((part, part.strip(), part.lstrip(), part.rstrip()))
        return segments

    def _words(self, text: str) -> set[str]:
        """A superset of the pre-tokenized words the tokenizer's model sees for ``text``."""
        normalizer, pre = self.tok.normalizer, self.tok.pre_tokenizer
        normalized: set[str] = set()
        for seg in self._segments(text):
            # split again: added tokens may match only the normalized text
            normalized |= self._segments(normalizer.normalize_str(seg) if normalizer is not None else seg)
        if pre is None:
            return normalized
        return {w for norm in normalized for w, _ in pre.pre_tokenize_str(norm)}

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:  # the model is swapped per call
            return self._tokenize(texts)

    def _tokenize(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        from tokenizers.models import Unigram

        longest = self._max_chars
        subs: set[str] = set()
        for text in texts:
            for w in self._words(text):
                n = len(w)
                for i in range(n):
                    subs.update(w[i:j] for j in range(i + 1, min(n, i + longest) + 1))
        found: dict[str, int] = {}
        if subs:
            query = np.array(sorted(subs))
            pos = np.searchsorted(self._pieces, query)
            pos[pos >= len(self._pieces)] = 0
            hit = self._pieces[pos] == query
            found = dict(zip(query[hit].tolist(), self._piece_ids[pos[hit]].tolist(), strict=True))
        by_id = {**self._always, **{i: p for p, i in found.items()}}
        order = sorted(by_id)
        vocab = [(by_id[i], float(self._scores[i])) for i in order]
        self.tok.model = Unigram(vocab, order.index(self._unk_id), False)
        encs = _encode(self.tok, texts)
        fixed, unk = self._fixed, self._unk_id
        ids = [[fixed[t] if t in fixed else found.get(t, unk) for t in e.tokens] for e in encs]
        return _to_arrays(encs, ids)


def _special_token_ids(spec: dict[str, Any]) -> dict[str, int] | None:
    """content -> id of the added tokens and the post-processor's special tokens; None if unknown."""
    ids = {t["content"]: int(t["id"]) for t in spec.get("added_tokens") or []}
    post = spec.get("post_processor")
    stack = [post] if post else []
    while stack:
        p = stack.pop()
        kind = p.get("type")
        if kind == "Sequence":
            stack.extend(p.get("processors") or [])
        elif kind == "TemplateProcessing":
            for tok in (p.get("special_tokens") or {}).values():
                for content, i in zip(tok["tokens"], tok["ids"], strict=True):
                    ids[content] = int(i)
        elif kind in ("RobertaProcessing", "BertProcessing"):
            for content, i in (p["sep"], p["cls"]):
                ids[content] = int(i)
        elif kind != "ByteLevel":
            return None
    return ids


def _write_lazy_unigram(tokenizer_json: Path, out_dir: Path, meta: dict[str, Any]) -> dict[str, Any] | None:
    """Write the lazy Unigram files, if the tokenizer is a Unigram one and the lazy form is exact."""
    spec = _read_json(tokenizer_json)
    model = spec.get("model") or {}
    if model.get("type") != "Unigram" or model.get("byte_fallback") or model.get("unk_id") is None:
        return None
    vocab = model.get("vocab") or []
    pieces = [p for p, _ in vocab]
    unk_id = int(model["unk_id"])
    token_ids = _special_token_ids(spec)
    if token_ids is None or not pieces or any(not p or "\x00" in p for p in pieces) or len(set(pieces)) < len(pieces):
        return None
    scores = np.array([s for _, s in vocab], dtype=np.float64)
    piece_array = np.array(pieces)
    order = np.argsort(piece_array, kind="stable")
    sorted_pieces = piece_array[order]
    min_id = int(np.argmin(scores))
    info = {
        "max_piece_chars": max(map(len, pieces)),
        "unk_id": unk_id,
        "always_pieces": {str(unk_id): pieces[unk_id], str(min_id): pieces[min_id]},
        "token_ids": token_ids,
    }
    shell = dict(spec)
    shell["model"] = {**model, "unk_id": 0, "vocab": [[pieces[unk_id], float(scores[unk_id])]]}
    with open(out_dir / SHELL_JSON, "w", encoding="utf-8") as f:
        json.dump(shell, f, ensure_ascii=False)
    np.save(out_dir / _PIECES_NPY, sorted_pieces)
    np.save(out_dir / _PIECE_IDS_NPY, order.astype(np.int32))
    np.save(out_dir / _SCORES_NPY, scores)

    full = _FullTokenizer(_load_tokenizer(tokenizer_json, meta))
    lazy = _LazyUnigramTokenizer(_load_tokenizer(out_dir / SHELL_JSON, meta), out_dir, info)
    checks = [[t] for t in _SELF_CHECK_TEXTS] + [_SELF_CHECK_TEXTS]
    if all(np.array_equal(a, b) for batch in checks for a, b in zip(full(batch), lazy(batch), strict=True)):
        return info
    for name in (SHELL_JSON, _PIECES_NPY, _PIECE_IDS_NPY, _SCORES_NPY):
        (out_dir / name).unlink()
    return None
