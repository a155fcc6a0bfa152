"""Export a sentence-transformers model to ONNX once, quantise it to int8, verify it, and cache it.

The export lives in the user cache beside the PyPI model rebuild, one folder per export version and model
fingerprint:

- ``word_embeddings.npy``: the token embedding table (float16 when that is exact, else float32),
  memory-mapped at run time, so only the rows a text uses are read (the table is 80% of e5's weights);
- ``encoder.onnx``: the rest of the model, ``(inputs_embeds, attention_mask) -> sentence_embedding``
  (position and type embeddings, encoder, pooling, normalisation), float32, as torch computes it;
- ``encoder-int8.onnx``: the same with every weighted MatMul in int8, by ONNX Runtime's dynamic quantiser
  (:func:`quantise`), made only when the CPU has AVX2 or better (see :func:`cpu_isa`);
- ``tokenizer.json`` and its lazy form (:mod:`semsearch.embedding.tokenizer`);
- ``export.json``: the marker, written last, with file sizes and the verification cosines.

The folder is written beside its final place and renamed into it (``folders.replace_dir``), under a
file lock, after a verification against torch on probe texts; a folder whose marker or file sizes are
off is rebuilt. Exporting imports torch; loading an export does not.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from semsearch.embedding import devices, tokenizer
from semsearch.embedding.folders import replace_dir
from semsearch.embedding.pypi_model import cache_root

FORMAT = "semsearch-onnx"
VERSION = 5  # 2: graphs stored optimised; 3: FFN down-projections kept fp32; 4: int8 with SmoothQuant; 5: int8 by ONNX Runtime
MARKER = "export.json"
WORDS = "word_embeddings.npy"
FILES = {"fp32": "encoder.onnx", "int8": "encoder-int8.onnx"}
OPSET = 17
PROBES = [
    "query: Hva sa Lavrov om angrepet i Syria?",
    "query: What did Lavrov say about the attack in Syria?",
    "passage: Lavrov uttalte under pressekonferansen at samtalene med Tillerson var åpne og viktige.",
    "passage: Pisk egg og sukker luftig, sikt inn mel og bakepulver, og stek kaken i 40 minutter ved 180 grader.",
    "passage: Stortinget vedtok budsjettet etter lange forhandlinger. ÆØÅ æøå 😀 https://example.com/x?y=z",
]
MIN_COSINE = {"fp32": 0.9999, "int8": 0.98}


class ExportError(Exception):
    """The model could not be exported to ONNX (the caller falls back to torch)."""


def cpu_isa() -> str:
    """The best int8 instruction set of this CPU: "avx512_vnni", "avx2" or "none" (from /proc/cpuinfo)."""
    flags = devices.cpu_flags()
    if "avx512_vnni" in flags or "avx_vnni" in flags:
        return "avx512_vnni"
    return "avx2" if "avx2" in flags else "none"


def quantisation_for(isa: str) -> str:
    """int8 where the CPU has AVX2 or better (VNNI: 8-bit weights; AVX2 alone: 7-bit, see `quantise`), else fp32."""
    return "fp32" if isa == "none" else "int8"


def export_dir(fingerprint: str) -> Path:
    """Where the ONNX export of the model with this fingerprint lives: one folder per export version, so that
    installs of two versions never rebuild each other's export."""
    return cache_root() / "onnx" / f"v{VERSION}" / fingerprint


def read_marker(folder: Path) -> dict | None:
    """The export's marker when the export is complete and undamaged (every file has its recorded size), else None."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        if marker.get("format") != FORMAT or marker.get("version") != VERSION:
            return None
        if all((folder / name).stat().st_size == int(size) for name, size in marker["files"].items()):
            return marker
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        pass
    return None


def ensure_exported(
    model_dir: Path, fingerprint: str, *, rebuild: bool = False, log: Callable[[str], None] | None = None
) -> Path:
    """The verified export folder of `model_dir`, exporting it first when missing, damaged, or `rebuild`.

    Raises ExportError when the model cannot be exported or the export fails verification.
    """
    target = export_dir(fingerprint)
    if not rebuild and read_marker(target) is not None:
        return target
    from filelock import FileLock  # imported past the fast path: ~13 ms of a cold query

    say = log or (lambda _msg: None)
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock", timeout=1800):
        if not rebuild and read_marker(target) is not None:  # another process finished while we waited
            return target
        if target.exists():
            say(f"semsearch: the ONNX export in {target} is damaged or outdated: rebuilding it")
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            t0 = time.perf_counter()
            isa = cpu_isa()
            say(f"semsearch: exporting {model_dir} to ONNX ({quantisation_for(isa)}, CPU {isa}) ...")
            staging = tmp / "export"
            staging.mkdir()
            info = write_export(Path(model_dir), staging, isa)
            sizes = {p.name: p.stat().st_size for p in sorted(staging.iterdir()) if p.is_file()}
            marker = {"format": FORMAT, "version": VERSION, "model_dir": str(model_dir), **info, "files": sizes}
            (staging / MARKER).write_text(json.dumps(marker, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            replace_dir(staging, target)
            say(f"semsearch: ONNX export ready in {time.perf_counter() - t0:.0f} s (cosines to torch {info['verify']})")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    remove_older_exports(say)
    return target


def remove_older_exports(log: Callable[[str], None]) -> None:
    """Delete the exports of earlier export versions (`v1` ... `v{VERSION - 1}`): an upgrade never reads them,
    and each holds a few hundred MB. Runs after a new export only, so an older install beside this one
    exports its own again at most once."""
    for folder in sorted((cache_root() / "onnx").glob("v*")):
        version = folder.name[1:]
        if folder.is_dir() and version.isdigit() and int(version) < VERSION:
            size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
            shutil.rmtree(folder, ignore_errors=True)
            log(f"semsearch: removed the ONNX exports of an earlier semsearch in {folder} ({size / 1e6:.0f} MB)")


def write_export(model_dir: Path, out: Path, isa: str) -> dict:
    """Write the export files of `model_dir` into `out` and verify them; the marker's fields."""
    try:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(model_dir), device="cpu").eval()
        meta = _tokenizer_meta(model, model_dir)
        _write_words(model, out / WORDS)
        _write_onnx(model, out / FILES["fp32"])
        lazy = tokenizer.write(model_dir / tokenizer.TOKENIZER_JSON, out, meta)
    except ExportError:
        raise
    except Exception as e:  # torch's exporter raises many kinds; each means "no ONNX for this model"
        raise ExportError(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from e
    quantisation = quantisation_for(isa)
    info = {"isa": isa, "quantisation": quantisation, "tokenizer": meta, "lazy_tokenizer": lazy}
    if quantisation == "int8":
        info["int8"] = quantise(out / FILES["fp32"], out / FILES["int8"], isa)
    for name in {FILES["fp32"], FILES[quantisation]}:
        optimise(out / name)
    dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    info["dim"] = int(dim() or 0)
    info["verify"] = verify(model, out, info)
    return info


def _tokenizer_meta(model, model_dir: Path) -> dict:
    if not (model_dir / tokenizer.TOKENIZER_JSON).is_file():
        raise ExportError(f"no tokenizer.json in {model_dir}")
    tok = model.tokenizer
    first = model[0]
    return {
        "max_seq_length": int(model.max_seq_length),
        "pad_token": tok.pad_token,
        "pad_token_id": tok.pad_token_id,
        "do_lower_case": bool(getattr(first, "do_lower_case", False)),
    }


def _write_words(model, path: Path) -> None:
    words = model[0].auto_model.get_input_embeddings().weight.detach().float().numpy()
    half = words.astype(np.float16)
    np.save(path, half if np.array_equal(half.astype(np.float32), words) else words)


def _write_onnx(model, path: Path) -> None:
    """torch.onnx.export of the model minus its token embedding lookup (the TorchScript exporter: no onnxscript)."""
    import torch

    from semsearch.embedding.torch_body import Body

    body = Body(model).eval()
    dim = model[0].auto_model.get_input_embeddings().embedding_dim
    embeds = torch.randn(2, 7, dim)
    mask = torch.ones(2, 7, dtype=torch.int64)
    mask[1, 5:] = 0
    axes = {"inputs_embeds": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on shape checks that hold for every right-padded batch
        torch.onnx.export(
            body,
            (embeds, mask),
            str(path),
            input_names=["inputs_embeds", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    _drop_nan_guards(path)


def _drop_nan_guards(path: Path) -> int:
    """Remove ``Where(IsNaN(p), 0, p)`` after each attention softmax; the number removed.

    torch's attention zeroes the probabilities of a query row whose keys are all masked (-inf: NaN after
    softmax). The mask covers keys only and every text has real tokens, so no row is ever all masked and
    the guard never fires (checked on padded NorQuAD batches); it cost 14% of the int8 encoder's time.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    nodes = list(model.graph.node)
    producer = {o: n for n in nodes for o in n.output}
    zeros = {n.output[0] for n in nodes if n.op_type == "Constant" and not numpy_helper.to_array(n.attribute[0].t).any()}
    zeros |= {t.name for t in model.graph.initializer if not numpy_helper.to_array(t).any()}
    rename, dropped = {}, set()
    for n in nodes:
        if n.op_type != "Where" or n.input[0] not in producer or n.input[1] not in zeros:
            continue
        test = producer[n.input[0]]
        if test.op_type == "IsNaN" and test.input[0] == n.input[2] and producer.get(n.input[2], test).op_type == "Softmax":
            rename[n.output[0]] = n.input[2]
            dropped |= {id(n), id(test)}
    if not rename or any(o.name in rename for o in model.graph.output):
        return 0
    kept = [n for n in nodes if id(n) not in dropped]
    for n in kept:
        n.input[:] = [rename.get(i, i) for i in n.input]
    del model.graph.node[:]
    model.graph.node.extend(kept)
    onnx.save(model, str(path))
    return len(rename)


def quantise(src: Path, dst: Path, isa: str) -> dict:
    """The int8 graph of `src` (fp32, as exported: not yet optimised) by ONNX Runtime's dynamic quantiser: every
    weighted MatMul in int8, weights per output channel, activations per tensor at run time (uint8).

    Without VNNI the weights get 7 bits (`reduce_range`): AVX2's u8 x s8 multiply-add (VPMADDUBSW) sums pairs into
    16 bits and saturates on full-range 8-bit weights. Returns what the marker records.
    """
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    reduce_range = isa != "avx512_vnni"
    quiet = _Without("Please consider to run pre-processing")  # the graph is optimised after quantising (`optimise`)
    logging.getLogger().addFilter(quiet)
    try:
        quantize_dynamic(
            src, dst, op_types_to_quantize=["MatMul"], per_channel=True, reduce_range=reduce_range,
            weight_type=QuantType.QInt8,
        )  # fmt: skip
    finally:
        logging.getLogger().removeFilter(quiet)
    return {"quantiser": "onnxruntime.quantize_dynamic", "per_channel": True, "weight_bits": 7 if reduce_range else 8}


class _Without:
    """A logging filter dropping the records whose message starts with `prefix`."""

    def __init__(self, prefix: str):
        self.prefix = prefix

    def filter(self, record) -> bool:
        return not str(record.msg).startswith(self.prefix)


def optimise(path: Path) -> None:
    """Replace an ONNX file by ONNX Runtime's optimised graph of it (fused attention, layer norms, GELU).

    Done once here so that opening a session skips it: ~0.4 s less on every cold query. The extended
    level holds no hardware-specific layouts, so the file stays valid on another CPU.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(path.with_suffix(".opt.onnx"))
    options.log_severity_level = 3
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    path.with_suffix(".opt.onnx").replace(path)


def verify(model, out: Path, info: dict) -> dict[str, float]:
    """Minimum cosine, over the probe texts, of each ONNX file's vectors to torch's; raise ExportError when too low.

    Also checks that the exported tokenizer gives the token ids sentence-transformers gives.
    """
    from semsearch.embedding.encoders import Setup
    from semsearch.embedding.encoders.onnx import OnnxEncoder, OnnxInt8Encoder

    reference = model.encode(PROBES, convert_to_numpy=True, normalize_embeddings=True)
    expected_ids = model.tokenize(PROBES)["input_ids"].numpy()
    cosines = {}
    for quantisation in ("fp32", info["quantisation"]):
        cls = OnnxInt8Encoder if quantisation == "int8" else OnnxEncoder
        encoder = cls(Setup(out, out, info, threads=1))
        ids, _ = encoder.tokenize(PROBES)
        if ids.shape != expected_ids.shape or not np.array_equal(ids, expected_ids):
            raise ExportError("the exported tokenizer does not tokenize like sentence-transformers")
        cosines[quantisation] = round(float(np.min(np.sum(encoder.encode(PROBES) * reference, axis=1))), 6)
        if cosines[quantisation] < MIN_COSINE[quantisation]:
            raise ExportError(f"the {quantisation} export gives vectors at cosine {cosines[quantisation]} to torch's")
    return cosines
